"""The request's steps as plain functions: what each task of production_request and of the workflow DAGs does."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prodops.batch.base import Backend
from prodops.constants import REQUEST_DAG, RequestState, workflow_dag_id
from prodops.exceptions import ProdopsError, RequestInvalid
from prodops.report import build_report, format_report
from prodops.request.end import RequestEnd, decide_end
from prodops.request.approval_text import approval_body, approval_subject
from prodops.request.form import validate_request
from prodops.stage import stage_input_files, stage_spec, submit_stage
from prodops.store import records
from prodops.store.db import connect, q
from prodops.workflows import load_templates

log = logging.getLogger(__name__)


def record_request(db_url: str, *, dag_id: str, run_id: str, conf: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the form and record the request as pending approval; nothing is written if invalid."""
    templates = load_templates()
    try:
        request = validate_request(conf, templates)
    except RequestInvalid as err:
        log.error("%s\nNothing was recorded. Fix the fields above and trigger the request again.", err)
        raise
    template = templates[request.workflow]
    with connect(db_url) as conn:
        request_id = records.upsert_request(conn, dag_id=dag_id, run_id=run_id, form=request.as_form())
        records.upsert_stages(conn, request_id, [s.name for s in template.stages])
        conn.commit()
    log.info("Recorded request %d (%s/%s, workflow %s): pending approval",
             request_id, request.experiment, request.campaign, request.workflow)
    return {"request_id": request_id, "workflow": request.workflow, "stages": [s.name for s in template.stages],
            "max_wall_time_min": request.max_wall_time_min,
            "approval_subject": approval_subject(request_id, request), "approval_body": approval_body(request)}


class RequestNotRunnable(ProdopsError, RuntimeError):
    """A stage was asked to run for a request that may not run it (missing, not approved, or of
    another workflow: a workflow DAG triggered by hand with the wrong request id)."""


_APPROVED_ONCE = frozenset(
    s.value for s in (RequestState.APPROVED, RequestState.RUNNING, RequestState.SUCCEEDED, RequestState.FAILED)
)
"""States of a request that was approved; re-running its submit finds the submission made then."""


def _runnable(request: Mapping[str, Any] | None, request_id: int, workflow: str | None) -> Mapping[str, Any]:
    if request is None:
        raise RequestNotRunnable(f"request {request_id} is not in the prodops database; new requests come"
                                 f" through {REQUEST_DAG} (the request form), which runs their workflow once approved")
    if workflow is not None and request["workflow"] != workflow:
        raise RequestNotRunnable(f"request {request_id} runs workflow {request['workflow']!r}, not {workflow!r};"
                                 f" its DAG is {workflow_dag_id(request['workflow'])}")
    if request["state"] not in _APPROVED_ONCE:
        raise RequestNotRunnable(f"request {request_id} is {request['state']!r}, not approved; only approved requests"
                                 f" are submitted (an approver answers its gate in {REQUEST_DAG})")
    return request


def submit_workflow_stage(db_url: str, backend: Backend, request_id: int, stage: str,
                          workflow: str | None = None) -> int:
    """Submit one stage of an approved request (of ``workflow``, when given) from its inputs;
    returns the submission id."""
    with connect(db_url) as conn:
        request = _runnable(records.get_request(conn, request_id), request_id, workflow)
        if request["state"] == RequestState.APPROVED.value:
            records.set_request_state(conn, request_id, RequestState.RUNNING.value)
            conn.commit()
        template = load_templates()[request["workflow"]]
        inputs = list(stage_input_files(conn, request, template, stage))
    spec = stage_spec(request_id=request_id, request=request, template=template, stage=stage, inputs=inputs)
    return submit_stage(db_url=db_url, backend=backend, spec=spec)


def report_stage(db_url: str, request_id: int, stage: str) -> tuple[dict[str, Any], str]:
    """Build, store and format one stage's report."""
    with connect(db_url) as conn:
        rows = records.jobs_of_stage(conn, request_id, stage)
        triage = conn.execute(q("triage_counts_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()
        report = build_report(rows, triage)
        records.upsert_stage_report(conn, request_id, stage, report)
        records.set_stage_state(conn, request_id, stage, "done")
        conn.commit()
    return report, format_report(stage, report)


def report_request(db_url: str, request_id: int, failed_tasks: Sequence[str] = ()) -> RequestReport:
    """Report every stage that ran, then record how the request ended and why (:func:`decide_end`).

    ``failed_tasks`` are the run's tasks that failed or could not run because one before them
    failed; ``report`` runs whatever happened, so a failed stage still ends its request.
    """
    with connect(db_url) as conn:
        request = records.require_request(conn, request_id)
        submitted = {r["stage"] for r in conn.execute(q("stages_submitted"), {"request_id": request_id})}
        quality = conn.execute(q("request_dq_results"), {"request_id": request_id}).fetchall()
    template = load_templates()[request["workflow"]]
    reports, texts = {}, []
    for stage in (s.name for s in template.stages if s.name in submitted):
        reports[stage], text = report_stage(db_url, request_id, stage)
        texts.append(text)
    critical: dict[str, list[str]] = {}
    for row in quality:
        if not row["success"] and row["severity"] == "critical":
            critical.setdefault(row["stage"], []).append(row["expectation_id"])
    end = decide_end(stages=[s.name for s in template.stages], reports=reports, critical_failed=critical,
                     failed_tasks=failed_tasks)
    with connect(db_url) as conn:
        conn.execute(q("end_request"), {"request_id": request_id, "state": end.state.value, "reason": end.reason})
        conn.commit()
    texts.append(f"=== Request {request_id} ended {end.state.value}: {end.reason}")
    return RequestReport(reports=reports, text="\n\n".join(texts), end=end)


@dataclass(frozen=True)
class RequestReport:
    reports: dict[str, dict[str, Any]]
    """Each stage that ran: its report (``prodops.report.build_report``)."""
    text: str
    end: RequestEnd
