"""The embedded Airflow the end-to-end tests run on is whole: DAGs parsed, plugin loaded, API authenticated."""

from __future__ import annotations

import time

COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def test_prodops_dags_parse_without_import_errors(airflow):
    assert airflow.import_errors() == []
    dag = airflow.get_dag("production_request")
    assert dag["is_stale"] is False


def test_every_component_is_healthy(airflow):
    deadline = time.monotonic() + 60
    while True:
        health = airflow.call("GET", "/api/v2/monitor/health")
        if all(health[c]["status"] == "healthy" for c in COMPONENTS) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert {c: health[c]["status"] for c in COMPONENTS} == dict.fromkeys(COMPONENTS, "healthy"), health


def test_prodops_connection_reaches_the_components(airflow):
    assert airflow.env["AIRFLOW_CONN_PRODOPS_DB"] == airflow.prodops_db_url
    assert airflow.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{airflow.base_url}/execution/"
