"""The keepup DAGs are wired as the follower's lifecycle: follow, then trigger each batch's
request and each approval still to ask for, idempotently (fixed run ids, existing runs skipped)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .test_dag_integrity import DAGS


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "keepup_follower.py"))
    assert bag.import_errors == {}
    return bag.dags


def test_the_follower_follows_then_triggers_requests_and_approvals(dags):
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    dag = dags["keepup_follower"]
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.schedule == timedelta(minutes=10)
    follow = dag.get_task("follow_campaigns")
    assert follow.downstream_task_ids == {"trigger_runs", "campaigns_followed"}
    trigger = dag.get_task("trigger_runs")
    assert issubclass(trigger.operator_class, TriggerDagRunOperator)
    assert trigger.partial_kwargs["skip_when_already_exists"] is True and trigger.partial_kwargs["logical_date"] is None


def test_each_run_to_trigger_names_its_dag():
    from prodops.keepup.follow import FollowerRun

    run = FollowerRun(requests=[{"trigger_run_id": "keepup__k__000001", "conf": {"x": 1}}],
                      approvals=[{"trigger_run_id": "keepup_approval__k__abc", "conf": {"campaign": "k"}}])
    assert run.runs() == [
        {"trigger_dag_id": "keepup_campaign_approval", "trigger_run_id": "keepup_approval__k__abc", "conf": {"campaign": "k"}},
        {"trigger_dag_id": "production_request", "trigger_run_id": "keepup__k__000001", "conf": {"x": 1}},
    ]

def test_the_approval_asks_once_then_starts_the_follower(dags):
    from prodops.operators.campaign_approval import CampaignApprovalOperator

    dag = dags["keepup_campaign_approval"]
    gate = dag.get_task("approve_campaign")
    assert isinstance(gate, CampaignApprovalOperator) and gate.response_timeout is None
    assert gate.retries == 2 and gate.retry_delay == timedelta(seconds=10)  # the answer race's retries
    assert "note" in gate.params and gate.downstream_task_ids == {"start_following"}
    assert dag.get_task("start_following").trigger_dag_id == "keepup_follower"
