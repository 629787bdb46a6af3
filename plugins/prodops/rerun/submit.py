"""A debug rerun's submission: the chosen jobs again under their job indexes, debug turned up.

The rerun is one submission of the stage, numbered as the stage's next attempt like a retry
round, built from each job's production item (its arguments, what it requested) with the debug
settings applied (:mod:`prodops.rerun.settings`): the template's environment and extra
arguments, the config snippet written into the rerun's working directory and sent with the jobs,
more memory if asked. Its spec carries a ``debug`` entry (the settings and the Airflow run):
that entry makes every attempt of it a debug attempt (022_debug_rerun.sql), never a production
one, and each is linked to the attempt it reruns (``debug_reruns``).

Idempotent per Airflow run: a re-run task finds the submission its run made (by the run id in
the spec) and submits nothing twice. It goes through the batch boundary as every stage does
(site steering, a phase token in the jobs' environment), but leaves the stage's state alone:
the stage ran already.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from prodops.batch.base import Backend, SubmissionSpec
from prodops.batch import quoting
from prodops.batch.submit import split_arguments
from prodops.phases.tokens import with_phase_token
from prodops.rerun.select import RerunTarget, Selection, select_attempts
from prodops.rerun.settings import DebugApplied, check_settings
from prodops.steering import steer_spec
from prodops.store import records
from prodops.store.db import Conn, connect, one_row, q
from prodops.triage import store
from prodops.triage.policy import Action
from prodops.triage.retry import latest_items
from prodops.workflows import WorkflowTemplate, load_templates

log = logging.getLogger(__name__)

CLAIM_TRIES = 5
"""Attempt numbers tried when a retry round takes the stage's next one at the same moment."""


@dataclass(frozen=True)
class DebugRerun:
    """A debug rerun as submitted: its submission, the stage and the jobs it reruns."""

    submission_id: int
    request_id: int
    stage: str
    attempt: int
    job_indexes: tuple[int, ...]
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"submission_id": self.submission_id, "request_id": self.request_id, "stage": self.stage,
                "attempt": self.attempt, "job_indexes": list(self.job_indexes), "resumed": self.resumed}


def rerun_spec(submissions: list[dict[str, Any]], targets: list[RerunTarget], applied: DebugApplied, *,
               attempt: int, run_id: str, priority: int) -> SubmissionSpec:
    """The rerun's submission: each target's production item with the debug arguments after its own
    (an argument given twice: the job's parser keeps the last), the debug environment over the
    stage's, the memory raised if asked, a working directory of its own."""
    latest = latest_items(submissions)
    first = SubmissionSpec.from_dict(next(r["spec"] for r in submissions if not r["spec"].get("debug")))
    items, resources = [], []
    for target in targets:
        spec, item = latest[target.job_index]
        argv = split_arguments(spec.items[item]) + list(applied.arguments)
        items.append(quoting.arguments(argv))
        wants = spec.resources(item)
        if applied.settings.request_memory_mb:
            wants["request_memory_mb"] = max(wants["request_memory_mb"], applied.settings.request_memory_mb)
        resources.append(wants)
    workdir = Path(first.workdir).parent / f"attempt-{attempt}-debug"
    placement = first.placement
    if applied.config_file and placement is not None:  # sent with the jobs where the pool transfers files
        sent = (*placement.input_files, str(workdir / applied.config_file))
        placement = placement.model_copy(update={"input_files": sent})
    return replace(first, attempt=attempt, items=items, job_indexes=[t.job_index for t in targets],
                   job_resources=resources, workdir=str(workdir), priority=priority, placement=placement,
                   environment={**first.environment, **applied.environment},
                   debug={**applied.to_dict(), "run_id": run_id, "reruns": [t.attempt for t in targets]})


def write_config_snippet(spec: SubmissionSpec, applied: DebugApplied) -> None:
    """The config snippet, in the rerun's working directory before its jobs start (idempotent)."""
    if not applied.config_file:
        return
    workdir = Path(spec.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / applied.config_file).write_text(applied.config_text)


def submit_debug_rerun(db_url: str, backend: Backend, selection: dict[str, Any], debug: dict[str, Any], *,
                       run_id: str, requested_by: str = "",
                       templates: dict[str, WorkflowTemplate] | None = None) -> DebugRerun:
    """Check the form, choose the attempts, submit the rerun once and link its attempts.

    Raises :class:`~prodops.rerun.settings.DebugSettingsInvalid` naming every bad field before
    anything is written.
    """
    chosen = Selection.parse(selection)
    with connect(db_url) as conn:
        request = records.require_request(conn, chosen.request_id)
        template = (templates or load_templates())[request["workflow"]]
        targets = select_attempts(conn, chosen)
        stage = targets[0].stage
        memory = max(int(t.request_memory_mb or request["request_memory_mb"]) for t in targets)
        applied = check_settings(template, debug, memory)
        found = conn.execute(q("debug_rerun_of_run"), {"request_id": chosen.request_id, "stage": stage,
                                                       "run_id": run_id}).fetchone()
        if found is None:
            found = _claim(conn, backend, chosen.request_id, stage, targets, applied, run_id,
                           int(request["requested_priority"] if request["priority"] is None else request["priority"]))
        spec = SubmissionSpec.from_dict(found["spec"])
        _link(conn, found, spec, targets, run_id, requested_by, applied)
        conn.commit()
        resumed = found["cluster_id"] is not None
        if not resumed:
            write_config_snippet(spec, applied)
            spec = with_phase_token(conn, spec, int(found["id"]))
            conn.commit()  # the token is valid before any job can start
            submission = backend.submit(spec)
            records.record_submitted(conn, found["id"], submission)
            conn.commit()
    log.info("Debug rerun of request %d, stage %s, jobs %s: attempt %d, submission %d (%s)%s", chosen.request_id,
             stage, list(spec.job_indexes), spec.attempt, found["id"], applied.settings.level,
             ", submitted before" if resumed else "")
    return DebugRerun(submission_id=int(found["id"]), request_id=chosen.request_id, stage=stage,
                      attempt=spec.attempt, job_indexes=tuple(spec.job_indexes), resumed=resumed)


def _claim(conn: Conn, backend: Backend, request_id: int, stage: str, targets: list[RerunTarget],
           applied: DebugApplied, run_id: str, priority: int) -> dict[str, Any]:
    """The rerun's submission row, at the stage's next free attempt number."""
    submissions = conn.execute(q("submissions_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()
    for _ in range(CLAIM_TRIES):
        attempt = int(one_row(conn.execute(q("next_attempt"), {"request_id": request_id, "stage": stage}))["attempt"])
        spec = steer_spec(conn, rerun_spec(submissions, targets, applied, attempt=attempt, run_id=run_id,
                                           priority=priority))
        row = conn.execute(q("claim_debug_submission"), {
            "request_id": request_id, "stage": stage, "attempt": attempt, "backend": backend.name,
            "num_jobs": len(spec.items), "workdir": spec.workdir, "spec": Jsonb(spec.to_dict())}).fetchone()
        if row is not None:
            return dict(row)
    raise RuntimeError(f"stage {stage} of request {request_id}: no free attempt number after {CLAIM_TRIES} tries;"
                       " run the debug rerun again")


def _link(conn: Conn, row: dict[str, Any], spec: SubmissionSpec, targets: list[RerunTarget], run_id: str,
          requested_by: str, applied: DebugApplied) -> None:
    """Each rerun attempt linked to the attempt it reruns; the original's debug_rerun action done."""
    by_index = {t.job_index: t for t in targets}
    note = f"rerun with debug ({applied.settings.level}) as attempt {spec.attempt} (submission {row['id']})"
    for proc_id, job_index in enumerate(spec.job_indexes):
        target = by_index.get(int(job_index))
        if target is None:  # the run's submission was made from another choice: keep its own lineage
            continue
        conn.execute(q("record_debug_rerun"), {
            "submission_id": row["id"], "proc_id": proc_id, "request_id": spec.request_id, "stage": spec.stage,
            "job_index": target.job_index, "rerun_of_submission_id": target.submission_id,
            "rerun_of_proc_id": target.proc_id, "run_id": run_id, "requested_by": requested_by,
            "settings": Jsonb(applied.settings.model_dump())})
        if target.action == Action.DEBUG_RERUN.value and target.action_state == "planned":
            store.record_action(conn, target.submission_id, [target.proc_id], state="done", note=note,
                                retry_submission_id=int(row["id"]))
