"""Each stage gated on its own services, on a real PostgreSQL: a later stage's preflight (sensor and
trigger) holds while a service that stage needs is down and passes once it is up, while the
request's own preflight (the workflow's services) lets the request start; a service nobody
reports holds a stage only where PRODOPS_PREFLIGHT_UNKNOWN says to wait."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import TaskDeferred

from prodops.sensors.preflight import PreflightSensor
from prodops.status import records
from prodops.status.events import from_native
from prodops.status.preflight import check_workflow
from prodops.status.registry import sync_file
from prodops.store.db import connect
from prodops.triggers.preflight import PreflightTrigger

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@pytest.fixture
def db(db_url, monkeypatch):
    """The registry loaded; the connection the sensor and its trigger read set."""
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    sync_file(db_url)
    return db_url


def report(db_url: str, **states: str) -> None:
    now = datetime.now(timezone.utc)
    events = [{"service": s.replace("_", "-"), "state": st, "time": now.isoformat(), "id": f"{s}-{st}-{now.timestamp()}"}
              for s, st in states.items()]
    with connect(db_url) as conn:
        records.insert_events(conn, from_native({"events": events}, feed="ops", now=now))
        conn.commit()


def check(db_url: str, workflow: str, stage: str | None = None):
    return check_workflow(db_url, workflow, run_for=HOUR, now=datetime.now(timezone.utc), stage=stage)


def test_a_later_stage_waits_for_its_own_service_while_the_request_starts(db):
    report(db, dcache="down", samweb="up", conditions_db="up")
    assert check(db, "keepup").ok  # the request's preflight: keepup as a whole needs nothing
    first, second = check(db, "keepup", "reco"), check(db, "keepup", "merge")
    assert not first.ok and [b["service"] for b in first.blockers] == ["dcache"]
    assert not second.ok and "dcache: is down" in second.summary()
    assert check(db, "mc_chain", "g4").ok and not check(db, "mc_chain", "reco").ok
    report(db, dcache="up")
    assert check(db, "keepup", "merge").ok and check(db, "mc_chain", "reco").ok


def test_the_second_stages_sensor_defers_and_its_trigger_passes_when_the_service_is_up(db):
    report(db, dcache="down")
    sensor = PreflightSensor(task_id="preflight", workflow="keepup", stage="merge", run_for_min="10", timeout=600,
                             poke_interval=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, PreflightTrigger) and (trigger.workflow, trigger.stage) == ("keepup", "merge")
    assert "dcache" in sensor._summary

    async def scenario():
        gen = trigger.run()
        try:
            waiting = asyncio.create_task(gen.__anext__())
            await asyncio.sleep(0.5)
            assert not waiting.done()  # still held: dcache is down
            await asyncio.to_thread(report, db, dcache="up")
            return await asyncio.wait_for(waiting, 20)
        finally:
            await gen.aclose()

    event = asyncio.run(scenario())
    assert event.payload["status"] == "success"
    assert sensor.execute_complete({}, event.payload)["status"] == "success"


def test_a_service_nobody_reports_holds_a_stage_only_when_preflight_waits_for_unknown(db, monkeypatch):
    # a fresh board: nothing reported, every service unknown
    monkeypatch.setenv("PRODOPS_PREFLIGHT_UNKNOWN", "pass")
    passed = check(db, "mc_chain", "reco")
    assert passed.ok and passed.unmonitored == ["conditions-db", "dcache"]
    assert "not waited for, as nobody reports them: conditions-db, dcache" in passed.summary()
    monkeypatch.setenv("PRODOPS_PREFLIGHT_UNKNOWN", "wait")
    held = check(db, "mc_chain", "reco")
    assert not held.ok and {b["service"] for b in held.blockers} == {"conditions-db", "dcache"}
    # a service reported down holds the stage either way
    monkeypatch.setenv("PRODOPS_PREFLIGHT_UNKNOWN", "pass")
    report(db, conditions_db="down")
    assert [b["service"] for b in check(db, "mc_chain", "reco").blockers] == ["conditions-db"]


def test_a_stage_the_workflow_does_not_have_is_named(db):
    with pytest.raises(ValueError, match="workflow 'mc_chain' has no stage 'reconstruction'"):
        check(db, "mc_chain", "reconstruction")


def test_a_retry_round_waits_for_its_stages_services(db, monkeypatch):
    """A round of reco's retries (here a node's failure, which implicates no service) is a submission
    into reco's services: it waits while dCache is down; a round of g4 goes at once."""
    from prodops.triage import retry

    report(db, dcache="down")
    node_failure = {"category": "infrastructure", "service": None, "job_index": 0, "attempt": 1}
    monkeypatch.setattr(retry, "_plan", lambda conn, request_id, stage, settings: retry.RetryRound(
        request_id=request_id, stage=stage, workflow="mc_chain", attempt=2, actions=(node_failure,), services=(),
        run_for_min=10, priority=50, submissions=()))
    held = retry.stage_retries(db, 1, "reco")
    assert (held.ready, held.waiting is not None) == (None, True) and "dcache: is down" in held.blockers
    assert retry.stage_retries(db, 1, "g4").ready is not None
