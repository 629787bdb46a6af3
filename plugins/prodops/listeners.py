"""Airflow listener of the prodops plugin: a failed production run ends its request.

Registered by ``ProdopsPlugin.listeners``; called in the component that changes the run's state
(the scheduler, or the api-server when a person marks it). It never raises: a listener error
must not disturb the scheduler.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

PRODUCTION_DAGS = frozenset({"production_request"})


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:
    if dag_run.dag_id not in PRODUCTION_DAGS:
        return
    try:
        from prodops.request.reconcile import end_failed_run
        from prodops.store.db import component_url

        end_failed_run(component_url(), dag_run.dag_id, dag_run.run_id, msg or "")
    except Exception:  # noqa: BLE001 - logged; the run's state is Airflow's, the request waits for a person
        log.exception("Could not end the request of failed run %s/%s", dag_run.dag_id, dag_run.run_id)
