"""Shared steps of the tests that run requests on the real local pool and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from prodops.triage.service import triage_stage


def rows(db_url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    with connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


def track(db_url: str, backend: Any, submission_id: int, timeout: float = 90) -> None:
    """Until every job of the submission ended (no timing asserted: the deadline only stops a hang)."""
    tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)
    deadline = time.monotonic() + timeout
    while not tracker.cycle().done:
        assert time.monotonic() < deadline, f"submission {submission_id} did not finish in {timeout} s"
        time.sleep(0.3)


def ran_stage(db_url: str, backend: Any, form: dict[str, Any], run_id: str, stage: str = "run") -> tuple[int, int]:
    """An approved request of ``form`` whose ``stage`` ran, was tracked to its end and triaged."""
    request_id = service.record_request(db_url, dag_id="production_request", run_id=run_id, conf=form)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    first = service.submit_workflow_stage(db_url, backend, request_id, stage)
    track(db_url, backend, first)
    triage_stage(db_url, request_id, stage)
    return request_id, first
