"""A stage's outputs: collect the jobs' manifests into the record, then check them with GX.

Both steps are idempotent: collecting again replaces the submission's rows in one
transaction; checking again overwrites the stage's results.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from psycopg.types.json import Jsonb

from prodops.batch.classads import outcome
from prodops.constants import Outcome
from prodops.exceptions import ProdopsError
from prodops.quality.manifests import collect
from prodops.quality.suites import CheckResult, load_suite, run_checks
from prodops.stage import stage_input_files
from prodops.store import records
from prodops.store.db import connect, q
from prodops.workflows import WorkflowTemplate

log = logging.getLogger(__name__)


class DataQualityFailed(ProdopsError):
    """A critical expectation failed: the next stage must not run on these outputs."""


def _submissions(conn, request_id: int, stage: str) -> list[dict[str, Any]]:
    rows = conn.execute(q("submissions_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()
    if not rows:
        raise LookupError(f"stage {stage!r} of request {request_id} was never submitted; run submit_stage first")
    return rows


def collect_stage_outputs(db_url: str, request_id: int, stage: str) -> dict[str, Any]:
    """Read the manifests of the stage's succeeded jobs (each job's latest attempt, whichever
    submission ran it) and record outputs, inputs and problems."""
    with connect(db_url) as conn:
        submissions = _submissions(conn, request_id, stage)
        latest = [r for r in records.jobs_of_stage(conn, request_id, stage) if r["latest"]]
        succeeded: dict[int, dict[int, int]] = {}
        for r in latest:
            if outcome(r) is Outcome.SUCCEEDED:
                succeeded.setdefault(r["submission_id"], {})[r["job_index"]] = r["proc_id"]
        manifests, problems = [], {}
        for submission in submissions:
            key = {"submission_id": submission["id"]}
            for name in ("clear_stage_outputs", "clear_stage_inputs", "clear_manifest_problems"):
                conn.execute(q(name), key)
            procs = succeeded.get(submission["id"])
            if not procs:
                continue
            # manifests are named by the job's index in the stage, which a retry keeps
            found, missing = collect(Path(submission["workdir"]), procs)
            with conn.cursor() as cur:
                cur.executemany(q("insert_job_output"), [
                    {**key, "proc_id": procs[m.proc_id], "file": o.file, "path": o.path, "size": o.size,
                     "checksum": o.checksum, "events": o.events, "readable": o.readable}
                    for m in found for o in m.outputs
                ])
                cur.executemany(q("insert_job_input"), [
                    {**key, "proc_id": procs[m.proc_id], "file": f} for m in found for f in m.inputs
                ])
                cur.executemany(q("insert_manifest_problem"), [
                    {**key, "proc_id": procs[job], "problem": problem} for job, problem in missing.items()
                ])
            manifests += found
            problems.update(missing)
        conn.commit()
    summary = {
        "jobs": len(latest), "succeeded": sum(len(p) for p in succeeded.values()), "manifests": len(manifests),
        "outputs": sum(len(m.outputs) for m in manifests), "problems": dict(sorted(problems.items())),
    }
    log.info("Stage %s of request %d: %d manifests, %d output files, %d problems",
             stage, request_id, summary["manifests"], summary["outputs"], len(problems))
    return summary


def stage_tables(conn, request_id: int, stage: str) -> dict[str, pd.DataFrame]:
    """The three tables the suites check: outputs, inputs and jobs (each job's latest attempt) of the stage."""
    params = {"request_id": request_id, "stage": stage}
    outputs = pd.DataFrame(
        [{"job": r["job_index"], "file": r["file"], "size": int(r["size_bytes"]), "checksum": r["checksum"],
          "events": None if r["events"] is None else int(r["events"]), "readable": bool(r["readable"])}
         for r in conn.execute(q("stage_outputs"), params)],
        columns=["job", "file", "size", "checksum", "events", "readable"],
    )
    inputs = pd.DataFrame([{"job": r["job_index"], "file": r["file"]} for r in conn.execute(q("stage_inputs"), params)],
                          columns=["job", "file"])
    jobs = []
    for r in records.jobs_of_stage(conn, request_id, stage):
        if not r["latest"]:
            continue
        wall = float(r["remote_wall_clock_time"] or 0)
        cpu = float(r["remote_user_cpu"] or 0) + float(r["remote_sys_cpu"] or 0)
        jobs.append({"job": r["job_index"], "outcome": outcome(r).value, "exit_code": r["exit_code"], "wall_s": wall,
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
        request = records.require_request(conn, request_id)
        first = _submissions(conn, request_id, stage)[0]  # every job of the stage; retries resubmit some
        inputs = list(first["spec"].get("inputs") or [])
        events = stage_input_files(conn, request, template, stage)
        facts = {
            **template.with_defaults(request["workflow_options"] or {}),
            "expected_files": int(first["num_jobs"]),
            "input_files": len(inputs),
            "input_file_list": inputs,
            "input_events": sum(events.get(path) or 0 for path in inputs),
        }
        results = run_checks(checks, stage_tables(conn, request_id, stage), facts)
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
