"""Production request and campaign pages and their read API: state, stages, progress, reports,
data quality, failed jobs, charts; the request list filtered and paged; live figures as JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import Field

from prodops.constants import RequestState
from prodops.forms import FormModel
from prodops.request.views import PER_PAGE, campaign_detail, filter_choices, list_requests, request_detail
from prodops.web.charts import failures_chart, outcomes_chart

LIVE_INTERVAL_S = 10
"""How often a live page asks for new figures while its request may still change."""

REQUEST_PARTS = {"summary": "request_summary.html", "stages": "request_stages.html", "charts": "charts.html",
                 "quality": "request_quality.html", "jobs": "request_jobs.html"}
CAMPAIGN_PARTS = {"summary": "campaign_summary.html", "requests": "campaign_requests.html", "charts": "charts.html"}

class RequestFilters(FormModel):
    """The request list's filters (each optional) and its page."""

    experiment: str | None = Field(None, max_length=64, description="Only this experiment's requests.")
    campaign: str | None = Field(None, max_length=128, description="Only this campaign's requests.")
    state: RequestState | None = Field(None, description="Only requests in this state.")
    created_from: date | None = Field(None, description="Created on or after this day (UTC).")
    created_to: date | None = Field(None, description="Created on or before this day (UTC).")
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(PER_PAGE, ge=1, le=200)

    def query(self) -> dict[str, Any]:
        """The filters that are set."""
        shown = self.model_dump(exclude={"page", "per_page"}, exclude_none=True)
        if "state" in shown:
            shown["state"] = shown["state"].value
        return shown


def root_of(request: Request) -> str:
    """The app's own prefix (``/prodops/`` inside Airflow): links work from any page depth."""
    return request.scope.get("root_path", "").rstrip("/") + "/"


def chart_images(detail: dict[str, Any]) -> dict[str, Any]:
    return {"outcomes": outcomes_chart(detail["outcomes_over_time"]), "failures": failures_chart(detail["failures"])}


def live_payload(live: bool, parts: dict[str, str], figures: dict[str, Any], /, **context: Any) -> dict[str, Any]:
    """What a live page polls: whether to go on, when, its figures, and each of its parts rendered again."""
    from prodops.web.render import render_parts

    now = datetime.now(timezone.utc)
    return {"live": live, "updated_at": now.isoformat(), "updated_at_text": now.strftime("%H:%M:%S UTC"),
            "figures": figures, "parts": render_parts(parts, **context)}


def requests_router(pool: Any, viewer: Callable[..., Any]) -> APIRouter:
    """Routes for people with Airflow's view permission (``viewer``); ``pool`` lends connections."""
    router = APIRouter(dependencies=[Depends(viewer)])

    def _detail(request_id: int) -> dict[str, Any]:
        with pool.connection() as conn:
            detail = request_detail(conn, request_id)
        if detail is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no production request {request_id}")
        return detail

    def _campaign(experiment: str, campaign: str) -> dict[str, Any]:
        with pool.connection() as conn:
            detail = campaign_detail(conn, experiment, campaign)
        if detail is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no request of campaign {campaign!r} of {experiment!r}")
        return detail

    def _page(filters: RequestFilters) -> Any:
        with pool.connection() as conn:
            return list_requests(conn, **filters.query(), page=filters.page, per_page=filters.per_page), \
                filter_choices(conn)

    @router.get("/api/v1/requests", summary="Production requests, newest first: filtered and paged")
    def get_requests(filters: Annotated[RequestFilters, Query()]) -> dict[str, Any]:
        return _page(filters)[0].to_dict()

    def _reruns(request_id: int) -> list[dict[str, Any]]:
        """Debug reruns beside the attempts they rerun (read on the page and in the API, not polled live)."""
        from prodops.rerun.views import debug_reruns

        with pool.connection() as conn:
            return debug_reruns(conn, request_id)

    @router.get("/api/v1/requests/{request_id}",
                summary="One request: stages, progress, reports, data quality, failed jobs, debug reruns")
    def get_request(request_id: int) -> dict[str, Any]:
        return {**_detail(request_id), "debug_reruns": _reruns(request_id)}

    @router.get("/api/v1/requests/{request_id}/live", summary="The request page's figures and parts, for its live refresh")
    def get_request_live(request: Request, request_id: int) -> dict[str, Any]:
        detail = _detail(request_id)
        return live_payload(detail["live"], REQUEST_PARTS, detail["progress"], detail=detail,
                            charts=chart_images(detail), root=root_of(request))

    @router.get("/api/v1/campaigns/{experiment}/{campaign}",
                summary="A campaign: its requests with state, stages, progress, failures, efficiency, data quality")
    def get_campaign(experiment: str, campaign: str) -> dict[str, Any]:
        return _campaign(experiment, campaign)

    @router.get("/api/v1/campaigns/{experiment}/{campaign}/live", summary="The campaign page's parts, for its live refresh")
    def get_campaign_live(request: Request, experiment: str, campaign: str) -> dict[str, Any]:
        detail = _campaign(experiment, campaign)
        return live_payload(detail["live"], CAMPAIGN_PARTS, detail["progress"], detail=detail,
                            charts=chart_images(detail), root=root_of(request))

    @router.get("/requests/", response_class=HTMLResponse, summary="The production requests page")
    def requests_page(request: Request, filters: Annotated[RequestFilters, Query()]) -> HTMLResponse:
        from prodops.web.render import render_template

        page, choices = _page(filters)
        shown = filters.query()

        def query(**change: Any) -> str:
            return urlencode({**shown, "per_page": filters.per_page, **change})

        return HTMLResponse(render_template("requests.html", page=page, choices=choices, root=root_of(request),
                                            filters={k: str(v) for k, v in shown.items()}, filtered=bool(shown),
                                            query=query))

    @router.get("/requests/{request_id}", response_class=HTMLResponse, summary="One production request's page")
    def request_page(request: Request, request_id: int) -> HTMLResponse:
        from prodops.web.render import render_template

        detail = _detail(request_id)
        return HTMLResponse(render_template("request.html", detail=detail, charts=chart_images(detail),
                                            root=root_of(request), interval=LIVE_INTERVAL_S,
                                            updated_at=datetime.now(timezone.utc), reruns=_reruns(request_id)))

    @router.get("/campaigns/{experiment}/{campaign}", response_class=HTMLResponse, summary="A campaign's page")
    def campaign_page(request: Request, experiment: str, campaign: str) -> HTMLResponse:
        from prodops.web.render import render_template

        detail = _campaign(experiment, campaign)
        return HTMLResponse(render_template("campaign.html", detail=detail, charts=chart_images(detail),
                                            root=root_of(request), interval=LIVE_INTERVAL_S,
                                            updated_at=datetime.now(timezone.utc)))

    return router
