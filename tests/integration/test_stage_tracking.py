"""The stage trigger tracking one submission: a full run, a restart in the middle of one, catching up,
streaming triage and the firing floor (retry rounds: tests/integration/triage/test_stage_trigger.py)."""

from __future__ import annotations

import asyncio

import pytest

from prodops.batch.registry import register_backend
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.store.db import connect
from prodops.triggers.stage import StageTrigger

from .fakes import ScriptedBackend, job_ad
from .test_request_flow import FORM

pytestmark = pytest.mark.integration


@pytest.fixture
def scripted(db_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    backend = ScriptedBackend(cluster_id=31)
    register_backend("scripted", lambda: backend)
    made = service.record_request(db_url, dag_id="production_request", run_id="trig", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=50)
    backend.request_id = made["request_id"]
    backend.submission_id = service.submit_workflow_stage(db_url, backend, made["request_id"], "run")
    return backend


def stage_trigger(backend, name: str = "scripted", **kwargs) -> StageTrigger:
    """The stage's trigger, as track_stage defers to it."""
    return StageTrigger(request_id=backend.request_id, stage="run", backend=name, **kwargs)


def rows(db_url):
    with connect(db_url) as conn:
        return conn.execute("SELECT proc_id, state, exit_code FROM job_attempts ORDER BY proc_id").fetchall()


async def first_event(trigger: StageTrigger, timeout: float = 20):
    gen = trigger.run()
    try:
        return await asyncio.wait_for(gen.__anext__(), timeout)
    finally:
        await gen.aclose()


def test_trigger_reports_the_stage_complete_when_every_job_is_final(db_url, scripted):
    scripted.ads = [job_ad(31, p, 4, ExitCode=p % 2) for p in range(4)]
    trigger = stage_trigger(scripted, poll_interval=0.01, min_run_s=0)
    event = asyncio.run(first_event(trigger))
    assert (event.payload["status"], event.payload["rounds"]) == ("complete", 0)
    assert [(r["state"], r["exit_code"]) for r in rows(db_url)] == [("completed", p % 2) for p in range(4)]
    assert [v["proc_id"] for v in verdicts(db_url)] == [1, 3]  # the failures, triaged before the stage ends


def test_restarted_trigger_resumes_without_losing_or_doubling(db_url, scripted):
    scripted.ads = [job_ad(31, p, 2) for p in range(4)]

    async def interrupted():
        trigger = stage_trigger(scripted, poll_interval=0.05)
        with pytest.raises(asyncio.TimeoutError):
            await first_event(trigger, timeout=0.5)  # the triggerer dies mid-run

    asyncio.run(interrupted())
    assert scripted.polls >= 2 and [r["state"] for r in rows(db_url)] == ["running"] * 4

    scripted.ads = [job_ad(31, p, 4, ExitCode=0) for p in range(4)]
    trigger = stage_trigger(scripted, poll_interval=0.01, min_run_s=0)
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "complete"
    assert [(r["proc_id"], r["state"]) for r in rows(db_url)] == [(p, "completed") for p in range(4)]


def test_unknown_backend_is_an_error_event(db_url, scripted):
    trigger = stage_trigger(scripted, "nosuch", poll_interval=0.01, min_run_s=0)
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "error" and "unknown batch backend 'nosuch'" in event.payload["message"]


def test_a_cycle_that_left_work_for_later_is_followed_at_once_not_after_the_poll_interval(db_url, scripted,
                                                                                          monkeypatch):
    from prodops import tracking

    bounded = tracking.SubmissionTracker.__init__

    def two_rows_a_cycle(self, **kwargs):
        bounded(self, **{**kwargs, "max_rows": 2})

    monkeypatch.setattr(tracking.SubmissionTracker, "__init__", two_rows_a_cycle)
    scripted.ads = [job_ad(31, p, 2) for p in range(4)]  # running: not always written, so bounded
    trigger = stage_trigger(scripted, poll_interval=30)

    async def catch_up():
        gen = trigger.run()
        task = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(2)  # far less than the 30 s poll interval
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await gen.aclose()

    asyncio.run(catch_up())
    assert [r["state"] for r in rows(db_url)] == ["running"] * 4  # two cycles, two rows each


def verdicts(db_url):
    with connect(db_url) as conn:
        return conn.execute("SELECT proc_id, category, action FROM triage_verdicts ORDER BY proc_id").fetchall()


def test_failures_are_triaged_while_the_stage_runs(db_url, scripted):
    """A job that failed gets its verdict within a cycle, while the others still run."""
    scripted.ads = [job_ad(31, 0, 4, ExitCode=3), job_ad(31, 1, 2), job_ad(31, 2, 5, HoldReasonCode=34,
                    HoldReasonSubCode=102, HoldReason="Job has gone over memory limit of 100 megabytes.")]

    async def while_running():
        trigger = stage_trigger(scripted, poll_interval=0.05,
                                    triage_interval=0)
        with pytest.raises(asyncio.TimeoutError):
            await first_event(trigger, timeout=3)  # job 1 never ends here

    asyncio.run(while_running())
    assert [r["state"] for r in rows(db_url)] == ["completed", "running", "held"]
    found = verdicts(db_url)
    assert [v["proc_id"] for v in found] == [0, 2]  # each once, the running job not at all
    assert found[1]["action"] == "retry_more_resources"
    from prodops.request.views import request_detail

    with connect(db_url) as conn:
        request_id = conn.execute("SELECT request_id FROM submissions WHERE id = %(s)s",
                                  {"s": scripted.submission_id}).fetchone()["request_id"]
        [stage] = request_detail(conn, request_id)["stages"]
    assert sum(stage["live_triage"].values()) == 2 and stage["report"] is None  # on the page before the end


def test_streaming_triage_can_be_turned_off(db_url, scripted):
    scripted.ads = [job_ad(31, 0, 4, ExitCode=3), job_ad(31, 1, 2)]

    async def while_running():
        trigger = stage_trigger(scripted, poll_interval=0.05,
                                    triage_interval=-1)
        with pytest.raises(asyncio.TimeoutError):
            await first_event(trigger, timeout=1)

    asyncio.run(while_running())
    assert verdicts(db_url) == []


def test_a_trigger_never_fires_sooner_than_its_floor(db_url, scripted):
    """Airflow 3.3.2 marks a resumed task failed when its trigger fired before the deferred worker exited."""
    import time

    scripted.ads = [job_ad(31, p, 4, ExitCode=0) for p in range(4)]
    trigger = stage_trigger(scripted, poll_interval=0.01,
                                min_run_s=1.5)
    began = time.monotonic()
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "complete" and time.monotonic() - began >= 1.5
