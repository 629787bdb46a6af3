"""What the fault tests share: an approved request, waiting for a state, the stored records to compare."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from prodops.batch.eventlog import read_events
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.store.db import connect
from tests.integration.test_request_flow import FORM

T = TypeVar("T")


def approved_request(db_url: str, run_id: str) -> int:
    made = service.record_request(db_url, dag_id="production_request", run_id=run_id, conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=50)
    return int(made["request_id"])


def wait_for(what: str, probe: Callable[[], T], timeout_s: float, every_s: float = 0.05) -> T:
    """Poll ``probe`` until it returns something true (a state reached, not a time waited); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"not seen within {timeout_s:.0f} s: {what}"
        time.sleep(every_s)


def blocked_on_lock(server_url: str, dbname: str, table: str) -> int | None:
    """The pid of a session of ``dbname`` waiting for a lock in a statement on ``table``, if any."""
    with connect(server_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND query ILIKE %s",
            (dbname, f"%{table}%"),
        ).fetchone()
    return int(row["pid"]) if row else None


def rows_per_job(db_url: str, submission_id: int) -> Counter[int]:
    with connect(db_url) as conn:
        return Counter(r["proc_id"] for r in conn.execute(
            "SELECT proc_id FROM job_attempts WHERE submission_id = %s", (submission_id,)))


def stored_events(db_url: str, submission_id: int) -> Counter[tuple[int, str, int]]:
    """(job, event type, log offset) of every stored event, counted: a doubled one counts 2."""
    with connect(db_url) as conn:
        return Counter((r["proc_id"], r["event_type"], r["log_offset"]) for r in conn.execute(
            "SELECT proc_id, event_type, log_offset FROM job_events WHERE submission_id = %s", (submission_id,)))


def logged_events(event_log: str) -> Counter[tuple[int, str, int]]:
    records, _ = read_events(event_log)
    return Counter((r.proc_id, r.event_type, r.log_offset) for r in records)
