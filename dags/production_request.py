"""
### Production request

One production request, end to end: the operator fills the form, an approver approves it
and sets the priority, prodops submits the workflow's stage to the batch system, tracks
every job in the triggerer (no worker slot held), and reports how the jobs ended.

`validate_request` -> `await_approval` -> `submit_stage` -> `track_stage` -> `report`
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task

from prodops.batch.registry import get_backend
from prodops.operators.approval import RequestApprovalOperator
from prodops.operators.track import TrackStageOperator
from prodops.request import service
from prodops.request.form import form_fields
from prodops.store.db import url_from_connection
from prodops.workflows import load_templates

BACKEND = "local"
log = logging.getLogger(__name__)


@dag(
    dag_id="production_request",
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
        subject="Approve production request {{ ti.xcom_pull('validate_request')['request_id'] }}"
        " ({{ params.experiment }} / {{ params.campaign }})",
        body=(
            "**Workflow:** {{ params.workflow }}  \n**Jobs:** {{ params.n_jobs }}  \n"
            "**Memory / disk / wall time:** {{ params.request_memory_mb }} MB / {{ params.request_disk_mb }} MB"
            " / {{ params.max_wall_time_min }} min  \n**Requested priority:** {{ params.priority }}  \n"
            "**Contact:** {{ params.contact }}  \n\n{{ params.justification }}"
        ),
    )

    @task(retries=2, retry_delay=timedelta(seconds=30))
    def submit_stage(request: dict) -> int:
        """Submit the stage's jobs through the batch boundary (idempotent on re-run)."""
        return service.submit_first_stage(url_from_connection(), get_backend(BACKEND), request["request_id"])

    submission_id = submit_stage(request)

    track = TrackStageOperator(task_id="track_stage", submission_id=submission_id, backend=BACKEND)

    @task(retries=1)
    def report(request: dict) -> dict:
        """Jobs by final state, exit codes, hold reasons, cpu and wall time, cpu efficiency."""
        report, text = service.report_stage(url_from_connection(), request["request_id"], request["stages"][0])
        log.info("\n%s", text)
        return report

    approval >> submission_id
    track >> report(request)


production_request()
