"""The prodops web app, mounted in the Airflow api-server at ``/prodops`` by the AirflowPlugin.

Airflow gives plugin apps no authentication, so every route here adds its own:

* **feeders** (monitoring systems) write with a bearer token issued per feeder
  (``python -m prodops.status.tokens issue NAME``): ``Authorization: Bearer pdo_...``;
* **people** use their Airflow login (the UI's session cookie, or an Airflow JWT as bearer):
  the board and its JSON need the Website view permission, managing feeder tokens needs
  configuration write access, and a person may also post manual events, windows and
  announcements (recorded with source ``manual`` and their name), and close an inferred
  outage or mark it false (a person only: a feeder token gets 403).

A bad payload gets 422 with every wrong field (``detail[].loc`` / ``detail[].field``), and
nothing is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Body, Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from prodops.status import records, tokens
from prodops.status.board import board as board_data
from prodops.status.events import PayloadInvalid, _dotted
from prodops.status.ingest import ingest
from prodops.status.maintenance import parse_announcement, parse_window
from prodops.status.registry import RegistryInvalid, sync_file
from prodops.web.pool import ConnectionPool

log = logging.getLogger(__name__)

URL_PREFIX = "/prodops"
TEMPLATES = Path(__file__).parent / "templates"


def _airflow_security() -> Any:
    """Airflow's API security module, imported on first request only: it is heavy, and Airflow
    imports this plugin in every process (scheduler, workers), not only in the api-server."""
    from airflow.api_fastapi.core_api import security

    return security


def _bearer(request: Request) -> HTTPAuthorizationCredentials | None:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credential.strip())


async def airflow_user(request: Request) -> Any:
    """The Airflow user of the request (UI session cookie or Airflow JWT), as Airflow's GetUserDep does."""
    return await _airflow_security().get_user(request, None, _bearer(request))


async def viewer(request: Request) -> None:
    """People who may read the board: Airflow's Website view permission (requires_access_view)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView

    user = await airflow_user(request)
    _airflow_security().requires_access_view(AccessView.WEBSITE)(request, user)


async def token_admin(request: Request) -> None:
    """People who may issue and revoke feeder tokens: Airflow configuration write access."""
    user = await airflow_user(request)
    _airflow_security().requires_access_configuration("POST")(request, user)


@dataclass(frozen=True)
class Writer:
    """Who is writing: a feeder (by its token) or a person (by their Airflow login)."""

    source: str
    """``feed`` or ``manual``: recorded on every event, window and announcement."""
    name: str


async def person(request: Request) -> Writer:
    """A person writing with their Airflow login (UI session cookie or Airflow JWT), never a feeder token.

    A write on the session cookie alone must be a JSON call from the UI, never a plain cross-site
    form post (the cookie is SameSite=Lax too; this is the second lock).
    """
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip().startswith(tokens.TOKEN_PREFIX):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "a feeder token cannot do this; a person does it with their Airflow login")
    if not header and "_token" not in request.cookies:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "no credentials: send 'Authorization: Bearer <feeder token>' (issue one with"
                            " python -m prodops.status.tokens issue FEEDER) or log in to Airflow",
                            headers={"WWW-Authenticate": "Bearer"})
    if not header and request.method != "DELETE" and \
            request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "send the body as JSON (Content-Type: application/json)")
    user = await airflow_user(request)
    return Writer(source="manual", name=user.get_name())


def default_db_url() -> str:
    """PRODOPS_DB_URL, else the Airflow connection ``prodops_db`` (set for every component)."""
    from prodops.store.db import component_url

    return component_url()


def _unprocessable(err: PayloadInvalid) -> JSONResponse:
    detail = [
        {"loc": ["body", *loc], "field": _dotted(loc), "msg": msg, "type": "value_error"}
        for loc, msg in err.errors
    ]
    return JSONResponse(status_code=422,
                        content={"detail": detail, "stored": 0, "message": str(err)})


def create_app(db_url: str | Callable[[], str] | None = None, *, sync_registry: bool = True) -> FastAPI:
    """The app; ``db_url`` is fixed (tests) or resolved on first use (inside Airflow)."""
    app = FastAPI(
        title="prodops service board",
        description=__doc__,
        version="1",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    state: dict[str, Any] = {"url": db_url if isinstance(db_url, str) else None, "synced": not sync_registry}
    lock = threading.Lock()

    def url() -> str:
        """The database URL, and the registry file loaded once per process before first use."""
        if state["url"] is None:
            state["url"] = (db_url if callable(db_url) else default_db_url)()
        if not state["synced"]:
            with lock:
                if not state["synced"]:
                    try:
                        sync_file(state["url"])
                    except RegistryInvalid as err:  # the board still works on what the database has
                        log.error("Service registry not loaded: %s", err)
                    state["synced"] = True
        return state["url"]

    app.state.db_url = url
    pool = ConnectionPool(url)
    app.state.pool = pool

    async def writer(request: Request) -> Writer:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() == "bearer" and credential.startswith(tokens.TOKEN_PREFIX):
            feeder = await run_in_threadpool(_feeder_for, pool, credential)
            if feeder is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                    "the bearer token is unknown or revoked; ask for a new one"
                                    " (python -m prodops.status.tokens issue FEEDER)",
                                    headers={"WWW-Authenticate": "Bearer"})
            return Writer(source="feed", name=feeder)
        return await person(request)

    def _write(kind: str, payload: Any, who: Writer) -> JSONResponse:
        now = datetime.now(timezone.utc)
        try:
            with pool.connection() as conn:
                if kind == "native" and who.source == "manual":
                    payload = _as_manual(payload)
                result = ingest(conn, kind, payload, feed=who.name, now=now)
                conn.commit()
        except PayloadInvalid as err:
            return _unprocessable(err)
        return JSONResponse(result.to_dict())

    @app.post("/api/v1/events", summary="Push native status events",
              description="One event `{service, state, time?, id?, message?, source?, ttl?}` or `{events: [...]}`."
                          " `state`: up, degraded, down, maintenance, unknown, or a Statuspage status.")
    def post_events(payload: Any = Body(...), who: Writer = Depends(writer)) -> JSONResponse:
        return _write("native", payload, who)

    @app.post("/api/v1/alertmanager", summary="Prometheus Alertmanager webhook (version 4)",
              description="Point an Alertmanager `webhook_config` here with `http_config.authorization.credentials`"
                          " set to a feeder token. Each alert needs a `service` label.")
    def post_alertmanager(payload: Any = Body(...), who: Writer = Depends(writer)) -> JSONResponse:
        return _write("alertmanager", payload, who)

    @app.post("/api/v1/checks", summary="Icinga/Nagios check results",
              description="`{service, exit_status 0-3, plugin_output, ttl?, execution_end?}` or `{results: [...]}`.")
    def post_checks(payload: Any = Body(...), who: Writer = Depends(writer)) -> JSONResponse:
        return _write("nagios", payload, who)

    @app.post("/api/v1/maintenance", summary="Schedule (or update, same id) a maintenance window")
    def post_window(payload: Any = Body(...), who: Writer = Depends(writer)) -> JSONResponse:
        now = datetime.now(timezone.utc)
        try:
            with pool.connection() as conn:
                known = {s["name"] for s in records.active_services(conn)}.__contains__
                window = parse_window(payload, feed=who.name, source=who.source, now=now, known=known)
                window_id, created = records.upsert_window(conn, window)
                conn.commit()
        except PayloadInvalid as err:
            return _unprocessable(err)
        return JSONResponse({"id": window_id, "created": created},
                            status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @app.delete("/api/v1/maintenance/{window_id}", summary="Cancel a maintenance window")
    def cancel_window(window_id: int, who: Writer = Depends(writer)) -> dict[str, Any]:
        with pool.connection() as conn:
            found = records.cancel_window(conn, window_id)
            conn.commit()
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no maintenance window {window_id}")
        log.info("Maintenance window %s cancelled by %s", window_id, who.name)
        return {"id": window_id, "cancelled": True}

    @app.post("/api/v1/announcements", summary="Post (or update, same id) an announcement")
    def post_announcement(payload: Any = Body(...), who: Writer = Depends(writer)) -> JSONResponse:
        now = datetime.now(timezone.utc)
        try:
            if who.source == "manual" and isinstance(payload, dict):
                payload = {**payload, "author": who.name}
            announcement = parse_announcement(payload, feed=who.name, now=now)
            with pool.connection() as conn:
                ann_id, created = records.upsert_announcement(conn, announcement)
                conn.commit()
        except PayloadInvalid as err:
            return _unprocessable(err)
        return JSONResponse({"id": ann_id, "created": created},
                            status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @app.delete("/api/v1/announcements/{announcement_id}", summary="End an announcement now")
    def end_announcement(announcement_id: int, who: Writer = Depends(writer)) -> dict[str, Any]:
        with pool.connection() as conn:
            found = records.end_announcement(conn, announcement_id, datetime.now(timezone.utc))
            conn.commit()
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no announcement {announcement_id} that has started")
        return {"id": announcement_id, "ended": True}

    @app.get("/api/v1/board", summary="Everything the board shows", dependencies=[Depends(viewer)])
    def get_board() -> dict[str, Any]:
        return _board(pool)

    @app.get("/api/v1/tokens", summary="List feeder tokens (never the secrets)", dependencies=[Depends(token_admin)])
    def list_tokens() -> list[dict[str, Any]]:
        with pool.connection() as conn:
            return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
                    for r in tokens.list_tokens(conn)]

    @app.post("/api/v1/tokens", summary="Issue a feeder token (shown once)", dependencies=[Depends(token_admin)],
              status_code=status.HTTP_201_CREATED)
    def issue_token(payload: dict[str, str] = Body(..., examples=[{"feeder": "icinga", "note": "main Icinga"}])) -> dict[str, Any]:
        try:
            with pool.connection() as conn:
                token_id, token = tokens.issue(conn, payload.get("feeder", ""), payload.get("note", ""))
                conn.commit()
        except ValueError as err:
            return _unprocessable(PayloadInvalid([(("feeder",), str(err))]))  # type: ignore[return-value]
        return {"id": token_id, "feeder": payload["feeder"], "token": token}

    @app.delete("/api/v1/tokens/{token_id}", summary="Revoke a feeder token", dependencies=[Depends(token_admin)])
    def revoke_token(token_id: int) -> dict[str, Any]:
        with pool.connection() as conn:
            revoked = tokens.revoke(conn, id=token_id)
            conn.commit()
        if not revoked:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active token {token_id}")
        return {"id": token_id, "revoked": True}

    from prodops.web.inferred import inferred_router
    from prodops.web.outages import outages_router
    from prodops.web.phases import phases_router
    from prodops.web.requests import requests_router
    from prodops.web.triage import triage_router

    app.include_router(requests_router(pool, viewer))
    app.include_router(triage_router(pool, viewer))
    app.include_router(inferred_router(pool, person, _unprocessable))
    app.include_router(outages_router(pool, viewer))
    app.include_router(phases_router(pool))  # jobs post with their submission's token, no Airflow login

    @app.get("/", response_class=HTMLResponse, summary="The service board page", dependencies=[Depends(viewer)])
    def page() -> HTMLResponse:
        from prodops.web.render import render_board

        return HTMLResponse(render_board(_board(pool)))

    return app


def _feeder_for(pool: ConnectionPool, token: str) -> str | None:
    with pool.connection() as conn:
        feeder = tokens.feeder_for(conn, token)
        conn.commit()
    return feeder


def _as_manual(payload: Any) -> Any:
    """A person's events are ``manual`` whatever the payload says."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        return {**payload, "events": [{**e, "source": "manual"} if isinstance(e, dict) else e for e in payload["events"]]}
    if isinstance(payload, dict):
        return {**payload, "source": "manual"}
    return payload


def _board(pool: ConnectionPool) -> dict[str, Any]:
    from prodops.workflows import load_templates

    with pool.connection() as conn:
        return board_data(conn, datetime.now(timezone.utc), {n: t.services for n, t in load_templates().items()})
