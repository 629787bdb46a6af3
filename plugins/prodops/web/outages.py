"""A service's uptime, its outage history and the events of one outage, each a small paged answer.

Mounted by the prodops app with ``app.include_router(outages_router(pool, viewer))``; every route
needs the board's read permission. The board lists each service's latest outages with their event
count and first and last event; the events themselves are read here, a page at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from prodops.status import board, records
from prodops.web.pool import ConnectionPool


def _service(conn: Any, name: str) -> None:
    if name not in {s["name"] for s in records.active_services(conn)}:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"{name!r} is not a registered service; see /api/v1/board for the names")


def outages_router(pool: ConnectionPool, viewer: Callable[..., Any]) -> APIRouter:
    router = APIRouter(dependencies=[Depends(viewer)])

    @router.get("/api/v1/services/{service}/uptime", summary="Uptime of a service over 24 h, 7 d and 30 d")
    def get_uptime(service: str) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        with pool.connection() as conn:
            _service(conn, service)
            return {"service": service, "now": now.isoformat(), "uptime": board.uptime(conn, [service], now)[service]}

    @router.get("/api/v1/services/{service}/outages", summary="Outage history of a service, newest first (paged)")
    def get_outages(service: str, before: datetime | None = Query(None, description="outages that started before"
                                                                                    " this time (the next page)"),
                    limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        with pool.connection() as conn:
            _service(conn, service)
            items = board.outage_history(conn, service, now, before=before, limit=limit)
        nxt = items[-1]["start"] if len(items) == limit else None
        return {"service": service, "outages": items, "next_before": nxt}

    @router.get("/api/v1/services/{service}/outages/{start}/events",
                summary="The events of one outage, in time order (paged)")
    def get_outage_events(service: str, start: datetime,
                          after: datetime | None = Query(None, description="time of the last event of the page before"),
                          after_id: int = Query(0, description="id of the last event of the page before"),
                          limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        with pool.connection() as conn:
            _service(conn, service)
            page = board.outage_events(conn, service, start, now, after=(after, after_id) if after else None,
                                       limit=limit)
        if page is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"{service} has no outage that started at {start.isoformat()}; take `start` from"
                                " the board or /api/v1/services/{service}/outages")
        return page

    return router
