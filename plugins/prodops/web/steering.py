"""Site steering through the prodops API: the sites avoided now, and a person lifting one.

Mounted by the prodops app with ``app.include_router(steering_router(pool, viewer, person, unprocessable))``.
Lifting is for a person only (their Airflow login), recorded with who and when
(:func:`prodops.steering.lift`). A bad body gets 422 naming the field, nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from prodops.status.events import PayloadInvalid
from prodops.steering import SteeringNotFound, lift, open_and_recent
from prodops.web.api.body import optional_json_body, parse_body
from prodops.web.api.schemas import documented


class LiftBody(BaseModel):
    """Lifting a site avoidance: the workflow may run at the site again."""

    model_config = ConfigDict(extra="forbid", strict=True)
    note: str = Field("", max_length=2000, description="Why, for the record (optional).")


def steering_router(
    pool: Any,
    viewer: Callable[..., Any],
    person: Callable[..., Any],
    unprocessable: Callable[[PayloadInvalid], JSONResponse],
) -> APIRouter:
    """Routes: reading for viewers, lifting for people (``person``: their Airflow login)."""
    router = APIRouter()

    @router.get(
        "/api/v1/site-steering",
        summary="Sites avoided by site steering: open now, and ended in the last day",
        dependencies=[Depends(viewer)],
    )
    def avoided() -> Any:
        with pool.connection() as conn:
            return {"avoided": open_and_recent(conn)}

    @router.post(
        "/api/v1/site-steering/{steering_id}/lift",
        summary="Lift a site avoidance (a person's decision)",
        openapi_extra=documented(LiftBody, required=False),
    )
    def lift_one(steering_id: int, who: Any = Depends(person), payload: Any = Depends(optional_json_body)) -> Any:
        try:
            body = parse_body(LiftBody, payload if payload is not None else {})
        except PayloadInvalid as err:
            return unprocessable(err)
        try:
            with pool.connection() as conn:
                row = lift(conn, steering_id, lifted_by=who.name, note=body.note)
                conn.commit()
        except SteeringNotFound as err:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
        return row

    return router
