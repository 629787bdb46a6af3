"""The job_accounting DAG, run whole with dag.test() on a real PostgreSQL: it accounts what ended."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

import devenv
from prodops.store.db import connect
from tests.integration.test_accounting import by, first_submission


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    from .test_dag_integrity import DAGS

    bag = DagBag(dag_folder=str(DAGS / "job_accounting.py"))
    assert bag.import_errors == {}
    return bag.dags["job_accounting"]


def test_runs_hourly_one_run_at_a_time(dag):
    assert set(dag.task_ids) == {"roll_up"}
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.dagrun_timeout == timedelta(minutes=30)


@pytest.fixture(scope="module")
def airflow_metadata():
    """dag.test() records its run: the session's private metadata database (tests/conftest.py) migrated."""
    devenv.migrate_airflow(os.environ)


@pytest.mark.integration
def test_a_run_accounts_the_attempts_that_ended(dag, airflow_metadata, db_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    with connect(db_url) as conn:
        first_submission(conn)
        conn.commit()
    run = dag.test()
    assert run.state == "success"
    with connect(db_url) as conn:
        sites = by(conn, "accounting_rollup", "site")
        assert {k: v["attempts"] for k, v in sites.items()} == {"Purdue": 2, "Wisconsin": 2}
        assert conn.execute("SELECT last_run_at FROM accounting_cursor").fetchone()["last_run_at"] is not None
