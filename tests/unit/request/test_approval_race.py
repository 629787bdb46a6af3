"""A retried approval gate honours the answer an approver gave to the try Airflow failed in the
answer race (Airflow 3.3.2: ``success`` seen while the instance is ``queued``), instead of asking again."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from uuid import uuid4

import pytest
from airflow.sdk.api.datamodels._generated import HITLDetailResponse, HITLUser

from prodops.operators import approval
from prodops.operators.approval import RequestApprovalOperator, recorded_answer

ANSWERED_AT = datetime(2026, 12, 2, 11, 0, tzinfo=timezone.utc)


def answered(**overrides) -> HITLDetailResponse:
    fields = dict(
        response_received=True,
        responded_by_user=HITLUser(id="7", name="anna"),
        responded_at=ANSWERED_AT,
        chosen_options=["Approve"],
        params_input={"approved_priority": 80, "note": "go"},
    )
    return HITLDetailResponse(**{**fields, **overrides})


def test_a_recorded_answer_becomes_the_event_the_gate_completes_with():
    assert recorded_answer(answered()) == {
        "chosen_options": ["Approve"],
        "params_input": {"approved_priority": 80, "note": "go"},
        "responded_at": ANSWERED_AT,
        "responded_by_user": {"id": "7", "name": "anna"},
    }
    reject = recorded_answer(answered(chosen_options=["Reject"], params_input=None))
    assert reject["chosen_options"] == ["Reject"] and reject["params_input"] == {}


@pytest.mark.parametrize(
    "detail",
    [
        None,
        answered(response_received=False, responded_by_user=None, responded_at=None, chosen_options=None),
        answered(chosen_options=[]),
    ],
)
def test_no_answer_recorded_means_ask(detail):
    assert recorded_answer(detail) is None


def gate() -> RequestApprovalOperator:
    return RequestApprovalOperator(task_id="await_approval", request_id=1, subject="Approve request 1")


def context(try_number: int) -> dict:
    return {"ti": SimpleNamespace(try_number=try_number), "task_instance": SimpleNamespace(id=uuid4())}


def test_the_gate_retries_so_a_try_failed_by_the_race_runs_again():
    assert gate().retries >= 1
    assert gate().retry_delay == approval.RACE_RETRY_DELAY


def test_only_a_retry_reads_the_answer_and_reads_its_own_task_instance(monkeypatch):
    asked = []

    def detail_of(ti_id):
        asked.append(ti_id)
        return answered()

    monkeypatch.setattr("airflow.sdk.execution_time.hitl.get_hitl_detail_content_detail", detail_of)
    assert gate().answer_of_an_earlier_try(context(1)) is None and asked == []
    second = context(2)
    assert gate().answer_of_an_earlier_try(second)["chosen_options"] == ["Approve"]
    assert asked == [second["task_instance"].id]


def test_a_retry_with_no_detail_asks_again(monkeypatch):
    def not_found(ti_id):
        raise LookupError("HITLDetail not found")

    monkeypatch.setattr("airflow.sdk.execution_time.hitl.get_hitl_detail_content_detail", not_found)
    assert gate().answer_of_an_earlier_try(context(2)) is None


def test_a_retry_answered_already_completes_without_asking(monkeypatch):
    completed = []
    monkeypatch.setattr("airflow.sdk.execution_time.hitl.get_hitl_detail_content_detail", lambda ti_id: answered())
    monkeypatch.setattr(
        RequestApprovalOperator, "execute_complete", lambda self, ctx, event: completed.append(event) or "done"
    )
    monkeypatch.setattr(
        RequestApprovalOperator,
        "open_with_request_facts",
        lambda self, now=None: pytest.fail("a retry answered already must not ask again"),
    )
    assert gate().execute(context(2)) == "done"
    assert completed[0]["responded_by_user"] == {"id": "7", "name": "anna"}
