"""Airflow listener of the prodops plugin: a production request follows what happened to its run.

Registered by ``ProdopsPlugin.listeners``; called in the component that changes a state (the
scheduler, or the api-server when a person marks a run or a task). It never raises: a listener
error must not disturb the scheduler.

- A failed production run (the entry point's, or its workflow DAG's, which shares its run id)
  ends its request (``on_dag_run_failed``).
- A try of the approval gate that Airflow fails after an approver answered it (the answer race
  of Airflow 3.3.2: the scheduler sees the pause's ``success`` while the instance is ``queued``, or
  already ``running`` the answer) carries its answer over to the request (``on_task_instance_failed``): the gate's next try completes with
  it, where a task could not read it (3.3.2's task supervisor refuses the HITL read) and would
  erase it by asking again.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

APPROVAL_TASK = "await_approval"


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:
    from prodops.constants import request_run_of

    request_dag = request_run_of(dag_run.dag_id)
    if request_dag is None:
        return
    try:
        from prodops.request.reconcile import end_failed_run
        from prodops.store.db import component_url

        end_failed_run(component_url(), request_dag, dag_run.run_id, msg or "")
    except Exception:  # noqa: BLE001 - logged; the run's state is Airflow's, the request waits for a person
        log.exception("Could not end the request of failed run %s/%s", dag_run.dag_id, dag_run.run_id)


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    from prodops.constants import REQUEST_DAG

    if task_instance.dag_id != REQUEST_DAG or task_instance.task_id != APPROVAL_TASK:
        return
    try:
        answer = recorded_answer(task_instance)
        if answer is None:
            return
        from prodops.request.decision import carry_over, decision_of_answer
        from prodops.store.db import component_url

        decision = decision_of_answer(**answer)
        if decision is not None:
            carry_over(component_url(), task_instance.dag_id, task_instance.run_id, decision)
    except Exception:  # noqa: BLE001 - logged; the gate's next try asks the approver again
        log.exception(
            "Could not carry over the answer of %s/%s/%s",
            task_instance.dag_id,
            task_instance.run_id,
            task_instance.task_id,
        )


def recorded_answer(task_instance: Any) -> dict[str, Any] | None:
    """The response in the HITL detail of ``task_instance``'s try, read from Airflow's metadata
    database; None where that database is not reachable (a task's own process, which gets the
    SDK's task instance, not the ORM one) or no response is recorded."""
    from airflow.models.taskinstance import TaskInstance

    if not isinstance(task_instance, TaskInstance):
        return None
    from sqlalchemy import select

    from airflow import settings
    from airflow.models.hitl import HITLDetail

    # its own connection: the caller's session (the scheduler's) is left untouched. By the task
    # instance's keys, as committed: a try that Airflow moved on gets its new id at flush.
    query = (
        select(HITLDetail.chosen_options, HITLDetail.params_input, HITLDetail.responded_by, HITLDetail.responded_at)
        .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
        .where(
            TaskInstance.dag_id == task_instance.dag_id,
            TaskInstance.run_id == task_instance.run_id,
            TaskInstance.task_id == task_instance.task_id,
            TaskInstance.map_index == task_instance.map_index,
        )
    )
    if settings.engine is None:  # an ORM task instance but no configured database: nothing to read
        return None
    with settings.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.responded_at is None:
        return None
    return {
        "chosen_options": row.chosen_options,
        "params_input": row.params_input,
        "responded_by": row.responded_by,
        "responded_at": row.responded_at,
    }
