"""A failed production run ends its request, through the plugin's Airflow listener, unless the
request had already ended (report wrote how)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prodops import listeners
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
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


def test_the_plugin_registers_the_listener():
    import prodops_plugin

    assert listeners in prodops_plugin.ProdopsPlugin.listeners
