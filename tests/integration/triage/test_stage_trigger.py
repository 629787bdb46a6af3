"""The stage trigger on the real local pool and PostgreSQL: a job held for memory is triaged and
handed back for its retry while the other job of the stage still runs, the trigger then tracks
the first submission and the retry rounds together, and the stage completes when every job is
final: succeeded, or failed with no retry left."""

from __future__ import annotations

import asyncio

import pytest

from prodops.batch.local import LocalPoolBackend
from prodops.batch.registry import register_backend
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.store import records
from prodops.store.db import connect
from prodops.triage import retry
from prodops.triggers.stage import StageTrigger

pytestmark = pytest.mark.integration

FORM = {
    "experiment": "nova", "campaign": "streaming", "workflow": "demo", "n_jobs": 2, "request_memory_mb": 100,
    "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 50, "justification": "retries while it runs",
    "contact": "ops@example.org",
}


def test_serialize_round_trip():
    trigger = StageTrigger(request_id=3, stage="gen", backend="local", conn_id="prodops_db", poll_interval=2.0,
                           triage_interval=10.0, retry_batch_s=30.0, preflight_timeout_s=600.0,
                           waiting_since="2026-12-01T00:00:00+00:00", min_run_s=1.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "prodops.triggers.stage.StageTrigger"
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == trigger.serialize()
    assert kwargs["waiting_since"] == "2026-12-01T00:00:00+00:00" and kwargs["retry_batch_s"] == 30.0


async def first_event(trigger: StageTrigger, timeout: float):
    gen = trigger.run()
    try:
        return (await asyncio.wait_for(gen.__anext__(), timeout)).payload
    finally:
        await gen.aclose()


def job_states(db_url, submission_id: int) -> dict[int, str]:
    with connect(db_url) as conn:
        rows = conn.execute("SELECT proc_id, state FROM job_attempts WHERE submission_id = %(s)s",
                            {"s": submission_id}).fetchall()
    return {r["proc_id"]: r["state"] for r in rows}


def test_a_held_job_is_retried_while_the_rest_of_the_stage_runs(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    pool = LocalPoolBackend(pool_dir=tmp_path / "pool")
    register_backend("stage-trigger-pool", lambda: pool)
    conf = {**FORM, "workflow_options": {"records": 5, "sleep_s": 20, "exceed_memory": [1]}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="stream",
                                        conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    first = service.submit_workflow_stage(db_url, pool, request_id, "run")

    def trigger() -> StageTrigger:
        return StageTrigger(request_id=request_id, stage="run", backend="stage-trigger-pool", poll_interval=0.2,
                            triage_interval=0, retry_batch_s=0, preflight_timeout_s=600, min_run_s=0)

    event = asyncio.run(first_event(trigger(), timeout=60))
    assert (event["status"], event["jobs"], event["rounds"]) == ("ready", 1, 0)
    with connect(db_url) as conn:
        verdict = conn.execute("SELECT category, action, action_state FROM triage_verdicts"
                               " WHERE submission_id = %(s)s", {"s": first}).fetchall()
    assert [tuple(v.values()) for v in verdict] == [("infrastructure", "retry_more_resources", "planned")]

    # what the operator does when it wakes up: submit the round, while job 0 of the stage still runs
    second = retry.submit_round(db_url, pool, retry.stage_retries(db_url, request_id, "run").ready)
    assert job_states(db_url, first)[0] == "running"

    rounds = [second]
    for _ in range(5):  # the demo job hogs 2 x 100 + 64 MB: held again until it asks for enough
        event = asyncio.run(first_event(trigger(), timeout=90))
        if event["status"] != "ready":
            break
        rounds.append(retry.submit_round(db_url, pool, retry.stage_retries(db_url, request_id, "run").ready))
    assert event["status"] == "complete"
    assert (event["rounds"], event["resubmitted"]) == (len(rounds), len(rounds))
    with connect(db_url) as conn:
        attempts = records.jobs_of_stage(conn, request_id, "run")
        states = conn.execute("SELECT DISTINCT state FROM submissions WHERE request_id = %(r)s",
                              {"r": request_id}).fetchall()
        verdicts = conn.execute("SELECT attempt, action, action_state, retry_submission_id FROM triage_verdicts"
                                " WHERE request_id = %(r)s ORDER BY attempt", {"r": request_id}).fetchall()
    assert [s["state"] for s in states] == ["done"]
    latest = {a["job_index"]: a for a in attempts if a["latest"]}
    assert latest[0]["attempt"] == 1 and latest[0]["outcome"] == "succeeded"
    assert latest[1]["attempt"] == len(rounds) + 1
    retried = [v for v in verdicts if v["action"] == "retry_more_resources"]
    assert [(v["attempt"], v["action_state"], v["retry_submission_id"]) for v in retried] == [
        (k + 1, "done", rounds[k]) for k in range(len(rounds))]
    # the local pool samples memory: the job ends succeeded with enough, or held with its budget spent
    if latest[1]["outcome"] != "succeeded":
        assert latest[1]["outcome"] == "held" and len(rounds) == 2  # max_resource_retries
        assert verdicts[-1]["action"] not in ("retry", "retry_more_resources")

def test_service_retries_that_wait_are_announced_once_then_time_out(db_url, tmp_path, monkeypatch):
    from tests.integration.triage.test_retry import report_dcache

    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    pool = LocalPoolBackend(pool_dir=tmp_path / "pool")
    register_backend("stage-trigger-outage", lambda: pool)
    flag = tmp_path / "dcache-down"
    flag.write_text("")
    conf = {**FORM, "n_jobs": 1, "workflow_options": {"records": 5, "sleep_s": 0, "storage_down_flag": str(flag)}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="outage",
                                        conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    report_dcache(db_url, "down")
    service.submit_workflow_stage(db_url, pool, request_id, "run")

    def trigger(**kwargs) -> StageTrigger:
        return StageTrigger(request_id=request_id, stage="run", backend="stage-trigger-outage", poll_interval=0.2,
                            triage_interval=0, retry_batch_s=0, min_run_s=0, **kwargs)

    first = asyncio.run(first_event(trigger(preflight_timeout_s=600), timeout=60))
    assert (first["status"], first["jobs"]) == ("waiting", 1) and "dcache" in first["blockers"]
    # deferred again with the wait's start: no second announcement; past the timeout, it says so
    second = asyncio.run(first_event(trigger(preflight_timeout_s=1, waiting_since=first["waiting_since"]),
                                     timeout=60))
    assert second["status"] == "preflight_timeout" and second["waiting_since"] == first["waiting_since"]
    assert retry.stage_retries(db_url, request_id, "run").waiting.job_indexes == [0]
