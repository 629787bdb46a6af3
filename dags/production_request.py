"""
### Production request

One production request, end to end: the operator fills the form, an approver approves it
and sets the priority, preflight waits until the services the workflow needs are up and no
maintenance window overlaps the run, then each stage of the chosen workflow runs in turn:

`preflight` (the stage's own: the services it needs, its template's `services:` and the workflow's,
checked again right before it is submitted) -> `submit_stage` -> `track_stage` (in the triggerer: no worker slot held; each failed job is
triaged within a cycle of its end, service and infrastructure failures are resubmitted while the
rest of the stage runs, a service retry once preflight passes for that service, resource limits
at once with more of the resource, within the retry budgets; it ends when every job succeeded
or has no retry left) -> `triage_failures` (the stage's verdicts and summary: service,
infrastructure, code or unknown, with evidence; code failures are listed for a debug rerun) ->
`retry_failures` (what the final triage still planned, usually nothing) -> `collect_outputs`
(each job's latest attempt's manifest) -> `check_outputs` (Great Expectations; a failed critical expectation
stops the chain before the next stage) -> the next stage reads this stage's outputs.

`report` runs whatever failed: it summarises every stage that ran and records how the request
ended (`succeeded`, `failed`, `stopped_by_dq`) and why. Each workflow template in include/workflows is a
branch of task groups, one per stage; `choose_workflow` follows the one the form names.
Each stage's checked outputs are published as the Asset `prodops://<workflow>/<stage>`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import Asset, Param, TaskGroup, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from prodops import config, notices
from prodops.batch.registry import get_backend
from prodops.operators.approval import RequestApprovalOperator
from prodops.operators.retry import RetryFailuresOperator
from prodops.operators.track import TrackStageOperator
from prodops.phases.harvest import harvest_stage
from prodops.quality.stage import check_stage_outputs, collect_stage_outputs
from prodops.request import service
from prodops.request.end import failed_tasks
from prodops.request.form import form_fields
from prodops.sensors.preflight import PreflightSensor
from prodops.store.db import url_from_connection
from prodops.triage.service import format_summary, triage_stage
from prodops.workflows import WorkflowTemplate, load_templates

BACKEND = config.batch_backend()
TEMPLATES = load_templates()
log = logging.getLogger(__name__)


def stage_asset(workflow: str, stage: str) -> Asset:
    return Asset(f"prodops://{workflow}/{stage}", group="prodops-outputs")


@task(retries=2, retry_delay=timedelta(seconds=30))
def submit_stage(request: dict, stage: str) -> int:
    """Submit the stage's jobs from its inputs through the batch boundary (idempotent on re-run)."""
    return service.submit_workflow_stage(url_from_connection(), get_backend(BACKEND), request["request_id"], stage)


@task(retries=1)
def triage_failures(request: dict, stage: str) -> dict:
    """Per failed job: category (service, infrastructure, code, unknown), evidence lines, overlapping outages, action."""
    harvest_stage(url_from_connection(), request["request_id"], stage)  # the jobs' stdout phase markers
    summary = triage_stage(url_from_connection(), request["request_id"], stage)
    log.info("\n%s", format_summary(summary))
    return {k: summary[k] for k in ("failed", "by_category", "by_action", "to_retry")}


@task(retries=1)
def collect_outputs(request: dict, stage: str) -> dict:
    """Record what each succeeded job declares in its manifest, checked against the files."""
    return collect_stage_outputs(url_from_connection(), request["request_id"], stage)


@task(retries=0)
def check_outputs(request: dict, workflow: str, stage: str) -> dict:
    """Run the stage's data-quality suite; a critical failure fails this task and stops the chain."""
    results = check_stage_outputs(url_from_connection(), request["request_id"], stage, TEMPLATES[workflow])
    summary = {"passed": sum(r.success for r in results), "failed": [r.id for r in results if not r.success]}
    get_current_context()["outlet_events"][stage_asset(workflow, stage)].extra = {
        "request_id": request["request_id"], "dq": summary,
    }
    return summary


def workflow_branch(template: WorkflowTemplate, request) -> tuple[list, list]:
    """One task group per stage, chained: returns (first tasks, last tasks) of the branch."""
    first, previous = None, None
    with TaskGroup(group_id=template.name, tooltip=template.description):
        for stage in template.stages:
            with TaskGroup(group_id=stage.name, tooltip=f"stage {stage.name} of {template.name}"):
                gate = PreflightSensor(task_id="preflight", workflow=template.name, stage=stage.name,
                                       run_for_min="{{ params.max_wall_time_min }}", request_id=request["request_id"])
                submitted = submit_stage(request, stage.name)
                track = TrackStageOperator(task_id="track_stage", submission_id=submitted, backend=BACKEND)
                triaged = triage_failures(request, stage.name)
                retried = RetryFailuresOperator(task_id="retry_failures", request_id=request["request_id"],
                                                stage=stage.name, backend=BACKEND)
                collected = collect_outputs(request, stage.name)
                checked = check_outputs.override(outlets=[stage_asset(template.name, stage.name)])(
                    request, template.name, stage.name
                )
                gate >> submitted
                track >> triaged >> retried >> collected >> checked
            if previous is not None:
                previous >> gate
            first = first or gate
            previous = checked
    return first, previous


@dag(
    dag_id="production_request",
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["prodops", "production"],
    default_args={"owner": "prodops", "retries": 0},
    params={name: Param(**spec) for name, spec in form_fields(TEMPLATES).items()},
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

    preflight = PreflightSensor(
        task_id="preflight", workflow="{{ params.workflow }}", run_for_min="{{ params.max_wall_time_min }}",
        request_id=request["request_id"],
    )

    @task.branch
    def choose_workflow(request: dict) -> str:
        """Follow the branch of the workflow the form names."""
        template = TEMPLATES[request["workflow"]]
        return f"{template.name}.{template.stages[0].name}.preflight"

    @task(retries=1, trigger_rule="all_done")
    def report() -> dict:
        """Whatever failed: per stage that ran, jobs by final state, exit codes, hold reasons, cpu and wall
        time, cpu efficiency; then how the request ended and why. The run fails when a task failed."""
        ctx = get_current_context()
        made = ctx["ti"].xcom_pull(task_ids="validate_request")
        if not made:
            raise AirflowFailException("validate_request recorded no request (see its log); nothing to report")
        states = ctx["ti"].get_task_states(dag_id=ctx["dag"].dag_id, run_ids=[ctx["run_id"]]).get(ctx["run_id"], {})
        failed = failed_tasks({t: s for t, s in states.items() if t != "report"}, list(ctx["dag"].task_dict))
        db = url_from_connection()
        result = service.report_request(db, made["request_id"], failed_tasks=failed)
        log.info("\n%s", result.text)
        notices.send(notices.ended(notices.for_request(db, made["request_id"]), result.end.state.value,
                                   result.end.reason, result.text), ctx)
        if failed:
            raise AirflowFailException(f"request {made['request_id']} ended {result.end.state.value}: {result.end.reason}")
        return result.reports

    chosen = choose_workflow(request)
    approval >> preflight >> chosen
    done = report()
    for template in TEMPLATES.values():
        first, last = workflow_branch(template, request)
        chosen >> first
        last >> done


dag = production_request()
