# ruff: noqa: F811 - the fixtures of test_htcondor_tracking, imported, are redefined as parameters
"""SubmissionTracker following the job event log: cost grows with what changes (DESIGN.md, issue 12 item 1)."""

from __future__ import annotations

import pytest

from prodops import tracking
from prodops.batch.htcondor import HTCondorBackend
from prodops.store import records
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from tests.fakes.clock import Clock
from tests.fakes.schedd import FakeSchedd

from .test_htcondor_tracking import (  # noqa: F401 - fixtures
    CLUSTER, N_JOBS, counted, events_in_db, events_in_log, rows, schedd, submission_id, submission_row,
)

pytestmark = pytest.mark.integration

WRITES = ("write_job_attempts", "write_job_events", "write_event_log_problems", "save_event_offset",
          "save_history_cursor", "finish_submission")




@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def writes(monkeypatch):
    """Calls of the records functions that write, by name."""
    seen: list[str] = []
    for name in WRITES:
        original = getattr(records, name)

        def wrapped(*args, _name=name, _original=original, **kwargs):
            seen.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(records, name, wrapped)
    return seen


def tracker_of(db_url, schedd: FakeSchedd, submission_id: int, clock: Clock, **kwargs) -> SubmissionTracker:
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, clock=clock, **kwargs)
    return SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)


def schedd_calls(schedd: FakeSchedd) -> list[tuple[str, dict]]:
    return [(name, args) for name, args in schedd.calls if name in ("query", "history")]


def test_an_idle_cycle_makes_no_schedd_call_and_writes_nothing(db_url, schedd, submission_id, clock, writes,
                                                              monkeypatch):
    tracker = tracker_of(db_url, schedd, submission_id, clock)
    first = tracker.cycle()
    assert first.full and first.written == N_JOBS
    schedd.calls.clear()
    writes.clear()
    connections = []

    def counted_connect(*args, **kwargs):
        connections.append(args)
        return connect(*args, **kwargs)

    monkeypatch.setattr(tracking, "connect", counted_connect)
    for _ in range(3):
        idle = tracker.cycle()
        assert (idle.full, idle.schedd_calls, idle.polled, idle.written, idle.events) == (False, 0, 0, 0, 0)
        assert idle.states == {"idle": N_JOBS}
    assert schedd_calls(schedd) == [] and writes == [] and connections == []  # not even a connection
    schedd.execute(CLUSTER, 3)
    busy = tracker.cycle()  # something happened: the cycle locks the row and writes
    assert (busy.written, busy.events, len(connections)) == (1, 1, 1)
    assert rows(db_url)[3]["state"] == "running"


def test_a_cycle_after_events_asks_about_and_writes_only_those_jobs(db_url, schedd, submission_id, clock, counted):
    tracker = tracker_of(db_url, schedd, submission_id, clock)
    tracker.cycle()
    schedd.execute(CLUSTER, 1, site="FNAL")
    schedd.execute(CLUSTER, 4)
    schedd.terminate(CLUSTER, 4, exit_code=2)
    schedd.calls.clear()
    result = tracker.cycle()
    assert (result.full, result.polled, result.written, result.events) == (False, 2, 2, 3)
    assert result.states == {"idle": N_JOBS - 2, "running": 1, "completed": 1}
    query, history = schedd_calls(schedd)
    assert "member(ProcId, {1, 4})" in query[1]["constraint"] and history[0] == "history"
    stored = rows(db_url)
    assert (stored[1]["state"], stored[1]["site"], stored[4]["exit_code"]) == ("running", "FNAL", 2)
    assert submission_row(db_url, submission_id)["history_cursor"] == f"{CLUSTER}.4"
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)


def test_a_change_whose_event_was_missed_is_repaired_by_the_reconciliation(db_url, schedd, submission_id, clock):
    tracker = tracker_of(db_url, schedd, submission_id, clock, reconcile_interval=300)
    tracker.cycle()
    schedd.execute(CLUSTER, 2)
    tracker.cycle()
    schedd.update(CLUSTER, 2, JobStatus=5, HoldReason="lost event", HoldReasonCode=26)  # no event in the log
    clock.now += 60
    assert tracker.cycle().written == 0 and rows(db_url)[2]["state"] == "running"  # the log says nothing
    clock.now += 240
    repaired = tracker.cycle()
    assert repaired.full and repaired.written == 1
    assert (rows(db_url)[2]["state"], rows(db_url)[2]["hold_reason_code"]) == ("held", 26)


def test_a_restarted_tracker_does_a_full_cycle_first(db_url, schedd, submission_id, clock):
    tracker_of(db_url, schedd, submission_id, clock).cycle()
    schedd.update(CLUSTER, 3, RemoteUserCpu=77.0)  # missed by the log while no tracker ran
    restarted = tracker_of(db_url, schedd, submission_id, clock)
    first = restarted.cycle()
    assert first.full and first.written == 1 and rows(db_url)[3]["remote_user_cpu"] == 77.0
    assert restarted.cycle().schedd_calls == 0


def test_without_the_event_log_every_cycle_is_a_full_query(db_url, schedd, submission_id, clock, caplog):
    tracker = tracker_of(db_url, schedd, submission_id, clock, event_log_feed=False)
    results = [tracker.cycle() for _ in range(3)]
    assert all(r.full and r.schedd_calls == 1 for r in results)
    assert caplog.text.count("every cycle queries the whole submission") == 1


def test_a_submission_followed_by_its_log_ends(db_url, schedd, submission_id, clock):
    tracker = tracker_of(db_url, schedd, submission_id, clock)
    tracker.cycle()
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=proc % 2)
    last = tracker.cycle()
    assert not last.full and last.confirm and not last.done and last.states == {"completed": N_JOBS}
    ended = tracker.cycle()  # a full poll (ads, then the log) ends it
    assert ended.full and ended.done and (ended.written, ended.events) == (0, 0)
    assert submission_row(db_url, submission_id)["state"] == "done"


def test_an_end_the_ads_show_before_its_event_is_read_is_stored_before_the_submission_ends(
        db_url, schedd, submission_id, clock, monkeypatch):
    """An event-log poll reads the log, then asks about the jobs it named: a job that ends in
    between is final in the answer, its end event past the read. Were that poll to end the
    submission, the event would never be stored (seen in tests/integration/faults)."""
    tracker = tracker_of(db_url, schedd, submission_id, clock)
    tracker.cycle()
    last = N_JOBS - 1
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
        if proc != last:
            schedd.terminate(CLUSTER, proc, exit_code=0)
    query = schedd.query

    def the_last_job_ends_first(*args, **kwargs):
        if (CLUSTER, last) in schedd.queue:
            schedd.terminate(CLUSTER, last, exit_code=0)
        return query(*args, **kwargs)

    monkeypatch.setattr(schedd, "query", the_last_job_ends_first)
    polled = tracker.cycle()
    assert not polled.full and polled.states == {"completed": N_JOBS} and not polled.done
    assert events_in_db(db_url) != events_in_log(db_url, submission_id)  # the last end event not read yet
    ended = tracker.cycle()
    assert ended.full and ended.done
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)


@pytest.mark.parametrize("where", ["write_job_attempts", "write_job_events", "save_event_offset"])
def test_a_log_driven_cycle_killed_before_its_commit_loses_and_doubles_nothing(db_url, schedd, submission_id, clock,
                                                                                monkeypatch, where):
    """Restart in the middle of a cycle: the cycle's writes roll back together, and whichever
    tracker runs next (the same one, retried, or a new one after a triggerer restart) reads the
    same events again from the committed offset."""
    tracker = tracker_of(db_url, schedd, submission_id, clock)
    tracker.cycle()
    offset = submission_row(db_url, submission_id)["event_log_offset"]
    for proc in (0, 2, 5):
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=proc)

    def killed(*args, **kwargs):
        raise RuntimeError("triggerer killed in the middle of the cycle")

    with monkeypatch.context() as patched:
        patched.setattr(records, where, killed)
        with pytest.raises(RuntimeError, match="killed"):
            tracker.cycle()
    assert submission_row(db_url, submission_id)["event_log_offset"] == offset
    assert {r["state"] for r in rows(db_url).values()} == {"idle"}

    again = tracker.cycle()  # the same tracker, as a trigger that retries the cycle
    assert again.written == 3 and again.states == {"idle": N_JOBS - 3, "completed": 3}
    assert [rows(db_url)[p]["exit_code"] for p in (0, 2, 5)] == [0, 2, 5]
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)

    restarted = tracker_of(db_url, schedd, submission_id, clock)  # and a new one after a restart
    first = restarted.cycle()
    assert first.full and first.written == 0 and first.events == 0
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)
