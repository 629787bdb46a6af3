"""
### Production request

The one "new request" entry point: the operator fills the form, `validate_request` checks it
and records the request, an approver approves it and sets the priority (`await_approval`),
then `run_workflow` runs the lifecycle of the workflow the form names: the DAG
`workflow_<name>` (one per template in include/workflows, `dags/workflows.py`), triggered under
this run's id and followed from the triggerer until it ends. This run ends as that run did, so
one run says how the request went; the workflow's run holds task instances of that workflow only.

A rejected or expired request skips `run_workflow`.
"""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task

from prodops.constants import REQUEST_DAG, WORKFLOW_DAG_PREFIX
from prodops.operators.approval import RequestApprovalOperator
from prodops.request import service
from prodops.request.form import form_fields
from prodops.store.db import url_from_connection
from prodops.workflows import load_templates

POLL_S = 5
"""How often the triggerer looks at the workflow run's state (one indexed query)."""


@dag(
    dag_id=REQUEST_DAG,
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["prodops", "production"],
    default_args={"owner": "prodops", "retries": 0},
    params={name: Param(**spec) for name, spec in form_fields(load_templates()).items()},
    max_active_runs=16,
)
def production_request() -> None:
    @task(retries=0, multiple_outputs=True)
    def validate_request() -> dict:
        """Check every field of the form and record the request as pending approval."""
        ctx = get_current_context()
        return service.record_request(
            url_from_connection(), dag_id=ctx["dag"].dag_id, run_id=ctx["run_id"], conf=dict(ctx["params"])
        )

    request = validate_request()

    approval = RequestApprovalOperator(
        task_id="await_approval",
        request_id=request["request_id"],
        subject="{{ ti.xcom_pull('validate_request')['approval_subject'] }}",
        body="{{ ti.xcom_pull('validate_request')['approval_body'] }}",
    )

    run_workflow = TriggerDagRunOperator(
        task_id="run_workflow",
        doc_md="Runs the request's workflow DAG under this run's id and waits, in the triggerer, until it ends.",
        trigger_dag_id=WORKFLOW_DAG_PREFIX + "{{ params.workflow }}",
        trigger_run_id="{{ run_id }}",
        conf={"request_id": request["request_id"], "max_wall_time_min": request["max_wall_time_min"]},
        wait_for_completion=True,
        deferrable=True,
        poke_interval=POLL_S,
        allowed_states=["success"],
        failed_states=["failed"],
    )

    approval >> run_workflow


dag = production_request()
