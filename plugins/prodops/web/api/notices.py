"""Maintenance windows and announcements: scheduled, updated (same id), cancelled or ended.

``steward``: a feeder token, or a person with Airflow's operator rights. A feeder is held to
:mod:`prodops.web.api.access` (its services, its own windows and announcements, no author).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import JSONResponse

from prodops.status import records
from prodops.status.maintenance import parse_announcement, parse_window
from prodops.store.db import q
from prodops.web.api.access import Writer, check_announcement, check_window, may_undo
from prodops.web.api.body import json_body
from prodops.web.api.schemas import AnnouncementBody, WindowBody, documented


def _saved(item_id: int, created: bool) -> JSONResponse:
    return JSONResponse({"id": item_id, "created": created},
                        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _not_yours(who: Writer, what: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN,
                         f"{what} was not made by feeder {who.name}; a feeder token undoes only its own:"
                         " ask an operator")


def notices_router(pool: Any, steward: Callable[..., Any]) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/maintenance", summary="Schedule (or update, same id) a maintenance window",
                 openapi_extra=documented(WindowBody))
    def post_window(who: Writer = Depends(steward), payload: Any = Depends(json_body)) -> JSONResponse:
        now = datetime.now(timezone.utc)
        with pool.connection() as conn:
            known = {s["name"] for s in records.active_services(conn)}.__contains__
            window = parse_window(payload, feed=who.name, source=who.source, now=now, known=known)
            check_window(who, payload, starts_at=window.starts_at, ends_at=window.ends_at, services=window.services)
            window_id, created = records.upsert_window(conn, window)
            conn.commit()
        return _saved(window_id, created)

    @router.delete("/api/v1/maintenance/{window_id}", summary="Cancel a maintenance window")
    def cancel_window(window_id: int, who: Writer = Depends(steward)) -> dict[str, Any]:
        with pool.connection() as conn:
            if not may_undo(who, conn.execute(q("maintenance_window_owner"), {"id": window_id}).fetchone()):
                raise _not_yours(who, f"maintenance window {window_id}")
            found = records.cancel_window(conn, window_id)
            conn.commit()
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no maintenance window {window_id}")
        return {"id": window_id, "cancelled": True}

    @router.post("/api/v1/announcements", summary="Post (or update, same id) an announcement",
                 openapi_extra=documented(AnnouncementBody))
    def post_announcement(who: Writer = Depends(steward), payload: Any = Depends(json_body)) -> JSONResponse:
        check_announcement(who, payload)
        if not who.is_feeder and isinstance(payload, dict):
            payload = {**payload, "author": who.name}
        announcement = parse_announcement(payload, feed=who.name, now=datetime.now(timezone.utc))
        with pool.connection() as conn:
            ann_id, created = records.upsert_announcement(conn, announcement)
            conn.execute(q("set_announcement_source"), {"id": ann_id, "source": who.source})
            conn.commit()
        return _saved(ann_id, created)

    @router.delete("/api/v1/announcements/{announcement_id}", summary="End an announcement now")
    def end_announcement(announcement_id: int, who: Writer = Depends(steward)) -> dict[str, Any]:
        with pool.connection() as conn:
            if not may_undo(who, conn.execute(q("announcement_owner"), {"id": announcement_id}).fetchone()):
                raise _not_yours(who, f"announcement {announcement_id}")
            found = records.end_announcement(conn, announcement_id, datetime.now(timezone.utc))
            conn.commit()
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no announcement {announcement_id} that has started")
        return {"id": announcement_id, "ended": True}

    return router
