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

from .airflow_client import AirflowStack
from .conftest import MAIN_DAG, REPO_ROOT
from .test_production_request import (
    DAG,
    STAGE_TASKS,
    approve_and_finish,
    assert_phases_posted,
    assert_request_records,
    open_request,
)

BEFORE_GATE = ("validate_request",)
AFTER_GATE = ("await_approval", "preflight", "choose_workflow", "report", *(f"demo.run.{t}" for t in STAGE_TASKS))


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
    stack.wait_for_dag(MAIN_DAG, timeout=180)
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
