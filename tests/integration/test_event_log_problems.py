"""A garbled event in a submission's event log: recorded once with its place, skipped, the rest tracked.

Issue 12, item 7: the reader skips the bad event and reads the events after it; tracking
stores the events on both sides and one ``event_log_problems`` row (file, byte offset, line),
in the same transaction as the cycle's rows, and a cycle that reads the same bytes again adds
nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prodops.batch.base import SubmissionSpec
from prodops.batch.eventlog import read_event_log
from prodops.batch.htcondor import HTCondorBackend
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.stage import submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from tests.fakes.schedd import FakeSchedd

from .test_request_flow import FORM

pytestmark = pytest.mark.integration

N_JOBS = 4
CLUSTER = 7001


@pytest.fixture
def schedd():
    fake = FakeSchedd(first_cluster=CLUSTER)
    yield fake
    fake.close()


@pytest.fixture
def submission_id(db_url, schedd, tmp_path):
    made = service.record_request(db_url, dag_id="production_request", run_id="garbled", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=50)
    spec = SubmissionSpec(
        request_id=made["request_id"], stage="run", attempt=1, executable="/bin/true",
        items=[f"--job {i}" for i in range(N_JOBS)], workdir=str(tmp_path / "attempt-1"),
    )
    return submit_stage(db_url=db_url, backend=HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5), spec=spec)


def tracker(db_url, schedd, submission_id) -> SubmissionTracker:
    return SubmissionTracker(backend=HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5), db_url=db_url,
                             submission_id=submission_id)


def stored(db_url, submission_id):
    with connect(db_url) as conn:
        events = [(r["proc_id"], r["event_type"], r["log_offset"]) for r in conn.execute(
            "SELECT proc_id, event_type, log_offset FROM job_events WHERE submission_id = %s ORDER BY log_offset",
            (submission_id,))]
        problems = records.event_log_problems(conn, submission_id)
        row = records.get_submission(conn, submission_id)
    return events, problems, row


def test_a_garbled_event_is_recorded_once_and_the_events_around_it_are_stored(db_url, schedd, submission_id):
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
    schedd.terminate(CLUSTER, 0, exit_code=0)
    schedd.terminate(CLUSTER, 3, exit_code=1)
    with connect(db_url) as conn:
        log = Path(records.get_submission(conn, submission_id)["event_log"])
    text = log.read_text()
    header = f"001 ({CLUSTER}.001.000)"  # job 1's execute event, in the middle of the log
    bad = text.index(header)
    log.write_text(text[:bad] + "0x1" + text[bad + 3:])  # a garbled header: the reader used to stall here
    expected = [(r.proc_id, r.event_type, r.log_offset) for r in read_event_log(log).records]
    assert (1, "EXECUTE") not in [(p, kind) for p, kind, _ in expected]
    assert len(expected) == N_JOBS + (N_JOBS - 1) + 2  # submits, the other executes, two terminations

    first = tracker(db_url, schedd, submission_id).cycle()
    assert (first.events, first.problems, first.events_behind) == (len(expected), 1, False)
    events, problems, row = stored(db_url, submission_id)
    assert events == expected  # the events before and after the garbled one
    assert any(offset < bad for _, _, offset in events) and any(offset > bad for _, _, offset in events)
    (problem,) = problems
    end = text.index("...\n", bad) + len("...\n")
    assert (problem["path"], problem["byte_offset"], problem["log_offset"]) == (str(log), bad, end)
    assert problem["line"].startswith(f"0x1 ({CLUSTER}.001.000)") and problem["job"] is None
    assert "not an HTCondor event header" in problem["message"] and problem["recorded_at"] is not None
    assert row["event_log_offset"] == log.stat().st_size

    second = tracker(db_url, schedd, submission_id).cycle()  # a restarted tracker, nothing new
    assert (second.events, second.problems) == (0, 0)
    assert stored(db_url, submission_id)[:2] == (events, problems)

    with connect(db_url) as conn:  # the same bytes read again (an offset reset): nothing doubled
        records.save_event_offset(conn, submission_id, 0)
        conn.commit()
    again = tracker(db_url, schedd, submission_id).cycle()
    assert (again.events, again.problems) == (len(expected), 0)
    assert stored(db_url, submission_id)[:2] == (events, problems)

    schedd.terminate(CLUSTER, 2, exit_code=0)  # and tracking goes on past it
    later = tracker(db_url, schedd, submission_id).cycle()
    assert (later.events, later.problems) == (1, 0)
    assert stored(db_url, submission_id)[0][-1][:2] == (2, "JOB_TERMINATED")


def test_an_unknown_event_names_its_job_and_a_failed_cycle_records_nothing(db_url, schedd, submission_id,
                                                                            monkeypatch):
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
    with connect(db_url) as conn:
        log = Path(records.get_submission(conn, submission_id)["event_log"])
    text = log.read_text()
    bad = text.index(f"001 ({CLUSTER}.002.000)")
    log.write_text(text[:bad] + "099" + text[bad + 3:])  # an event number newer than the bindings

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away mid-cycle")

    monkeypatch.setattr(records, "save_event_offset", broken)
    with pytest.raises(RuntimeError):
        tracker(db_url, schedd, submission_id).cycle()
    assert stored(db_url, submission_id)[:2] == ([], [])  # one transaction: no problem without its events
    monkeypatch.undo()

    result = tracker(db_url, schedd, submission_id).cycle()
    (problem,) = stored(db_url, submission_id)[1]
    assert result.problems == 1 and problem["job"] == f"{CLUSTER}.2" and "event number 99" in problem["message"]
