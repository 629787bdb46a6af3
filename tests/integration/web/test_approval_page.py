"""The approval gate reads the request back when it opens: the priority field starts at the requested
priority, and the body shows the totals, the services now, maintenance and the campaign's other requests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from markdown_it import MarkdownIt

from prodops.constants import RequestState
from prodops.operators.approval import RequestApprovalOperator
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.status import records
from prodops.status.events import from_native
from prodops.status.maintenance import MaintenanceWindow
from prodops.status.registry import load_registry, sync_registry
from prodops.store.db import connect, q

pytestmark = pytest.mark.integration
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FORM = {"experiment": "nova", "campaign": "gate", "workflow": "demo-grid", "n_jobs": 12, "request_memory_mb": 1024,
        "request_disk_mb": 2048, "max_wall_time_min": 90, "priority": 40, "justification": "approval gate facts",
        "contact": "ops@example.org"}


@pytest.fixture
def gate(db_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,operator:op,eve:admin")
    earlier = service.record_request(db_url, dag_id="production_request", run_id="gate-0", conf={**FORM, "priority": 10})
    record_decision(db_url, earlier["request_id"], state=RequestState.REJECTED, decided_by="anna")
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        records.insert_events(conn, from_native({"events": [
            {"service": "dcache", "state": "down", "time": (NOW - timedelta(minutes=10)).isoformat()},
            {"service": "samweb", "state": "up", "time": (NOW - timedelta(minutes=5)).isoformat()}]},
            feed="test", now=NOW))
        records.upsert_window(conn, MaintenanceWindow(starts_at=NOW + timedelta(days=2), ends_at=NOW + timedelta(days=2, hours=3),
                                                      reason="samweb <b>upgrade</b>", services=("samweb",)))
        records.upsert_window(conn, MaintenanceWindow(starts_at=NOW + timedelta(days=3), ends_at=NOW + timedelta(days=3, hours=1),
                                                      reason="tape robot", services=("enstore",), external_id="x"))
        conn.execute(q("end_request"), {"request_id": earlier["request_id"], "state": "rejected", "reason": "not now"})
        conn.commit()
    made = service.record_request(db_url, dag_id="production_request", run_id="gate-1", conf=FORM)
    op = RequestApprovalOperator(task_id="await_approval", request_id=made["request_id"], subject="s", body="b")
    op.open_with_request_facts(NOW)
    return op, earlier["request_id"]


def test_only_the_experiment_s_approvers_are_assigned(gate):
    """include/approvers.yaml gives every experiment the admin role: its users, not the operator."""
    op, _ = gate
    assert op.assigned_users == [{"id": "admin", "name": "admin"}, {"id": "eve", "name": "eve"}]
    assert op.hitl_summary["assigned_users"] == op.assigned_users  # what execute() hands to Airflow


def test_the_priority_field_starts_at_the_requested_priority(gate):
    op, _ = gate
    assert op.params["approved_priority"] == 40
    assert op.serialized_params["approved_priority"]["value"] == 40


def test_the_body_shows_totals_services_maintenance_and_the_campaign(gate):
    op, earlier = gate
    body = op.body
    assert "**Jobs in all:** 12" in body and "**Core-hours requested:** 18 " in body  # 12 x 1.5 h
    assert "**Memory in all:** 12 GB" in body and "**Disk in all:** 24 GB" in body
    assert "`dcache`: **down** since" in body and "`samweb`: **up**" in body
    assert "`samweb`: `samweb <b>upgrade</b>`" in body and "tape robot" not in body  # not a service it needs
    assert f"request {earlier}: **rejected**, no job ran (`not now`)" in body
    assert "<b>" not in MarkdownIt().render(body)
