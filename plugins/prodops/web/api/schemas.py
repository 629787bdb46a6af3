"""The shapes of the API's request bodies, as pydantic models, so ``/prodops/openapi.json`` documents each.

The adapters in :mod:`prodops.status.events` and :mod:`prodops.status.maintenance` stay the
validators (they report every bad field at once, in the same words for pushed and pulled
payloads); these models state the same shapes for the OpenAPI document and for clients. A test
compares each model's fields with its adapter's, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, StringConstraints
from pydantic.json_schema import models_json_schema

from prodops.status.events import MAX_EVENTS_PER_PAYLOAD, MAX_TTL_S
from prodops.status.maintenance import SEVERITIES
from prodops.status.states import STATE_MAP, Convention

Time = AwareDatetime | float
"""ISO 8601 with a zone (``2026-11-25T10:00:00Z``) or seconds since the epoch; 1970 to a year ahead."""
TIME = "ISO 8601 with a zone (e.g. 2026-11-25T10:00:00Z) or seconds since the epoch; 1970 to a year from now."
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""A name or id: one line, no control characters."""
Text = Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
"""Free text: lines and tabs, no other control characters."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NativeEvent(_Body):
    """One status report in prodops' own JSON."""

    service: Name = Field(..., description="A registered service (include/services.yaml).")
    state: Literal[(*STATE_MAP[Convention.NATIVE], *STATE_MAP[Convention.STATUSPAGE])] = Field(  # type: ignore[valid-type]
        ..., description="A prodops state, or a Statuspage component status (any letter case).")
    time: Time | None = Field(None, description=f"When it was observed (default: received). {TIME}")
    id: Name | None = Field(None, description="The sender's id: the same id and time again is stored once.")
    message: Text | None = Field(None)
    source: Literal["feed", "manual"] | None = Field(
        None, description="feed (default). manual (a person's word, overriding every stream) is a person's only.")
    ttl: float | None = Field(None, gt=0, le=MAX_TTL_S, description="Seconds the report holds; then unknown.")
    stream: Name | None = Field(None, description="The stream it belongs to (default: the feeder).")


class NativeEvents(_Body):
    events: list[NativeEvent] = Field(..., min_length=1, max_length=MAX_EVENTS_PER_PAYLOAD)


class EventsBody(RootModel[NativeEvent | NativeEvents]):
    """One event, or ``{"events": [...]}``: stored whole or not at all."""


class CheckResult(_Body):
    """One Icinga/Nagios check result (Icinga 2's process-check-result fields)."""

    service: Name = Field(...)
    exit_status: int = Field(..., ge=0, le=3, description="0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
    plugin_output: Text = Field(..., min_length=1)
    ttl: float | None = Field(None, gt=0, le=MAX_TTL_S, description="Seconds the result holds; then unknown.")
    execution_end: Time | None = Field(None, description=f"When the check ended (default: received). {TIME}")
    execution_start: Any = Field(None, description="Accepted and ignored.")
    check_source: Name | None = Field(None, description="The checking host: one stream per source.")
    performance_data: Any = Field(None, description="Accepted and ignored.")
    check_command: Any = Field(None, description="Accepted and ignored.")
    host: Any = Field(None, description="Accepted and ignored.")
    type: Any = Field(None, description="Accepted and ignored.")
    filter: Any = Field(None, description="Accepted and ignored.")


class CheckResults(_Body):
    results: list[CheckResult] = Field(..., min_length=1, max_length=MAX_EVENTS_PER_PAYLOAD)


class ChecksBody(RootModel[CheckResult | CheckResults]):
    """One check result, or ``{"results": [...]}``."""


class Alert(BaseModel):
    """One alert of the webhook; its ``service`` (or ``prodops_service``) label names the service."""

    model_config = ConfigDict(extra="allow")
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(..., description="Must hold service (or prodops_service); severity warning"
                                                    " or info makes a firing alert degraded, not down.")
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Time  # noqa: N815 - Alertmanager's own field names
    endsAt: Time | None = None  # noqa: N815
    fingerprint: Name = Field(...)


class AlertmanagerBody(BaseModel):
    """Prometheus Alertmanager webhook, version 4 (its other fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    version: Literal["4"]
    alerts: list[Alert] = Field(..., min_length=1, max_length=MAX_EVENTS_PER_PAYLOAD)


class WindowBody(_Body):
    """A maintenance window; the same ``id`` again updates it."""

    services: list[str] | Literal["all"] = Field(
        ..., description="Services it holds; [] or \"all\": every service (a person's only).")
    start: Time = Field(..., description=TIME)
    end: Time = Field(..., description=f"After start; a feeder's window has a configured maximum length. {TIME}")
    reason: Text = Field(..., min_length=1)
    id: Name | None = Field(None)
    created_by: Name | None = Field(None, description="A person's only: a feeder's window is its own.")


class AnnouncementBody(_Body):
    """An announcement on the board (and Airflow's dashboard); the same ``id`` again updates it."""

    text: Text = Field(..., min_length=1, description="Shown as plain text when a feeder posts it.")
    severity: Literal[SEVERITIES] = "info"  # type: ignore[valid-type]
    start: Time | None = Field(None, description=f"Default: now. {TIME}")
    end: Time | None = Field(None, description=f"Default: no end. {TIME}")
    author: Name | None = Field(None, description="A person's only (and replaced by their login).")
    id: Name | None = Field(None)


class TokenBody(_Body):
    """A feeder token to issue: for which feeder, what it may report, and until when."""

    feeder: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                        examples=["icinga"])
    note: str = Field("", max_length=400, pattern=r"^[^\x00-\x1f\x7f]*$", examples=["main Icinga"])
    services: list[str] | None = Field(
        None, max_length=1000, description="The services it may report; default: those whose registry feed is"
                                           " the feeder.")
    expires_at: datetime | None = Field(None, description="When it stops working (a time with a zone); default: never.")


def bodies() -> list[type[BaseModel]]:
    """Every request body the app reads (the inferred-outage reviews' live beside their routes)."""
    from prodops.phases.markers import PhaseReport
    from prodops.web.inferred import CloseBody, FalseBody
    from prodops.web.steering import LiftBody

    return [EventsBody, ChecksBody, AlertmanagerBody, WindowBody, AnnouncementBody, TokenBody, CloseBody, FalseBody,
            PhaseReport, LiftBody]


def documented(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its own body (after authentication): the body's schema."""
    return {"requestBody": {"required": required, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def document_bodies(app: FastAPI) -> None:
    """Add the body models to the app's OpenAPI components (the routes refer to them by name)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _, defs = models_json_schema([(m, "validation") for m in bodies()],
                                         ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
