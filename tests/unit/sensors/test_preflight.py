"""The preflight sensor: passes at once, defers with a deadline, and fails at timeout naming the blockers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred

from prodops.sensors.preflight import PreflightSensor
from prodops.status.preflight import PreflightResult
from prodops.triggers.preflight import PreflightTrigger

BLOCKED = PreflightResult(ok=False, blockers=[{"service": "dcache", "state": "down", "until": None, "reason": "is down"}])


@pytest.fixture
def sensor(monkeypatch):
    monkeypatch.setattr("prodops.store.db.url_from_connection", lambda conn_id: "postgresql://unused")
    return PreflightSensor(task_id="preflight", workflow="demo-grid", run_for_min="90", timeout=600, poke_interval=5)


def test_passes_at_once_when_clear(sensor, monkeypatch):
    monkeypatch.setattr("prodops.status.preflight.check_workflow", lambda *a, **k: PreflightResult(ok=True))
    assert sensor.execute({})["status"] == "success"


def test_defers_to_the_trigger_with_an_absolute_deadline(sensor, monkeypatch):
    monkeypatch.setattr("prodops.status.preflight.check_workflow", lambda *a, **k: BLOCKED)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, PreflightTrigger)
    assert (trigger.workflow, trigger.run_for_s, trigger.poll_interval) == ("demo-grid", 5400.0, 5.0)
    left = (datetime.fromisoformat(trigger.deadline) - datetime.now(timezone.utc)).total_seconds()
    assert 590 < left <= 600
    assert deferred.value.method_name == "execute_complete"


def test_timeout_fails_naming_what_blocked(sensor):
    with pytest.raises(AirflowSensorTimeout, match="dcache: is down"):
        sensor.execute_complete({}, {"status": "timeout", "summary": BLOCKED.summary()})
    with pytest.raises(AirflowException, match="could not check: boom"):
        sensor.execute_complete({}, {"status": "error", "message": "boom"})
    assert sensor.execute_complete({}, {"status": "success", "summary": "ok"})["status"] == "success"


def test_bad_run_time_names_the_value():
    sensor = PreflightSensor(task_id="p", workflow="demo", run_for_min="soon")
    with pytest.raises(ValueError, match="run_for_min='soon' is not a number of minutes"):
        sensor._run_for()


def test_a_stage_preflight_checks_its_stage_and_tells_on_call_the_stage_is_held(monkeypatch):
    monkeypatch.setattr("prodops.store.db.url_from_connection", lambda conn_id: "postgresql://unused")
    asked, sent = [], []
    monkeypatch.setattr("prodops.status.preflight.check_workflow", lambda *a, **k: asked.append(k["stage"]) or BLOCKED)
    monkeypatch.setattr("prodops.notices.for_request", lambda url, rid: {"id": rid, "experiment": "nova",
                                                                         "campaign": "c", "workflow": "mc_chain"})
    monkeypatch.setattr("prodops.notices.send", lambda notice, *a, **k: sent.append(notice))
    sensor = PreflightSensor(task_id="preflight", workflow="mc_chain", stage="reco", run_for_min="10", request_id="7")
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert asked == ["reco"] and deferred.value.trigger.stage == "reco"
    [notice] = sent
    assert notice.subject == "[prodops] Held by an outage: stage reco (its preflight) of request 7"
    assert "dcache: is down" in notice.text
    with pytest.raises(AirflowSensorTimeout, match="Preflight for stage reco of workflow mc_chain gave up"):
        sensor.execute_complete({}, {"status": "timeout", "summary": BLOCKED.summary()})


def test_it_retries_unless_told_otherwise_because_a_fast_trigger_can_fail_a_try():
    assert PreflightSensor(task_id="p", workflow="demo", run_for_min=1).retries == 2
    assert PreflightSensor(task_id="p", workflow="demo", run_for_min=1, retries=0).retries == 0
