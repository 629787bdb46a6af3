"""Submitting one stage of a request: the spec from the template and the form, then the backend.

The submission row is claimed before the batch system is asked and the backend's submit is
idempotent on the submission key, so re-running ``submit_stage`` never submits twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prodops import config
from prodops.batch.base import Backend, SubmissionSpec
from prodops.datasets import resolve_dataset
from prodops.phases.tokens import with_phase_token
from prodops.steering import steer_spec
from prodops.store import records
from prodops.store.db import connect, q
from prodops.workflows import WorkflowTemplate

log = logging.getLogger(__name__)


def stage_input_files(conn, request: Mapping[str, Any], template: WorkflowTemplate, stage: str) -> dict[str, int | None]:
    """The files a stage reads, with their events where known: the dataset for a first stage
    that reads one, else the previous stage's recorded outputs that exist and are not empty."""
    previous = template.previous(stage)
    if previous is None:
        if template.input == "dataset":
            return {f.path: f.events for f in resolve_dataset(request["input_dataset"])}
        return {}
    rows = conn.execute(q("stage_outputs"), {"request_id": request["id"], "stage": previous.name}).fetchall()
    return {r["path"]: r["events"] for r in rows if r["readable"] and r["size_bytes"] > 0}


def stage_spec(
    *,
    request_id: int,
    request: Mapping[str, Any],
    template: WorkflowTemplate,
    stage: str,
    inputs: Sequence[str] = (),
    attempt: int = 1,
    priority: int | None = None,
    home: Path | None = None,
) -> SubmissionSpec:
    """The submission of one stage: its jobs' arguments from the template, the form and the inputs."""
    stage_template = template.stage(stage)
    resources = stage_template.job_resources(
        request["request_memory_mb"], request["request_disk_mb"], request["max_wall_time_min"]
    )
    items = template.job_arguments(
        stage, request.get("n_jobs"), request.get("workflow_options") or {}, resources.memory_mb, inputs=inputs
    )
    workdir = (home or config.prodops_home()) / "requests" / str(request_id) / stage / f"attempt-{attempt}"
    return SubmissionSpec(
        request_id=request_id,
        stage=stage,
        attempt=attempt,
        executable=template.executable_path(stage),
        items=items,
        workdir=str(workdir),
        request_memory_mb=resources.memory_mb,
        request_disk_mb=resources.disk_mb,
        max_wall_time_s=resources.wall_time_min * 60,
        priority=int(request["priority"] if priority is None else priority),
        batch_name=f"{request['experiment']}-{request['campaign']}-{request_id}-{stage}",
        inputs=tuple(inputs),
        experiment=str(request["experiment"]),
        placement=stage_template.placement(),
    )


def submit_stage(*, db_url: str, backend: Backend, spec: SubmissionSpec) -> int:
    """Submit ``spec`` once; returns the submission id (the same one on every re-run)."""
    with connect(db_url) as conn:
        spec = steer_spec(conn, spec)  # new submissions and retry rounds avoid the sites failing the workflow
        row = records.claim_submission(conn, spec, backend.name)
        conn.commit()
        if row["cluster_id"] is not None:
            log.info("Stage %s already submitted as cluster %s; not submitting again", spec.key, row["cluster_id"])
            return int(row["id"])
        spec = with_phase_token(conn, spec, int(row["id"]))
        conn.commit()  # the token is valid before any job can start
        submission = backend.submit(spec)
        records.record_submitted(conn, row["id"], submission)
        records.set_stage_state(conn, spec.request_id, spec.stage, "submitted")
        conn.commit()
    log.info("Submitted %s: %d jobs as cluster %d (%s)", spec.key, submission.num_jobs, submission.cluster_id, backend.name)
    return int(row["id"])
