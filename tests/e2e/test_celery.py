"""The multi-host topology on one machine: Redis, api-server, scheduler, dag-processor, triggerer
and two Celery workers, each its own process with CeleryExecutor (devenv.celery_stack), run a
production request end to end with the same records as the embedded default.

Which worker runs what is decided, not left to chance: worker-b is drained (it consumes no
queue) until the approval gate waits, then worker-a is drained and worker-b serves, so the
tasks before the gate ran on worker-a and every task after it on worker-b. The task instances'
hostname column says so (each worker records its own name through ``[core] hostname_callable``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.celery_stack import CeleryStack, celery_stack, jobdir_command

from prodops.batch.workdir import Workdir
from prodops.store.db import connect

from .airflow_client import AirflowStack
from .conftest import REPO_ROOT, REQUEST_DAGS
from .test_production_request import (
    DAG,
    FORM,
    STAGE_TASKS,
    WORKFLOW,
    approve_and_finish,
    assert_phases_posted,
    assert_request_records,
    fetch,
    open_request,
    request_row,
)

HEARTBEAT_TIMEOUT_S = 45
BEFORE_GATE = ("validate_request",)
AFTER_GATE = ("await_approval", "run_workflow")
WORKFLOW_TASKS = ("preflight", "report", *(f"run.{t}" for t in ("preflight", *STAGE_TASKS)))
"""Every task of the demo's workflow run (run_workflow triggered it after the gate)."""


@pytest.fixture(scope="module")
def celery(make_database, tmp_path_factory) -> Iterator[CeleryStack]:
    artifacts = REPO_ROOT / "test-artifacts" / "e2e-celery" / time.strftime("%Y%m%d-%H%M%S")
    workdir = tmp_path_factory.mktemp("celery")
    with celery_stack(
        metadata_url=make_database("prodops_celery_airflow"),
        prodops_url=make_database("prodops_celery"),
        workdir=workdir,
        log_dir=artifacts,
        worker_concurrency=2,
        # a killed worker's task is failed (and retried) this long after its last heartbeat (default 300 s)
        overrides={"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S)},
    ) as stack:
        yield stack
    logs = workdir / "airflow-home" / "logs"
    if logs.is_dir():
        shutil.copytree(logs, artifacts / "airflow-logs", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def airflow_on_celery(celery: CeleryStack) -> AirflowStack:
    """The REST client the embedded default's tests use, pointed at the Celery stack."""
    stack = AirflowStack(
        base_url=celery.base_url,
        password=celery.password(),
        env=celery.env,
        process=celery.processes["api-server"],
        log_path=celery.log_file("scheduler"),  # answer_hitl waits for the scheduler's line there
        prodops_db_url=celery.env["PRODOPS_DB_URL"],
        metadata_db_url=celery.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
    )
    for dag_id in REQUEST_DAGS:
        stack.wait_for_dag(dag_id, timeout=180)
    return stack


def test_a_request_runs_across_two_celery_workers_with_the_records_of_the_embedded_default(
    celery: CeleryStack, airflow_on_celery: AirflowStack
):
    airflow = airflow_on_celery
    celery.drain("worker-b")
    run_id = open_request(airflow)
    celery.serve("worker-b")  # the gate waits in the triggerer: no task is queued while the workers swap
    celery.drain("worker-a")
    approve_and_finish(airflow, run_id)

    assert_request_records(airflow, run_id)
    assert_phases_posted(airflow, run_id)

    hosts = {ti["task_id"]: ti["hostname"] for ti in airflow.task_instances(DAG, run_id)}
    assert {t: hosts[t] for t in BEFORE_GATE} == dict.fromkeys(BEFORE_GATE, "worker-a"), hosts
    assert {t: hosts[t] for t in AFTER_GATE} == dict.fromkeys(AFTER_GATE, "worker-b"), hosts
    hosts = {ti["task_id"]: ti["hostname"] for ti in airflow.task_instances(WORKFLOW, run_id)}
    assert hosts == dict.fromkeys(WORKFLOW_TASKS, "worker-b"), hosts
    # the api-server shows the logs each worker wrote (one log folder, as the deployment's shared volume)
    assert "production request" in airflow.task_log(DAG, run_id, "validate_request").lower()
    for worker in ("worker-a", "worker-b"):
        assert (
            "job directory" in celery.log_file(worker).read_text()
            and "is shared" in celery.log_file(worker).read_text()
        )
    assert celery.dead() == {}, f"components exited during the run; see {celery.log_dir}"


def test_a_worker_that_does_not_see_the_job_directory_refuses_to_start(celery: CeleryStack, tmp_path: Path):
    """A per-host volume: the directory exists but is not the one the init step marked."""
    env = {**celery.env, "PRODOPS_HOME": str(tmp_path)}
    proc = subprocess.run(
        jobdir_command("celery", "worker", "--celery-hostname", "worker-c"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"prodops job directory check failed on host {socket.gethostname()}" in proc.stderr
    assert f"PRODOPS_HOME={tmp_path}" in proc.stderr and "has no .prodops-jobdir.json" in proc.stderr
    assert "Fix: mount the deployment's shared job directory" in proc.stderr
    assert "celery@worker-c" not in str(celery.active_queues(timeout=5))


KILL_JOBS = 4
KILL_FORM = {
    **FORM,
    "campaign": "e2e-celery-kill",
    "n_jobs": KILL_JOBS,
    "workflow_options": {"records": 20, "sleep_s": 1},
}
BLOCKED_STAGE_UPDATE = (
    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND query ~ '^UPDATE stages '"
)


def test_a_worker_killed_inside_submit_stage_leaves_the_jobs_submitted_once(
    celery: CeleryStack, airflow_on_celery: AirflowStack
):
    """SIGKILL of the worker at the worst point of submit_stage: the pool has the jobs, prodops has
    not recorded the cluster. The test holds the stage's row so submit_stage stops right there (its
    last statement, after the batch system took the jobs), kills the worker, and lets go. Airflow
    fails the task when its heartbeat stops and retries it on the other worker, which finds the
    submission the pool holds (the local pool's workdir, as the HTCondor backend finds its
    ProdopsSubmission jobs) and records it once: one cluster, every job once."""
    airflow, url = airflow_on_celery, airflow_on_celery.prodops_db_url
    celery.serve("worker-b")
    celery.drain("worker-a")
    run_id = open_request(airflow, KILL_FORM)
    request_id = request_row(airflow, run_id)["id"]
    with connect(url) as hold:  # a transaction that holds the stage's row until rollback
        hold.execute(
            "SELECT 1 FROM stages WHERE request_id = %s AND name = 'run' FOR NO KEY UPDATE", (request_id,)
        ).fetchone()
        airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 80, "note": "go"})
        deadline = time.monotonic() + 240
        while fetch(url, BLOCKED_STAGE_UPDATE)[0]["n"] == 0:
            assert time.monotonic() < deadline, f"submit_stage never reached its stage update; see {celery.log_dir}"
            time.sleep(1)
        (claimed,) = fetch(
            url, "SELECT id, cluster_id, workdir FROM submissions WHERE request_id = %(r)s", r=request_id
        )
        pooled = Workdir(claimed["workdir"]).load_submission()
        assert claimed["cluster_id"] is None and pooled is not None  # submitted, not yet recorded
        celery.kill("worker-b")
        hold.rollback()
    celery.serve("worker-a")

    assert airflow.wait_for_run(DAG, run_id, timeout=HEARTBEAT_TIMEOUT_S + 400) == "success"
    submit = airflow.task_instance(WORKFLOW, run_id, "run.submit_stage")
    assert (submit["try_number"], submit["hostname"]) == (2, "worker-a"), submit
    submissions = fetch(url, "SELECT attempt, cluster_id FROM submissions WHERE request_id = %(r)s", r=request_id)
    assert submissions == [{"attempt": 1, "cluster_id": pooled.cluster_id}]
    jobs = fetch(
        url,
        "SELECT j.proc_id, j.state, j.exit_code FROM job_attempts j JOIN submissions s ON s.id = j.submission_id"
        " WHERE s.request_id = %(r)s ORDER BY j.proc_id",
        r=request_id,
    )
    assert jobs == [{"proc_id": p, "state": "completed", "exit_code": 0} for p in range(KILL_JOBS)]
    assert request_row(airflow, run_id)["state"] == "succeeded"
