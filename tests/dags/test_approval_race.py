"""The approval race replayed through Airflow's own scheduler code (issue 15, item 6).

Airflow 3.3.2 fails the try of a HITL task that was answered before the scheduler processed the
executor's ``success`` for the pause: the answer moved the instance on to ``queued``, and
``process_executor_events`` then takes it for a task killed externally. Here that order is made
by hand, deterministically: a real run of ``production_request`` in the metadata database, the
gate ``queued`` (or its resumed try already ``running``, as seen in e2e) with its HITL detail
answered as Airflow's REST PATCH writes it, and the executor's ``success`` for the same try. Airflow's scheduler code fails the try; prodops'
listener carries the answer over; the gate's next try completes with it.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

import devenv
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.store import records
from prodops.store.db import connect
from tests.integration.test_request_flow import FORM

from .test_dag_integrity import DAGS

DAG_ID = "production_request"
GATE = "await_approval"
ANSWERED_AT = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def airflow_metadata():
    """The session's private metadata database (tests/conftest.py), migrated."""
    devenv.migrate_airflow(os.environ)


class ExecutorThatSawThePause:
    """The one executor event of the race: the paused worker's exit, ``success``, for try 1."""

    def __init__(self, key) -> None:
        self.events = {key: ("success", None)}

    def get_event_buffer(self, dag_ids=None):
        events, self.events = self.events, {}
        return events

    def has_task(self, ti) -> bool:
        return False

    def send_callback(self, request) -> None:
        pass


def run_with_gate_answered(session, run_id: str, state: str):
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import get_or_create_dagrun
    from airflow.models.hitl import HITLDetail
    from airflow.utils.state import TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType

    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db(session=session)
    session.commit()
    bag = DagBag(dag_folder=str(DAGS / "production_request.py"))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None, session=session)
    dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
    now = datetime.now(timezone.utc)
    run = get_or_create_dagrun(
        dag=dag,
        run_id=run_id,
        logical_date=None,
        data_interval=None,
        run_after=now,
        conf=FORM,
        triggered_by=DagRunTriggeredByType.TEST,
        triggering_user_name="test",
        start_date=now,
        session=session,
    )
    gate = run.get_task_instance(GATE, session=session)
    gate.try_number, gate.state, gate.queued_by_job_id = 1, TaskInstanceState(state), None
    session.add(
        HITLDetail(
            ti_id=gate.id,
            options=["Approve", "Reject"],
            subject="Approve",
            body=None,
            defaults=None,
            multiple=False,
            params={},
            assignees=None,
            responded_at=ANSWERED_AT,
            responded_by={"id": "anna", "name": "anna"},
            chosen_options=["Approve"],
            params_input={"approved_priority": 90, "note": "go"},
        )
    )
    session.commit()
    return gate


@pytest.mark.parametrize(
    "resumed",
    [
        "queued",  # the answer requeued the gate; its resumed try has not started
        "running",  # the resumed try runs, and records the answer after the listener ran
    ],
)
def test_the_answer_of_a_try_the_scheduler_fails_in_the_race_is_kept(airflow_metadata, db_url, monkeypatch, resumed):
    from airflow import settings
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.state import TaskInstanceState

    monkeypatch.setenv("PRODOPS_DB_URL", db_url)
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    run_id = f"raced-{resumed}"
    made = service.record_request(db_url, dag_id=DAG_ID, run_id=run_id, conf=FORM)
    session = settings.Session()
    try:
        gate = run_with_gate_answered(session, run_id, resumed)
        SchedulerJobRunner.process_executor_events(
            executor=ExecutorThatSawThePause(gate.key), job_id=None, scheduler_dag_bag=DBDagBag(), session=session
        )
        session.commit()
        session.refresh(gate)
        assert gate.state == TaskInstanceState.UP_FOR_RETRY  # Airflow failed the answered try
    finally:
        session.close()

    with connect(db_url) as conn:
        request = records.get_request(conn, made["request_id"])
    assert (request["state"], request["priority"], request["decided_by"], request["answer_awaits_gate"]) == (
        "approved",
        90,
        "anna",
        True,
    )
    if resumed == "running":  # the failed try goes on and records the same answer (seen in e2e)
        record_decision(
            db_url,
            made["request_id"],
            state=RequestState.APPROVED,
            priority=90,
            decided_by="anna",
            note="go",
            decided_at=ANSWERED_AT,
        )

    from prodops.operators.approval import RequestApprovalOperator

    retry = RequestApprovalOperator(task_id=GATE, request_id=made["request_id"], subject="s")
    result = retry.execute({"ti": SimpleNamespace(try_number=2), "task_instance": SimpleNamespace(id=gate.id)})
    assert result["chosen_options"] == ["Approve"] and result["params_input"]["approved_priority"] == 90
    with connect(db_url) as conn:
        request = records.get_request(conn, made["request_id"])
    assert (request["state"], request["priority"], request["answer_awaits_gate"]) == ("approved", 90, False)
