"""The service board: its page and the JSON it is drawn from, for people with Airflow's view permission."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from prodops.status.board import board as board_data


def board_router(pool: Any, viewer: Callable[..., Any]) -> APIRouter:
    router = APIRouter(dependencies=[Depends(viewer)])

    def _board() -> dict[str, Any]:
        from prodops.workflows import load_templates

        with pool.connection() as conn:
            return board_data(conn, datetime.now(timezone.utc), {n: t.needed_services() for n, t in load_templates().items()})

    @router.get("/api/v1/board", summary="Everything the board shows")
    def get_board() -> dict[str, Any]:
        return _board()

    @router.get("/", response_class=HTMLResponse, summary="The service board page")
    def page() -> HTMLResponse:
        from prodops.web.render import render_board

        return HTMLResponse(render_board(_board()))

    return router
