"""A stage's outputs: collect the jobs' manifests into the record, then check them with GX.

Both steps are idempotent: collecting again replaces the submission's rows in one
transaction; checking again overwrites the stage's results.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from psycopg.types.json import Jsonb

from prodops.batch.classads import outcome
from prodops.constants import Outcome
from prodops.datasets import resolve_dataset
from prodops.exceptions import ProdopsError
from prodops.quality.manifests import collect
from prodops.quality.suites import CheckResult, load_suite, run_checks
from prodops.store import records
from prodops.store.db import connect, q
from prodops.workflows import WorkflowTemplate

log = logging.getLogger(__name__)


class DataQualityFailed(ProdopsError):
    """A critical expectation failed: the next stage must not run on these outputs."""


def _latest_submission(conn, request_id: int, stage: str) -> dict[str, Any]:
    row = conn.execute(q("latest_submission"), {"request_id": request_id, "stage": stage}).fetchone()
    if row is None:
        raise LookupError(f"stage {stage!r} of request {request_id} was never submitted; run submit_stage first")
    return row


def collect_stage_outputs(db_url: str, request_id: int, stage: str) -> dict[str, Any]:
    """Read the manifests of the stage's succeeded jobs and record outputs, inputs and problems."""
    with connect(db_url) as conn:
        submission = _latest_submission(conn, request_id, stage)
        jobs = [r for r in records.jobs_of_stage(conn, request_id, stage) if r["submission_id"] == submission["id"]]
        succeeded = [r["proc_id"] for r in jobs if outcome(r) is Outcome.SUCCEEDED]
        manifests, problems = collect(Path(submission["workdir"]), succeeded)
        key = {"submission_id": submission["id"]}
        for name in ("clear_stage_outputs", "clear_stage_inputs", "clear_manifest_problems"):
            conn.execute(q(name), key)
        with conn.cursor() as cur:
            cur.executemany(q("insert_job_output"), [
                {**key, "proc_id": o.proc_id, "file": o.file, "path": o.path, "size": o.size,
                 "checksum": o.checksum, "events": o.events, "readable": o.readable}
                for m in manifests for o in m.outputs
            ])
            cur.executemany(q("insert_job_input"), [
                {**key, "proc_id": m.proc_id, "file": f} for m in manifests for f in m.inputs
            ])
            cur.executemany(q("insert_manifest_problem"), [
                {**key, "proc_id": proc, "problem": problem} for proc, problem in problems.items()
            ])
        conn.commit()
    summary = {
        "jobs": len(jobs), "succeeded": len(succeeded), "manifests": len(manifests),
        "outputs": sum(len(m.outputs) for m in manifests), "problems": problems,
    }
    log.info("Stage %s of request %d: %d manifests, %d output files, %d problems",
             stage, request_id, summary["manifests"], summary["outputs"], len(problems))
    return summary


def _input_events(conn, request: Mapping[str, Any], template: WorkflowTemplate, stage: str, inputs: list[str]) -> int:
    previous = template.previous(stage)
    if previous is None:
        if template.input == "dataset":
            counts = {f.path: f.events for f in resolve_dataset(request["input_dataset"])}
            return sum(counts.get(path, 0) for path in inputs)
        return 0
    rows = conn.execute(q("stage_outputs"), {"request_id": request["id"], "stage": previous.name}).fetchall()
    events = {r["path"]: int(r["events"] or 0) for r in rows}
    return sum(events.get(path, 0) for path in inputs)


def stage_tables(conn, request_id: int, stage: str, submission_id: int) -> dict[str, pd.DataFrame]:
    """The three tables the suites check: outputs, inputs and jobs of the stage's submission."""
    params = {"request_id": request_id, "stage": stage}
    outputs = pd.DataFrame(
        [{"job": r["proc_id"], "file": r["file"], "size": int(r["size_bytes"]), "checksum": r["checksum"],
          "events": None if r["events"] is None else int(r["events"]), "readable": bool(r["readable"])}
         for r in conn.execute(q("stage_outputs"), params)],
        columns=["job", "file", "size", "checksum", "events", "readable"],
    )
    inputs = pd.DataFrame([{"job": r["proc_id"], "file": r["file"]} for r in conn.execute(q("stage_inputs"), params)],
                          columns=["job", "file"])
    jobs = []
    for r in records.jobs_of_stage(conn, request_id, stage):
        if r["submission_id"] != submission_id:
            continue
        wall = float(r["remote_wall_clock_time"] or 0)
        cpu = float(r["remote_user_cpu"] or 0) + float(r["remote_sys_cpu"] or 0)
        jobs.append({"job": r["proc_id"], "outcome": outcome(r).value, "exit_code": r["exit_code"], "wall_s": wall,
                     "cpu_s": cpu, "cpu_efficiency": cpu / wall if wall > 0 else None})
    return {"outputs": outputs, "inputs": inputs,
            "jobs": pd.DataFrame(jobs, columns=["job", "outcome", "exit_code", "wall_s", "cpu_s", "cpu_efficiency"])}


def check_stage_outputs(db_url: str, request_id: int, stage: str, template: WorkflowTemplate) -> list[CheckResult]:
    """Run the stage's suite, store every result; raise :class:`DataQualityFailed` on a critical failure."""
    suite_name = template.stage(stage).checks
    if suite_name is None:
        log.info("Stage %s of workflow %s has no data-quality suite", stage, template.name)
        return []
    checks = load_suite(template.name, suite_name)
    with connect(db_url) as conn:
        request = records.get_request(conn, request_id)
        submission = _latest_submission(conn, request_id, stage)
        inputs = list(submission["spec"].get("inputs") or [])
        facts = {
            **template.with_defaults(request["workflow_options"] or {}),
            "expected_files": int(submission["num_jobs"]),
            "input_files": len(inputs),
            "input_file_list": inputs,
            "input_events": _input_events(conn, request, template, stage, inputs),
        }
        results = run_checks(checks, stage_tables(conn, request_id, stage, submission["id"]), facts)
        with conn.cursor() as cur:
            cur.executemany(q("upsert_dq_result"), [
                {"request_id": request_id, "stage": stage, "expectation_id": r.id, "suite": suite_name,
                 "expectation": r.type, "data_table": r.table, "severity": r.severity, "success": r.success,
                 "observed": Jsonb(r.observed), "details": Jsonb(r.details)}
                for r in results
            ])
        conn.commit()
    for result in results:
        (log.info if result.success else log.warning)("%s", result.message)
    critical = [r for r in results if not r.success and r.severity == "critical"]
    if critical:
        raise DataQualityFailed(
            f"data quality of stage {stage} failed; the next stage will not run:\n"
            + "\n".join(f"  - {r.message}" for r in critical)
        )
    return results
