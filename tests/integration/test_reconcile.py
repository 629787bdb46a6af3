"""A failed production run ends its request, through the plugin's Airflow listener, unless the
request had already ended (report wrote how)."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from prodops import listeners
from prodops.constants import RequestState
from prodops.operators.approval import RequestApprovalOperator
from prodops.request import service
from prodops.request.decision import carry_over, decision_of_answer, record_decision
from prodops.request.reconcile import end_failed_run
from prodops.store import records
from prodops.store.db import connect

from .test_request_flow import FORM

pytestmark = pytest.mark.integration


def state_of(db_url, request_id):
    with connect(db_url) as conn:
        row = records.get_request(conn, request_id)
    return row["state"], row["ended_reason"]


def test_a_request_left_waiting_by_its_failed_run_ends_failed(db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="raced", conf=FORM)
    assert end_failed_run(db_url, "production_request", "raced", "task await_approval failed") == made["request_id"]
    state, reason = state_of(db_url, made["request_id"])
    assert state == "failed" and "raced failed before prodops recorded" in reason and "await_approval" in reason
    assert end_failed_run(db_url, "production_request", "raced") is None  # once


def test_a_request_that_ended_keeps_its_end(db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="rejected", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.REJECTED, decided_by="anna")
    assert end_failed_run(db_url, "production_request", "rejected") is None
    assert state_of(db_url, made["request_id"])[0] == "rejected"
    assert end_failed_run(db_url, "production_request", "no-such-run") is None


def test_the_listener_ends_production_runs_only_and_never_raises(db_url, monkeypatch, caplog):
    made = service.record_request(db_url, dag_id="production_request", run_id="marked", conf=FORM)
    monkeypatch.setenv("PRODOPS_DB_URL", db_url)
    listeners.on_dag_run_failed(SimpleNamespace(dag_id="service_status", run_id="marked"), "")
    assert state_of(db_url, made["request_id"])[0] == "pending_approval"
    listeners.on_dag_run_failed(SimpleNamespace(dag_id="production_request", run_id="marked"), "marked failed")
    assert state_of(db_url, made["request_id"])[0] == "failed"
    monkeypatch.setenv("PRODOPS_DB_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    listeners.on_dag_run_failed(SimpleNamespace(dag_id="production_request", run_id="marked"), "")
    assert "Could not end the request of failed run production_request/marked" in caplog.text


def test_a_failed_workflow_run_ends_the_request_of_the_run_id_it_shares(db_url, monkeypatch):
    """A workflow DAG's run carries the entry point's run id (run_workflow triggers it so)."""
    made = service.record_request(db_url, dag_id="production_request", run_id="wf-marked", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=50)
    monkeypatch.setenv("PRODOPS_DB_URL", db_url)
    listeners.on_dag_run_failed(SimpleNamespace(dag_id="keepup_follower", run_id="wf-marked"), "")
    assert state_of(db_url, made["request_id"])[0] == "approved"
    listeners.on_dag_run_failed(SimpleNamespace(dag_id="workflow_demo", run_id="wf-marked"), "marked failed")
    assert state_of(db_url, made["request_id"])[0] == "failed"


def test_the_plugin_registers_the_listener():
    import prodops_plugin

    assert listeners in prodops_plugin.ProdopsPlugin.listeners


APPROVED_AT = datetime(2026, 12, 2, 11, 0, tzinfo=timezone.utc)


def test_an_answer_carried_over_from_a_failed_try_is_what_the_gates_next_try_completes_with(db_url, monkeypatch):
    """The answer race (issue 15, item 6): the listener puts the answer Airflow recorded on the
    request; the gate's next try reads it from there and records it as its own decision."""
    made = service.record_request(db_url, dag_id="production_request", run_id="raced", conf=FORM)
    answer = decision_of_answer(
        ["Approve"], {"approved_priority": 77, "note": "go"}, {"id": "a", "name": "anna"}, APPROVED_AT
    )
    assert carry_over(db_url, "production_request", "raced", answer) == made["request_id"]
    with connect(db_url) as conn:
        request = records.get_request(conn, made["request_id"])
    assert (request["state"], request["priority"], request["decided_by"], request["decision_note"]) == (
        "approved",
        77,
        "anna",
        "go",
    )
    assert request["answer_awaits_gate"] and request["decided_at"] == APPROVED_AT

    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    gate = RequestApprovalOperator(task_id="await_approval", request_id=made["request_id"], subject="s")
    event = gate.answer_carried_over()
    assert event["chosen_options"] == ["Approve"] and event["params_input"] == {"approved_priority": 77, "note": "go"}

    assert carry_over(db_url, "production_request", "raced", answer) == made["request_id"]  # a second failed try
    assert carry_over(db_url, "production_request", "no-such-run", answer) is None
    other = decision_of_answer(["Reject"], {}, "ben", APPROVED_AT.replace(minute=5))
    assert carry_over(db_url, "production_request", "raced", other) is None  # a decision taken is kept

    # the try Airflow failed may record the same answer after the listener ran (the stale success
    # came while it ran): the next try still completes with it
    record_decision(
        db_url, made["request_id"], state=RequestState.APPROVED, priority=77, decided_by="anna", decided_at=APPROVED_AT
    )
    assert gate.answer_carried_over()["chosen_options"] == ["Approve"]
    # the next try completes with it: the answer is the gate's own now, a later clear asks again
    record_decision(
        db_url,
        made["request_id"],
        state=RequestState.APPROVED,
        priority=77,
        decided_by="anna",
        decided_at=APPROVED_AT,
        settles_carried_over=True,
    )
    assert gate.answer_carried_over() is None
    # the failed try recorded the answer before the listener ran: carried over all the same
    assert carry_over(db_url, "production_request", "raced", answer) == made["request_id"]
    assert gate.answer_carried_over()["chosen_options"] == ["Approve"]
    record_decision(
        db_url, made["request_id"], state=RequestState.REJECTED, decided_by="ben", settles_carried_over=True
    )
    assert carry_over(db_url, "production_request", "raced", answer) is None  # another answer since (a cleared gate)


def test_a_request_whose_answer_was_carried_over_ends_with_its_failed_run(db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="raced-out", conf=FORM)
    answer = decision_of_answer(["Approve"], {}, "anna", APPROVED_AT)
    carry_over(db_url, "production_request", "raced-out", answer)
    assert (
        end_failed_run(db_url, "production_request", "raced-out", "no try of await_approval left") == made["request_id"]
    )
    assert state_of(db_url, made["request_id"])[0] == "failed"
