"""Status reports pushed by feeders (and people): native events, Alertmanager webhooks, Icinga checks.

Each payload is stored whole or not at all (:func:`prodops.status.ingest.ingest`): 200 with the
counts, 422 naming every bad field, 403 naming what a feeder token may not report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from prodops.status.ingest import ingest
from prodops.web.api.access import Writer, check_report
from prodops.web.api.body import json_body
from prodops.web.api.schemas import AlertmanagerBody, ChecksBody, EventsBody, documented


def _as_manual(payload: Any) -> Any:
    """A person's events are ``manual`` whatever the payload says."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        return {**payload, "events": [{**e, "source": "manual"} if isinstance(e, dict) else e for e in payload["events"]]}
    if isinstance(payload, dict):
        return {**payload, "source": "manual"}
    return payload


def reports_router(pool: Any, writer: Callable[..., Any]) -> APIRouter:
    """``writer``: a feeder token or a person's Airflow login, resolved before the body is read."""
    router = APIRouter()

    def _store(kind: str, payload: Any, who: Writer) -> JSONResponse:
        check_report(who, kind, payload)
        if kind == "native" and not who.is_feeder:
            payload = _as_manual(payload)
        with pool.connection() as conn:
            result = ingest(conn, kind, payload, feed=who.name, now=datetime.now(timezone.utc))
            conn.commit()
        return JSONResponse(result.to_dict())

    @router.post("/api/v1/events", summary="Push native status events", openapi_extra=documented(EventsBody),
                 description="One event `{service, state, time?, id?, message?, source?, ttl?}` or `{events: [...]}`."
                             " `state`: up, degraded, down, maintenance, unknown, or a Statuspage status.")
    def post_events(who: Writer = Depends(writer), payload: Any = Depends(json_body)) -> JSONResponse:
        return _store("native", payload, who)

    @router.post("/api/v1/alertmanager", summary="Prometheus Alertmanager webhook (version 4)",
                 openapi_extra=documented(AlertmanagerBody),
                 description="Point an Alertmanager `webhook_config` here with `http_config.authorization.credentials`"
                             " set to a feeder token. Each alert needs a `service` label.")
    def post_alertmanager(who: Writer = Depends(writer), payload: Any = Depends(json_body)) -> JSONResponse:
        return _store("alertmanager", payload, who)

    @router.post("/api/v1/checks", summary="Icinga/Nagios check results", openapi_extra=documented(ChecksBody),
                 description="`{service, exit_status 0-3, plugin_output, ttl?, execution_end?}` or `{results: [...]}`.")
    def post_checks(who: Writer = Depends(writer), payload: Any = Depends(json_body)) -> JSONResponse:
        return _store("nagios", payload, who)

    return router
