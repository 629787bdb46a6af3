"""The prodops web app, mounted in the Airflow api-server at ``/prodops`` by the AirflowPlugin.

Airflow gives plugin apps no authentication, so every route here adds its own:

* **feeders** (monitoring systems) write with a bearer token issued per feeder
  (``python -m prodops.status.tokens issue NAME``): ``Authorization: Bearer pdo_...``, for the
  services of the token's scope only, never as a person (:mod:`prodops.web.api.access`);
* **people** use their Airflow login (the UI's session cookie, or an Airflow JWT as bearer):
  the board and its JSON need the Website view permission, managing feeder tokens needs
  configuration write access, any person may post manual events (recorded with source
  ``manual`` and their name) and close an inferred outage or mark it false (a person only: a
  feeder token gets 403), and maintenance windows and announcements need operator rights
  (Airflow's pool write access: the Op and Admin roles).

Authentication comes before the body is read, and a body over the limit is refused unread (413).
A bad payload gets 422 with every wrong field (``detail[].loc`` / ``detail[].field``), a payload
asking for what its writer may not do 403 naming the field, and nothing is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from prodops.status import tokens
from prodops.status.events import PayloadInvalid, _dotted
from prodops.status.registry import RegistryInvalid, sync_file
from prodops.web.api.access import Writer
from prodops.web.api.guard import RefuseControlCharacters
from prodops.web.api.schemas import document_bodies
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


def is_operator(user: Any) -> bool:
    """Airflow's operator rights, as its auth manager grants them: pool write access (the Op and Admin
    roles of both the simple and the FAB auth manager). Maintenance and announcements hold or tell
    every production, as pools do."""
    from airflow.api_fastapi.app import get_auth_manager

    return bool(get_auth_manager().is_authorized_pool(method="POST", user=user))


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
    return Writer(source="manual", name=user.get_name(), services=None)


async def operator(request: Request) -> Writer:
    """A person with operator rights (:func:`is_operator`), writing with their Airflow login."""
    who = await person(request)
    if not is_operator(await airflow_user(request)):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"{who.name} may not do this: maintenance windows and announcements need Airflow's"
                            " operator rights (the Op or Admin role)")
    return who


def default_db_url() -> str:
    """PRODOPS_DB_URL, else the Airflow connection ``prodops_db`` (set for every component)."""
    from prodops.store.db import component_url

    return component_url()


def _unprocessable(err: PayloadInvalid) -> JSONResponse:
    """422 (or the error's own status: 403 for a feeder's overreach) naming every field, nothing stored."""
    detail = [
        {"loc": ["body", *loc], "field": _dotted(loc), "msg": msg, "type": "value_error"}
        for loc, msg in err.errors
    ]
    return JSONResponse(status_code=getattr(err, "status_code", 422),
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
        current: str | None = state["url"]
        if current is None:
            current = state["url"] = (db_url if callable(db_url) else default_db_url)()
        if not state["synced"]:
            with lock:
                if not state["synced"]:
                    try:
                        sync_file(current)
                    except RegistryInvalid as err:  # the board still works on what the database has
                        log.error("Service registry not loaded: %s", err)
                    state["synced"] = True
        return current

    app.state.db_url = url
    pool = ConnectionPool(url)
    app.state.pool = pool

    async def feeder(request: Request) -> Writer | None:
        """The feeder of a ``pdo_`` bearer token (401 if it is unknown, revoked or expired); None for anything else."""
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential.startswith(tokens.TOKEN_PREFIX):
            return None
        access = await run_in_threadpool(_access_for, pool, credential)
        if access is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                "the bearer token is unknown or revoked, or has expired; ask for a new one"
                                " (python -m prodops.status.tokens issue FEEDER)",
                                headers={"WWW-Authenticate": "Bearer"})
        return Writer(source="feed", name=access.feeder, services=access.services)

    async def writer(request: Request) -> Writer:
        """Status reports: a feeder token, or any person logged in to Airflow."""
        return await feeder(request) or await person(request)

    async def steward(request: Request) -> Writer:
        """Maintenance windows and announcements: a feeder token, or a person with operator rights."""
        return await feeder(request) or await operator(request)

    from prodops.web.api.board import board_router
    from prodops.web.api.notices import notices_router
    from prodops.web.api.reports import reports_router
    from prodops.web.api.tokens import tokens_router
    from prodops.web.inferred import inferred_router
    from prodops.web.outages import outages_router
    from prodops.web.phases import phases_router
    from prodops.web.requests import requests_router
    from prodops.web.stats import stats_router
    from prodops.web.steering import steering_router
    from prodops.web.triage import triage_router

    routers = [
        board_router(pool, viewer),
        reports_router(pool, writer),
        notices_router(pool, steward),
        tokens_router(pool, token_admin),
        requests_router(pool, viewer),
        triage_router(pool, viewer),
        inferred_router(pool, person, _unprocessable),
        outages_router(pool, viewer),
        stats_router(pool, viewer),
        steering_router(pool, viewer, person, _unprocessable),
        phases_router(pool),  # jobs post with their submission's token, no Airflow login
    ]
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(PayloadInvalid, lambda _request, err: _unprocessable(err))
    app.add_middleware(RefuseControlCharacters)
    document_bodies(app)

    return app


def _access_for(pool: ConnectionPool, token: str) -> tokens.FeederAccess | None:
    with pool.connection() as conn:
        access = tokens.access_for(conn, token)
        conn.commit()
    return access
