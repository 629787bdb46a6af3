"""Notices through Airflow's SMTP and Apprise notifiers, to a real local SMTP server (aiosmtpd) and
a local HTTP webhook (Apprise's json:// service): who gets what, nothing rendered as a template,
and a channel that cannot be reached never fails the sender."""

from __future__ import annotations

import email
import json
import socket
import threading
from datetime import datetime, timezone
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prodops import notices
from prodops.notices import NoticeSettings, NoticesInvalid, parse_settings

pytestmark = pytest.mark.integration

REQUEST = {
    "id": 42, "experiment": "nova", "campaign": "prod5 {{ conn.prodops_db.password }}", "workflow": "mc_chain",
    "contact": "paola@example.org", "n_jobs": 20, "input_dataset": None, "request_memory_mb": 2000,
    "request_disk_mb": 10000, "max_wall_time_min": 600, "requested_priority": 40, "priority": 60,
    "justification": "<script>alert(1)</script> for the summer conference",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"from_email": "prodops@example.org", "disable_ssl": True, "disable_tls": True, "timeout": 5,
                  "retry_limit": 1}}))
    yield inbox
    controller.stop()


@pytest.fixture
def webhook(monkeypatch):
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_CHAT", json.dumps({
        "conn_type": "apprise", "extra": {"config": {"path": f"json://127.0.0.1:{server.server_port}/hook",
                                                     "tag": "all"}}}))
    yield posts
    server.shutdown()


SETTINGS = NoticeSettings(email_conn_id="prodops_smtp", chat_conn_id="prodops_chat",
                          approvers={"default": ("approvers@example.org",), "nova": ("nova-prod@example.org",)},
                          on_call=("oncall@example.org",))


def test_approvers_of_the_experiment_are_asked_by_email_and_chat(smtp, webhook):
    sent = notices.send(notices.approval_wanted(REQUEST, SETTINGS), settings=SETTINGS)
    assert sent == {"email": "sent", "chat": "sent"}
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["nova-prod@example.org"]
    assert message["Subject"].startswith("[prodops] Approval wanted: request 42 (nova/prod5")
    body = message.get_body(("html",)).get_content()
    # request text is data: escaped, and not rendered as a template (no connection password leaks)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>" not in body
    assert "{{ conn.prodops_db.password }}" in message["Subject"]
    [post] = webhook
    assert post["title"] == message["Subject"] and "/prodops/requests/42" in post["message"]


def test_the_contact_hears_of_the_decision_and_of_the_end_with_the_summary(smtp, webhook):
    notices.send(notices.decided(REQUEST, "approved", by="maria", note="go ahead"), settings=SETTINGS)
    notices.send(notices.ended(REQUEST, "failed", "stage gen: 2 of 20 jobs did not succeed",
                               "=== Stage gen: 18 succeeded, 2 failed"), settings=SETTINGS)
    assert [rcpt for rcpt, _ in smtp.messages] == [["paola@example.org"], ["paola@example.org"]]
    approved, ended = (m for _, m in smtp.messages)
    assert "approved by maria" in approved.get_body(("html",)).get_content()
    assert "Priority:  60 (approved)" in approved.get_body(("html",)).get_content()
    assert ended["Subject"].startswith("[prodops] Request failed")
    assert "18 succeeded, 2 failed" in ended.get_body(("html",)).get_content()
    assert len(webhook) == 2


def test_on_call_hears_when_an_outage_holds_a_run(smtp, webhook):
    notice = notices.outage_holds(REQUEST, SETTINGS, what="the retries of stage gen",
                                  blockers="dcache: is degraded (inferred from 78 failed jobs)")
    notices.send(notice, settings=SETTINGS)
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["oncall@example.org"] and "inferred from 78 failed jobs" in message.get_body(("html",)).get_content()


def test_a_channel_that_cannot_be_reached_is_reported_not_raised(monkeypatch, webhook):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_SMTP", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": free_port(),
        "extra": {"from_email": "prodops@example.org", "disable_ssl": True, "disable_tls": True, "timeout": 2,
                  "retry_limit": 1}}))
    sent = notices.send(notices.decided(REQUEST, "rejected"), settings=SETTINGS)
    assert sent["chat"] == "sent" and sent["email"] != "sent" and "Connection" in sent["email"]


def test_missing_connections_turn_their_channel_off(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PRODOPS_SMTP", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PRODOPS_CHAT", raising=False)
    assert notices.send(notices.decided(REQUEST, "expired"), settings=SETTINGS) == {}


def test_a_contact_that_is_not_an_address_gets_no_email(smtp):
    assert notices.send(notices.decided({**REQUEST, "contact": "paola"}, "approved"),
                        settings=NoticeSettings(email_conn_id="prodops_smtp")) == {}
    assert smtp.messages == []


def test_the_shipped_settings_load_and_bad_settings_name_the_field():
    shipped = notices.load_settings()
    assert shipped.email_conn_id == "prodops_smtp" and shipped.approvers_of("minerva") == shipped.approvers["default"]
    with pytest.raises(NoticesInvalid) as err:
        parse_settings({"email_conn_id": "a b", "on_call": ["not an address"], "approvers": ["x"], "cc": []})
    assert set(err.value.errors) == {"email_conn_id", "on_call", "approvers", "file"}


def test_preflight_that_waits_tells_on_call_once_before_it_defers(db_url, smtp, monkeypatch):
    from airflow.sdk.exceptions import TaskDeferred

    from prodops.constants import RequestState
    from prodops.request import service
    from prodops.request.decision import record_decision
    from prodops.sensors.preflight import PreflightSensor
    from tests.integration.triage.test_retry import report_dcache

    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.delenv("AIRFLOW_CONN_PRODOPS_CHAT", raising=False)
    form = {"experiment": "nova", "campaign": "held", "workflow": "demo-grid", "n_jobs": 2, "request_memory_mb": 100,
            "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 40, "justification": "preflight waits",
            "contact": "paola@example.org"}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="held", conf=form)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=40)
    report_dcache(db_url, "down")
    sensor = PreflightSensor(task_id="preflight", workflow="demo-grid", run_for_min=10, request_id=str(request_id))
    with pytest.raises(TaskDeferred):
        sensor.execute({})
    [(rcpt, message)] = smtp.messages
    assert rcpt == list(notices.load_settings().on_call)
    assert message["Subject"] == f"[prodops] Held by an outage: the start (preflight) of request {request_id}"
    assert "dcache" in message.get_body(("html",)).get_content()


def test_the_gate_asks_the_experiments_approvers_and_tells_the_contact_the_decision(db_url, smtp, monkeypatch):
    from prodops.operators.approval import RequestApprovalOperator, _ApprovalWanted
    from prodops.request import service

    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.delenv("AIRFLOW_CONN_PRODOPS_CHAT", raising=False)
    form = {"experiment": "nova", "campaign": "gate", "workflow": "demo", "n_jobs": 2, "request_memory_mb": 100,
            "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 40, "justification": "{{ 7 * 7 }}",
            "contact": "paola@example.org"}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="gate", conf=form)["request_id"]
    _ApprovalWanted("prodops_db", request_id)({})  # as HITL calls it: no template is rendered
    op = RequestApprovalOperator(task_id="await_approval", request_id=request_id, subject="s", body="b")
    answer = {"chosen_options": ["Approve"], "params_input": {"approved_priority": 55, "note": "ok"},
              "responded_by_user": {"id": "1", "name": "maria"}, "responded_at": datetime.now(timezone.utc)}
    op.execute_complete({}, answer)
    op.execute_complete({}, {**answer, "carried_over": True})  # the answer race: the next try completes with it
    (asked_to, asked), (told_to, told) = smtp.messages  # the contact is told once
    assert asked_to == list(notices.load_settings().approvers_of("nova"))
    assert "{{ 7 * 7 }}" in asked.get_body(("html",)).get_content()
    assert told_to == ["paola@example.org"] and told["Subject"].startswith("[prodops] Request approved")
    assert "approved by maria" in told.get_body(("html",)).get_content() and "Priority:  55" in told.get_body(
        ("html",)).get_content()
