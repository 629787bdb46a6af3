"""The debug_rerun DAG, run whole with dag.test() on a real PostgreSQL and the local pool: a demo
job that failed with a code error is rerun with debug, tracked and triaged in the DAG, and linked."""

from __future__ import annotations

import os

import pytest

import devenv
from prodops.batch.base import SubmissionSpec
from prodops.batch.local import LocalPoolBackend
from prodops.batch.submit import expand_jobs, render_submit
from prodops.store.db import connect
from tests.integration.pool import ran_stage

CODE_JOB = 2
FORM = {
    "experiment": "nova", "campaign": "debug-dag", "workflow": "demo", "n_jobs": 3, "request_memory_mb": 128,
    "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 50, "justification": "debug rerun DAG test",
    "contact": "ops@example.org", "workflow_options": {"records": 10, "sleep_s": 0, "fail_code": [CODE_JOB]},
}


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    from .test_dag_integrity import DAGS

    bag = DagBag(dag_folder=str(DAGS / "debug_rerun.py"))
    assert bag.import_errors == {}
    return bag.dags["debug_rerun"]


def test_reads_like_the_rerun_lifecycle(dag):
    from prodops.operators.track import TrackStageOperator

    assert dag.get_task("submit_rerun").downstream_task_ids == {"track_rerun", "triage_rerun"}
    assert dag.get_task("track_rerun").downstream_task_ids == {"triage_rerun"}
    assert isinstance(dag.get_task("track_rerun"), TrackStageOperator)
    assert {"request_id", "job_indexes", "category", "signature", "site", "level", "overrides",
            "keep_intermediate", "request_memory_mb"} <= set(dag.params)


@pytest.fixture(scope="module")
def airflow_metadata():
    """dag.test() records its run: the session's private metadata database (tests/conftest.py) migrated."""
    devenv.migrate_airflow(os.environ)


@pytest.mark.integration
def test_a_failed_demo_job_is_rerun_with_debug_and_linked(dag, airflow_metadata, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    monkeypatch.setenv("PRODOPS_TRACK_POLL_INTERVAL", "0.5")
    request_id, first = ran_stage(db_url, LocalPoolBackend(), FORM, "dag-debug")

    run = dag.test(run_conf={"request_id": request_id, "job_indexes": [CODE_JOB], "level": "trace",
                             "overrides": {"records": 3}, "request_memory_mb": 256})
    assert run.state == "success"
    with connect(db_url) as conn:
        [link] = conn.execute("SELECT * FROM debug_reruns WHERE request_id = %(r)s", {"r": request_id}).fetchall()
        rerun = conn.execute("SELECT * FROM submissions WHERE id = %(s)s", {"s": link["submission_id"]}).fetchone()
        verdict = conn.execute("SELECT * FROM triage_verdicts WHERE submission_id = %(s)s",
                               {"s": link["submission_id"]}).fetchone()
        phases = conn.execute("SELECT phase, state FROM job_phases WHERE submission_id = %(s)s",
                              {"s": link["submission_id"]}).fetchall()
    assert (link["rerun_of_submission_id"], link["rerun_of_proc_id"], link["job_index"]) == (first, CODE_JOB, CODE_JOB)
    assert link["run_id"] == run.run_id and rerun["kind"] == "debug" and rerun["attempt"] == 2

    # the env and arguments the job was given, as the real bindings render the stored description
    submit = render_submit(SubmissionSpec.from_dict(rerun["spec"]))
    assert "DEMO_LOG_LEVEL=trace" in submit["environment"] and "PRODOPS_DEBUG_KEEP_FILES=1" in submit["environment"]
    [job] = expand_jobs(submit, cluster_id=int(rerun["cluster_id"]))
    assert job.argv[-6:] == ["--debug", "trace", "--debug-config", "demo_debug.cfg", "--records", "3"]
    assert job.request_memory_mb == 256 and job.custom["ProdopsJobIndex"] == str(CODE_JOB)

    # the rerun's verdict: the same code failure, triaged like any attempt; its phases posted by the job
    assert (verdict["category"], verdict["rule"], verdict["job_index"]) == ("code", "art:ProductNotFound", CODE_JOB)
    assert ("process", "started") in {(p["phase"], p["state"]) for p in phases}
    stdout = (tmp_path / "requests" / str(request_id) / "run" / "attempt-2-debug" / "job.0.out").read_text()
    assert "DEBUG config: log_level = trace" in stdout and "DEBUG log level trace" in stdout
