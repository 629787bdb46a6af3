"""The HTCondor backend following the job event log (a tracker's Feed), against the fake schedd.

A poll with a feed reads the new events and asks the schedd only about the jobs they name;
a full (reconciliation) query runs first and then every ``reconcile_interval`` seconds; a
poll with no new event makes no schedd call; without a readable event log every poll is full.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from prodops.batch.base import Feed, Submission, SubmissionSpec
from prodops.batch.htcondor import HTCondorBackend
from tests.fakes.clock import Clock
from tests.fakes.schedd import FakeSchedd

N_JOBS = 20
CLUSTER = 5001


@pytest.fixture
def schedd() -> FakeSchedd:
    fake = FakeSchedd(first_cluster=CLUSTER)
    yield fake
    fake.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend(schedd: FakeSchedd, clock: Clock) -> HTCondorBackend:
    return HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, reconcile_interval=300, clock=clock)


@pytest.fixture
def spec(tmp_path: Path) -> SubmissionSpec:
    return SubmissionSpec(request_id=7, stage="reco", attempt=1, executable="/bin/true",
                          workdir=str(tmp_path / "attempt-1"), items=[f"--job {i}" for i in range(N_JOBS)])


class Tracker:
    """What SubmissionTracker keeps between polls: the offset, the cursor and its feed."""

    def __init__(self, backend: HTCondorBackend, submission: Submission) -> None:
        self.backend, self.submission = backend, submission
        self.offset, self.cursor, self.feed = 0, None, Feed()

    def poll(self):
        polled = self.backend.poll(self.submission, self.offset, self.cursor, feed=self.feed)
        self.offset, self.cursor = polled.offset, polled.history_cursor
        return polled


def schedd_calls(schedd: FakeSchedd) -> list[tuple[str, dict]]:
    return [(name, args) for name, args in schedd.calls if name in ("query", "history")]


def test_first_poll_is_full_then_an_idle_poll_makes_no_schedd_call(backend, schedd, spec):
    tracker = Tracker(backend, backend.submit(spec))
    schedd.calls.clear()
    first = tracker.poll()
    assert first.complete and len(first.ads) == N_JOBS and first.schedd_calls == 1
    assert schedd_calls(schedd)[0][1]["constraint"] == 'ClusterId == 5001 && ProdopsSubmission == "7/reco/1"'
    schedd.calls.clear()
    for _ in range(3):
        idle = tracker.poll()
        assert (idle.ads, idle.events, idle.complete, idle.schedd_calls) == ([], [], False, 0)
    assert schedd.calls == []


def test_a_poll_after_n_events_queries_only_those_jobs(backend, schedd, spec):
    tracker = Tracker(backend, backend.submit(spec))
    tracker.poll()
    changed = [2, 5, 11, 17]
    for proc in changed:
        schedd.execute(CLUSTER, proc)
    schedd.hold(CLUSTER, 5, reason="over memory", code=34)
    schedd.calls.clear()
    polled = tracker.poll()
    assert not polled.complete and polled.schedd_calls == 1
    ((name, args),) = schedd_calls(schedd)
    assert name == "query" and args["projection"] == backend.projection
    assert args["constraint"] == ('ClusterId == 5001 && member(ProcId, {2, 5, 11, 17})'
                                  ' && ProdopsSubmission == "7/reco/1"')
    assert sorted(int(ad["ProcId"]) for ad in polled.ads) == changed
    assert {int(ad["ProcId"]): int(ad["JobStatus"]) for ad in polled.ads} == {2: 2, 5: 5, 11: 2, 17: 2}
    assert len(polled.events) == 5


def test_jobs_that_ended_and_left_are_read_from_history_since_the_cursor(backend, schedd, spec):
    tracker = Tracker(backend, backend.submit(spec))
    tracker.poll()
    for proc in (3, 4):
        schedd.execute(CLUSTER, proc)
    schedd.terminate(CLUSTER, 3, exit_code=0)
    schedd.calls.clear()
    polled = tracker.poll()
    assert [name for name, _ in schedd_calls(schedd)] == ["query", "history"]
    assert schedd_calls(schedd)[1][1]["since"] is None
    assert {int(ad["ProcId"]): int(ad["JobStatus"]) for ad in polled.ads} == {3: 4, 4: 2}
    assert polled.history_cursor == "5001.3" and not polled.complete

    schedd.terminate(CLUSTER, 4, exit_code=1)
    schedd.calls.clear()
    polled = tracker.poll()
    assert schedd_calls(schedd)[1][1]["since"] == "5001.3"  # each finished job fetched once
    assert [int(ad["ProcId"]) for ad in polled.ads] == [4] and polled.history_cursor == "5001.4"


def test_events_before_a_full_query_name_no_job_and_those_during_it_are_asked_about_again(
        backend, schedd, spec, clock, monkeypatch):
    tracker = Tracker(backend, backend.submit(spec))
    tracker.poll()
    schedd.execute(CLUSTER, 1)  # logged before the reconciliation's query: its ads show it
    query = schedd.query

    def query_while_job_2_starts(*args, **kwargs):
        ads = query(*args, **kwargs)
        schedd.execute(CLUSTER, 2)  # logged after the query answered, before the log is read
        return ads

    monkeypatch.setattr(schedd, "query", query_while_job_2_starts)
    clock.now += 300
    full = tracker.poll()
    monkeypatch.setattr(schedd, "query", query)
    assert full.complete and [e.proc_id for e in full.events] == [1, 2]
    assert next(int(ad["JobStatus"]) for ad in full.ads if int(ad["ProcId"]) == 2) == 1  # idle in that answer
    schedd.calls.clear()
    again = tracker.poll()  # no new event: job 2 is asked about again, job 1 is not
    ((name, args),) = schedd_calls(schedd)
    assert args["constraint"].startswith("ClusterId == 5001 && member(ProcId, {2})")
    assert [(int(ad["ProcId"]), int(ad["JobStatus"])) for ad in again.ads] == [(2, 2)]
    assert tracker.poll().schedd_calls == 0


def test_a_change_the_log_missed_is_caught_by_the_reconciliation(backend, schedd, spec, clock):
    tracker = Tracker(backend, backend.submit(spec))
    tracker.poll()
    schedd.update(CLUSTER, 6, RemoteUserCpu=1234.0)  # no event written
    clock.now += 299
    assert tracker.poll().ads == []  # not due yet: nothing asked
    clock.now += 1
    schedd.calls.clear()
    polled = tracker.poll()
    assert polled.complete and len(polled.ads) == N_JOBS
    assert next(ad for ad in polled.ads if int(ad["ProcId"]) == 6)["RemoteUserCpu"] == 1234.0
    assert tracker.poll().schedd_calls == 0  # the interval starts again


def test_a_job_that_ended_but_is_nowhere_makes_the_poll_a_full_one(backend, schedd, spec):
    tracker = Tracker(backend, backend.submit(spec))
    tracker.poll()
    schedd.execute(CLUSTER, 0)
    schedd.terminate(CLUSTER, 0, exit_code=0)
    schedd.history_ads.clear()  # rotated away before anyone read it
    polled = tracker.poll()
    assert polled.complete and len(polled.ads) == N_JOBS - 1


def test_more_changed_jobs_than_the_cap_take_one_full_query(schedd, spec, clock):
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, max_feed_jobs=3, clock=clock)
    tracker = Tracker(backend, backend.submit(spec))
    tracker.poll()
    for proc in range(4):
        schedd.execute(CLUSTER, proc)
    schedd.calls.clear()
    polled = tracker.poll()
    assert polled.complete and len(polled.ads) == N_JOBS and len(polled.events) == 4
    assert schedd_calls(schedd)[0][1]["constraint"] == 'ClusterId == 5001 && ProdopsSubmission == "7/reco/1"'


def test_a_new_tracker_starts_with_a_full_query(backend, schedd, spec):
    submission = backend.submit(spec)
    first = Tracker(backend, submission)
    first.poll()
    restarted = Tracker(backend, submission)  # a restart: the stored offset and cursor, a new feed
    restarted.offset, restarted.cursor = first.offset, first.cursor
    polled = restarted.poll()
    assert polled.complete and len(polled.ads) == N_JOBS and polled.events == []
    assert restarted.poll().schedd_calls == 0


def test_feed_off_queries_the_whole_submission_every_poll_and_says_so_once(schedd, spec, clock, caplog):
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, event_log_feed=False, clock=clock)
    tracker = Tracker(backend, backend.submit(spec))
    with caplog.at_level(logging.INFO, logger="prodops.batch.htcondor"):
        polls = [tracker.poll() for _ in range(3)]
    assert all(p.complete and len(p.ads) == N_JOBS and p.schedd_calls == 1 for p in polls)
    assert caplog.text.count("every cycle queries the whole submission") == 1


def test_no_event_log_after_the_first_full_query_falls_back(backend, schedd, spec, caplog):
    submission = backend.submit(spec)
    os.unlink(submission.event_log)  # the tracking host does not see the submit host's workdir
    tracker = Tracker(backend, submission)
    with caplog.at_level(logging.WARNING, logger="prodops.batch.htcondor"):
        polls = [tracker.poll() for _ in range(3)]
    assert tracker.feed.fallback
    assert all(p.complete and len(p.ads) == N_JOBS for p in polls)
    assert caplog.text.count("falls back to a full query") == 1


def test_without_a_feed_every_poll_is_full_as_before(backend, schedd, spec):
    submission = backend.submit(spec)
    first = backend.poll(submission, 0)
    again = backend.poll(submission, first.offset, first.history_cursor)
    assert first.complete and again.complete and len(again.ads) == N_JOBS
