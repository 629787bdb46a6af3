"""The service_status DAG parses without touching the database and reads like its docstring."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    from .test_dag_integrity import DAGS

    bag = DagBag(dag_folder=str(DAGS / "service_status.py"))
    assert bag.import_errors == {}
    return bag.dags["service_status"]


def test_pulls_feeds_between_loading_the_registry_and_marking_stale_services(dag):
    assert set(dag.task_ids) == {"load_registry", "pull_feed", "mark_stale", "infer_outages"}
    assert "pull_feed" in dag.get_task("load_registry").get_flat_relative_ids(upstream=False)
    assert dag.get_task("mark_stale").trigger_rule == "all_done"  # a failed feed must not stop staleness
    # inferred outages are posted and cleared every run, whatever the feeds did
    assert dag.get_task("infer_outages").upstream_task_ids == {"mark_stale"}
    assert dag.get_task("infer_outages").trigger_rule == "all_done"
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.dagrun_timeout == timedelta(minutes=15)
