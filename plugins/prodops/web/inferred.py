"""People's answers to an outage prodops inferred from failed jobs: close it, or mark it false.

Mounted by the prodops app with ``app.include_router(inferred_router(pool, person, unprocessable))``.
A person only (their Airflow login, as for manual events); recorded with who and when
(:func:`prodops.status.inferred.review`). A bad body gets 422 naming the field, nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from prodops.status.events import PayloadInvalid
from prodops.status.inference import ClearReason
from prodops.status.inferred import review
from prodops.web.api.body import optional_json_body, parse_body
from prodops.web.api.schemas import documented


class CloseBody(BaseModel):
    """Closing an inferred outage: the service works again."""

    model_config = ConfigDict(extra="forbid", strict=True)
    note: str = Field("", max_length=2000, description="Why, for the record (optional).")


class FalseBody(CloseBody):
    """Marking an inferred outage false: the service was never down."""

    min_jobs: int | None = Field(
        None, ge=1, le=1_000_000,
        description="Raise this signature's threshold: failed jobs in one window needed before it infers an"
                    " outage again (more than the outage's own count). Omit to leave it.")


def _body(model: type[CloseBody], payload: Any) -> CloseBody:
    return parse_body(model, payload if payload is not None else {})


def inferred_router(pool: Any, person: Callable[..., Any],
                    unprocessable: Callable[[PayloadInvalid], JSONResponse]) -> APIRouter:
    """Routes for people (``person``: their Airflow login); ``pool`` lends connections."""
    router = APIRouter()

    def _review(event_id: int, action: ClearReason, model: type[CloseBody], payload: Any, who: Any) -> Any:
        try:
            body = _body(model, payload)
            with pool.connection() as conn:
                answer = review(conn, event_id, action=action, by=who.name, now=datetime.now(timezone.utc),
                                note=body.note, min_jobs=getattr(body, "min_jobs", None))
                conn.commit()
        except PayloadInvalid as err:
            return unprocessable(err)
        if answer is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"no inferred outage {event_id}: give the id of the event that opened it"
                                " (the board's data-inferred attribute, or inferred.event_id in /api/v1/board)")
        return answer

    @router.post("/api/v1/inferred-outages/{event_id}/close", summary="Close an inferred outage (it works again)",
                 openapi_extra=documented(CloseBody, required=False))
    def close(event_id: int, who: Any = Depends(person), payload: Any = Depends(optional_json_body)) -> Any:
        return _review(event_id, ClearReason.CLOSED, CloseBody, payload, who)

    @router.post("/api/v1/inferred-outages/{event_id}/false",
                 summary="Mark an inferred outage false (never down), optionally raising its signature's threshold",
                 openapi_extra=documented(FalseBody, required=False))
    def mark_false(event_id: int, who: Any = Depends(person), payload: Any = Depends(optional_json_body)) -> Any:
        return _review(event_id, ClearReason.FALSE, FalseBody, payload, who)

    return router
