"""The phase API: a job posts ``phase X started/finished`` with its submission's job token.

Mounted by the prodops app with ``app.include_router(phases_router(pool))``. No Airflow login:
the job authenticates with ``Authorization: Bearer $PRODOPS_PHASE_TOKEN`` (issued at submission,
:mod:`prodops.phases.tokens`), which writes its own submission's phases only. A repeated or
late post is harmless (:mod:`prodops.phases.store`). The client is include/jobs/prodops_phase.py;
the guide is docs/instrumenting.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel

from prodops.phases import tokens
from prodops.phases.markers import PhaseReport, PhaseSource
from prodops.phases.store import record_phases
from prodops.web.api.body import json_body, parse_body
from prodops.web.api.schemas import documented
from prodops.web.pool import ConnectionPool


class PhaseStored(BaseModel):
    """The answer to a phase post."""

    submission_id: int
    job_index: int
    phase: str
    state: str
    stored: bool
    """False for a repeat, or an older report than the one kept: nothing to do for the job."""


def phases_router(pool: ConnectionPool) -> APIRouter:
    router = APIRouter(tags=["phases"])

    def job_scope(submission_id: int,
                  authorization: str | None = Header(None, description="Bearer <the job's PRODOPS_PHASE_TOKEN>"),
                  ) -> tokens.JobScope:
        """The token is checked before the body, so a caller without one learns that first. Its pool
        connection goes back before the body is read: a slow sender must not hold one (the write
        takes another, from the same pool, once the body is in)."""
        try:
            with pool.connection() as conn:
                return tokens.scope(conn, authorization, submission_id)
        except tokens.TokenRefused as err:
            raise HTTPException(err.status, str(err),
                                headers={"WWW-Authenticate": "Bearer"} if err.status == 401 else None) from None

    @router.post(
        "/api/v1/submissions/{submission_id}/phases",
        response_model=PhaseStored,
        openapi_extra=documented(PhaseReport),
        summary="A job reports a phase started or finished",
        description="Post with `Authorization: Bearer $PRODOPS_PHASE_TOKEN` to"
                    " `$PRODOPS_API_URL/api/v1/submissions/$PRODOPS_SUBMISSION_ID/phases`. 401: no, unknown or"
                    " expired token; 403: the token belongs to another submission, or the job index is not one"
                    " of its jobs; 422: a wrong field, named. Repeats and out-of-order posts are idempotent.",
        responses={401: {"description": "no job token, an unknown one, or one that expired with its submission"},
                   403: {"description": "another submission's token, or a job index outside the submission"}},
    )
    def post_phase(scope: tokens.JobScope = Depends(job_scope), payload: Any = Depends(json_body)) -> PhaseStored:
        """The body is read after the token check (``json_body``), within the app's size limit."""
        report = parse_body(PhaseReport, payload)
        try:
            scope.check_job(report.job_index)
        except tokens.TokenRefused as err:
            raise HTTPException(err.status, str(err)) from None
        with pool.connection() as conn:
            written = record_phases(conn, scope.submission_id, [(report.job_index, report)], PhaseSource.API)
            conn.commit()
        return PhaseStored(submission_id=scope.submission_id, job_index=report.job_index, phase=report.phase,
                           state=report.state.value, stored=bool(written))

    return router

