"""Production request pages and their read API: state, stages, reports, data quality, failed jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import HTMLResponse

from prodops.request.views import list_requests, request_detail


def requests_router(pool: Any, viewer: Callable[..., Any]) -> APIRouter:
    """Routes for people with Airflow's view permission (``viewer``); ``pool`` lends connections."""
    router = APIRouter(dependencies=[Depends(viewer)])

    def _detail(request_id: int) -> dict[str, Any]:
        with pool.connection() as conn:
            detail = request_detail(conn, request_id)
        if detail is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no production request {request_id}")
        return detail

    def _list() -> list[dict[str, Any]]:
        with pool.connection() as conn:
            return list_requests(conn).requests

    @router.get("/api/v1/requests", summary="Recent production requests")
    def get_requests() -> list[dict[str, Any]]:
        return _list()

    @router.get("/api/v1/requests/{request_id}", summary="One request: stages, reports, data quality, failed jobs")
    def get_request(request_id: int) -> dict[str, Any]:
        return _detail(request_id)

    @router.get("/requests/", response_class=HTMLResponse, summary="The production requests page")
    def requests_page() -> HTMLResponse:
        from prodops.web.render import render_template

        return HTMLResponse(render_template("requests.html", requests=_list()))

    @router.get("/requests/{request_id}", response_class=HTMLResponse, summary="One production request's page")
    def request_page(request_id: int) -> HTMLResponse:
        from prodops.web.render import render_template

        return HTMLResponse(render_template("request.html", detail=_detail(request_id)))

    return router
