"""
### Workflow DAGs: one per workflow template

`workflow_<name>` runs the lifecycle of one production request of that workflow, triggered by
`production_request` (the request form and its approval gate) under the same run id, with the
request's id and wall time as parameters. Triggered by hand, its submits refuse a request that is
not approved or names another workflow.

`preflight` (the workflow's services up, no maintenance window over the run) -> per stage, in order: `preflight` (the stage's own services, checked again
right before it is submitted) -> `submit_stage` -> `track_stage` (in the triggerer: no worker slot
held; each failed job is triaged within a cycle of its end, service and infrastructure failures
are resubmitted while the rest of the stage runs, a service retry once preflight passes for that
service, resource limits at once with more of the resource, within the retry budgets) ->
`triage_failures` (the stage's verdicts and summary: service, infrastructure, code or unknown,
with evidence; code failures are listed for a debug rerun) -> `retry_failures` (what the final
triage still planned, usually nothing) -> `collect_outputs` (each job's latest attempt's manifest)
-> `check_outputs` (Great Expectations; a failed critical expectation stops the chain) -> the next
stage reads this stage's outputs.

`report` runs whatever failed: it summarises every stage that ran and records how the request
ended (`succeeded`, `failed`, `stopped_by_dq`) and why. Each stage's checked outputs are published
as the Asset `prodops://<workflow>/<stage>`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DAG, Asset, Param, TaskGroup, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from prodops import config, notices
from prodops.batch.registry import get_backend
from prodops.constants import REQUEST_DAG, workflow_dag_id
from prodops.operators.retry import RetryFailuresOperator
from prodops.operators.track import TrackStageOperator
from prodops.phases.harvest import harvest_stage
from prodops.quality.stage import check_stage_outputs, collect_stage_outputs
from prodops.request import service
from prodops.request.end import failed_tasks
from prodops.sensors.preflight import PreflightSensor
from prodops.store.db import url_from_connection
from prodops.triage.service import format_summary, triage_stage
from prodops.workflows import WorkflowTemplate, load_templates

BACKEND = config.batch_backend()
TEMPLATES = load_templates()
RUN_FOR_MIN = "{{ params.max_wall_time_min }}"
REQUEST_ID = "{{ params.request_id }}"
log = logging.getLogger(__name__)


def stage_asset(workflow: str, stage: str) -> Asset:
    return Asset(f"prodops://{workflow}/{stage}", group="prodops-outputs")


@task(retries=2, retry_delay=timedelta(seconds=30))
def submit_stage(workflow: str, stage: str) -> int:
    """Submit the stage's jobs from its inputs through the batch boundary (idempotent on re-run)."""
    return service.submit_workflow_stage(url_from_connection(), get_backend(BACKEND), _request_id(), stage, workflow)


def _request_id() -> int:
    return int(get_current_context()["params"]["request_id"])


@task(retries=1)
def triage_failures(stage: str) -> dict:
    """Per failed job: category (service, infrastructure, code, unknown), evidence lines, overlapping outages, action."""
    harvest_stage(url_from_connection(), _request_id(), stage)  # the jobs' stdout phase markers
    summary = triage_stage(url_from_connection(), _request_id(), stage)
    log.info("\n%s", format_summary(summary))
    return {k: summary[k] for k in ("failed", "by_category", "by_action", "to_retry")}


@task(retries=1)
def collect_outputs(stage: str) -> dict:
    """Record what each succeeded job declares in its manifest, checked against the files."""
    return collect_stage_outputs(url_from_connection(), _request_id(), stage)


@task(retries=0)
def check_outputs(workflow: str, stage: str) -> dict:
    """Run the stage's data-quality suite; a critical failure fails this task and stops the chain."""
    results = check_stage_outputs(url_from_connection(), _request_id(), stage, TEMPLATES[workflow])
    summary = {"passed": sum(r.success for r in results), "failed": [r.id for r in results if not r.success]}
    get_current_context()["outlet_events"][stage_asset(workflow, stage)].extra = {
        "request_id": _request_id(), "dq": summary,
    }
    return summary


@task(retries=1, trigger_rule="all_done")
def report() -> dict:
    """Whatever failed: per stage that ran, jobs by final state, exit codes, hold reasons, cpu and wall
    time, cpu efficiency; then how the request ended and why. The run fails when a task failed."""
    ctx = get_current_context()
    request_id = _request_id()
    states = ctx["ti"].get_task_states(dag_id=ctx["dag"].dag_id, run_ids=[ctx["run_id"]]).get(ctx["run_id"], {})
    failed = failed_tasks({t: s for t, s in states.items() if t != "report"}, list(ctx["dag"].task_dict))
    db = url_from_connection()
    result = service.report_request(db, request_id, failed_tasks=failed)
    log.info("\n%s", result.text)
    notices.send(notices.ended(notices.for_request(db, request_id), result.end.state.value, result.end.reason,
                               result.text), ctx)
    if failed:
        raise AirflowFailException(f"request {request_id} ended {result.end.state.value}: {result.end.reason}")
    return result.reports


def stage_groups(template: WorkflowTemplate) -> tuple[list, list]:
    """One task group per stage, chained: returns (first task, last task)."""
    first, previous = None, None
    for stage in template.stages:
        with TaskGroup(group_id=stage.name, tooltip=f"stage {stage.name} of {template.name}"):
            gate = PreflightSensor(task_id="preflight", workflow=template.name, stage=stage.name,
                                   run_for_min=RUN_FOR_MIN, request_id=REQUEST_ID)
            submitted = submit_stage(template.name, stage.name)
            track = TrackStageOperator(task_id="track_stage", submission_id=submitted, backend=BACKEND)
            triaged = triage_failures(stage.name)
            retried = RetryFailuresOperator(task_id="retry_failures", request_id=REQUEST_ID,
                                            stage=stage.name, backend=BACKEND)
            collected = collect_outputs(stage.name)
            checked = check_outputs.override(outlets=[stage_asset(template.name, stage.name)])(
                template.name, stage.name
            )
            gate >> submitted
            track >> triaged >> retried >> collected >> checked
        if previous is not None:
            previous >> gate
        first = first or gate
        previous = checked
    return first, previous


def workflow_dag(template: WorkflowTemplate) -> DAG:
    with DAG(
        dag_id=workflow_dag_id(template.name),
        description=template.description,
        schedule=None,
        catchup=False,
        doc_md=__doc__,
        tags=["prodops", "production", "workflow"],
        default_args={"owner": "prodops", "retries": 0},
        params={
            "request_id": Param(1, type="integer", minimum=1, title="Request",
                                description=f"An approved request of workflow {template.name}; new requests"
                                            f" come through {REQUEST_DAG}, which runs this DAG."),
            "max_wall_time_min": Param(60, type="integer", minimum=1, title="Wall time (min)",
                                       description="The request's wall time per job: how far ahead preflight"
                                                   " looks for maintenance windows."),
        },
        max_active_runs=16,
    ) as workflow:
        preflight = PreflightSensor(task_id="preflight", workflow=template.name, run_for_min=RUN_FOR_MIN,
                                    request_id=REQUEST_ID)
        first, last = stage_groups(template)
        preflight >> first
        last >> report()
    return workflow


for _template in TEMPLATES.values():
    globals()[workflow_dag_id(_template.name)] = workflow_dag(_template)
