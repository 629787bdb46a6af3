"""The approval race (issue 15, item 6): Airflow 3.3.2 can fail the try of the gate that an
approver answered the moment it opened (``success`` seen while the instance is ``queued``).
prodops' listener carries the answer Airflow recorded over to the request, and the gate's next
try completes with it instead of asking again. The logic, without Airflow running."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator

from prodops import listeners
from prodops.constants import RequestState
from prodops.operators import approval
from prodops.operators.approval import RequestApprovalOperator, answer_event
from prodops.request import decision as decision_module
from prodops.request.decision import APPROVE, REJECT, Decision, carried_over, decision_of_answer

ANSWERED_AT = datetime(2026, 12, 2, 11, 0, tzinfo=timezone.utc)


def test_the_options_are_the_approval_operators():
    assert (APPROVE, REJECT) == (ApprovalOperator.APPROVE, ApprovalOperator.REJECT)


def test_an_answer_recorded_by_airflow_gives_the_decision():
    got = decision_of_answer(
        ["Approve"], {"approved_priority": 80, "note": "go"}, {"id": "7", "name": "anna"}, ANSWERED_AT
    )
    assert got == Decision(RequestState.APPROVED, 80, "anna", "go", ANSWERED_AT)
    reject = decision_of_answer(["Reject"], None, "ben", ANSWERED_AT)
    assert (reject.state, reject.priority, reject.decided_by, reject.note) == (RequestState.REJECTED, None, "ben", None)


@pytest.mark.parametrize(
    ("chosen", "params", "at"),
    [
        (None, None, None),  # no response yet
        (["Approve"], {}, None),  # chosen but never responded (not what Airflow writes)
        ([], {}, ANSWERED_AT),
        (["Approve", "Reject"], {}, ANSWERED_AT),
        (["Maybe"], {}, ANSWERED_AT),
    ],
)
def test_no_decision_without_exactly_one_of_approve_and_reject(chosen, params, at):
    assert decision_of_answer(chosen, params, None, at) is None


def test_a_priority_that_is_not_a_whole_number_is_left_to_the_requested_one():
    for bad in (True, "80", 80.5, None):
        assert decision_of_answer(["Approve"], {"approved_priority": bad}, None, ANSWERED_AT).priority is None


def row(**overrides) -> dict:
    fields = dict(
        answer_awaits_gate=True,
        state="approved",
        priority=80,
        decided_by="anna",
        decision_note="go",
        decided_at=ANSWERED_AT,
    )
    return {**fields, **overrides}


def test_only_a_carried_over_decision_is_given_to_the_gate():
    assert carried_over(row()) == Decision(RequestState.APPROVED, 80, "anna", "go", ANSWERED_AT)
    assert carried_over(row(state="rejected")).option == REJECT
    assert carried_over(row(answer_awaits_gate=False)) is None  # decided by the gate itself: a cleared gate asks again
    assert carried_over(row(state="failed")) is None  # the run ended meanwhile
    assert carried_over(row(state="pending_approval", answer_awaits_gate=False)) is None


def gate() -> RequestApprovalOperator:
    return RequestApprovalOperator(task_id="await_approval", request_id=1, subject="Approve request 1")


def test_the_event_is_one_the_gate_accepts():
    event = answer_event(Decision(RequestState.APPROVED, 80, "anna", None, ANSWERED_AT))
    assert event == {
        "chosen_options": ["Approve"],
        "params_input": {"approved_priority": 80, "note": None},
        "responded_at": ANSWERED_AT,
        "responded_by_user": {"id": "anna", "name": "anna"},
        "carried_over": True,  # recording it settles the carry-over
    }
    op = gate()
    op.validate_chosen_options(event["chosen_options"])
    op.validate_params_input(event["params_input"])  # the keys are exactly the gate's params
    assert op.params["approved_priority"] == 80


def test_the_gate_retries_so_a_try_failed_by_the_race_runs_again():
    assert gate().retries >= 1
    assert gate().retry_delay == approval.RACE_RETRY_DELAY


def context(try_number: int) -> dict:
    return {"ti": SimpleNamespace(try_number=try_number), "task_instance": SimpleNamespace(id="ti")}


def test_a_gate_with_a_carried_over_answer_completes_without_asking(monkeypatch):
    completed = []
    event = answer_event(Decision(RequestState.REJECTED, 10, "anna", "no", ANSWERED_AT))
    monkeypatch.setattr(RequestApprovalOperator, "answer_carried_over", lambda self: event)
    monkeypatch.setattr(
        RequestApprovalOperator, "execute_complete", lambda self, ctx, ev: completed.append(ev) or "done"
    )
    monkeypatch.setattr(
        RequestApprovalOperator,
        "open_with_request_facts",
        lambda self, now=None: pytest.fail("an answered gate must not ask again"),
    )
    assert gate().execute(context(2)) == "done"
    assert completed == [event]


def test_the_listener_reads_answers_only_where_airflow_s_database_is():
    """A task's own process gets the SDK's task instance: no metadata database there."""
    assert listeners.recorded_answer(SimpleNamespace(dag_id="production_request", task_id="await_approval")) is None


def test_the_listener_carries_over_only_the_gate_of_production_runs(monkeypatch):
    carried = []
    answer = {
        "chosen_options": ["Approve"],
        "params_input": {"approved_priority": 5, "note": None},
        "responded_by": {"id": "a", "name": "anna"},
        "responded_at": ANSWERED_AT,
    }
    monkeypatch.setattr(listeners, "recorded_answer", lambda ti: answer)
    monkeypatch.setattr(decision_module, "carry_over", lambda url, dag, run, d: carried.append((dag, run, d)))
    monkeypatch.setattr("prodops.store.db.component_url", lambda: "postgresql://unused")
    for dag_id, task_id in [("service_status", "await_approval"), ("production_request", "preflight")]:
        listeners.on_task_instance_failed(None, SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id="r"), None)
    assert carried == []
    listeners.on_task_instance_failed(
        None, SimpleNamespace(dag_id="production_request", task_id="await_approval", run_id="r"), None
    )
    assert carried == [("production_request", "r", Decision(RequestState.APPROVED, 5, "anna", None, ANSWERED_AT))]


def test_the_listener_never_raises(monkeypatch, caplog):
    def broken(ti):
        raise RuntimeError("metadata database gone")

    monkeypatch.setattr(listeners, "recorded_answer", broken)
    listeners.on_task_instance_failed(
        None, SimpleNamespace(dag_id="production_request", task_id="await_approval", run_id="r"), None
    )
    assert "Could not carry over the answer of production_request/r/await_approval" in caplog.text
