"""Fault: PostgreSQL restarted in the middle of a tracking write.

A private PostgreSQL of this test's own (devenv's helpers, its own data directory and port: the
shared server of the suite must not restart under other tests). The stage trigger tracks an
HTCondor submission (fake schedd); the test holds ``job_events`` so a cycle stops inside its
transaction with the job rows written, and restarts the server there. The cycle fails with
PostgreSQL's own words, which the trigger logs, nothing of it is kept, and the trigger's next
cycles, once the server is back, store every job and every event exactly once: the task never
sees the restart.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import devenv
from prodops.batch import registry
from prodops.batch.base import SubmissionSpec
from prodops.batch.htcondor import HTCondorBackend
from prodops.stage import submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.triggers.stage import StageTrigger
from tests.fakes.schedd import FakeSchedd

from .common import approved_request, blocked_on_lock, logged_events, rows_per_job, stored_events, wait_for

pytestmark = pytest.mark.integration

N_JOBS = 300
CLUSTER = 7100


@pytest.fixture
def own_postgres(monkeypatch) -> Iterator[tuple[devenv.PrivatePostgres, str]]:
    """A PostgreSQL of this test's own, on a free port; its data directory is removed after."""
    root = Path(tempfile.mkdtemp(prefix="prodops-fault-pg-"))  # under /tmp: the postgres user must reach it
    monkeypatch.setenv("PRODOPS_PG_PORT", str(devenv.free_port()))
    server = devenv.PrivatePostgres(root)
    try:
        yield server, server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def states(db_url: str, submission_id: int) -> dict[str, int]:
    with connect(db_url) as conn:
        return {r["state"]: r["n"] for r in conn.execute(
            "SELECT state, count(*) AS n FROM job_attempts WHERE submission_id = %s GROUP BY state", (submission_id,))}


def test_postgres_restarted_inside_a_tracking_write_loses_and_doubles_nothing(own_postgres, tmp_path, monkeypatch,
                                                                               capfd):
    server, server_url = own_postgres
    db_url = devenv.ensure_database(server_url, "prodops_fault")
    assert devenv.migrate_prodops(db_url)
    schedd = FakeSchedd(first_cluster=CLUSTER)
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)
    monkeypatch.setitem(registry._FACTORIES, "htcondor", lambda: backend)
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    request_id = approved_request(db_url, "pg-restart")
    spec = SubmissionSpec(request_id=request_id, stage="run", attempt=1, executable="/bin/true",
                          items=[f"--job {i}" for i in range(N_JOBS)], workdir=str(tmp_path / "attempt-1"))
    submission_id = submit_stage(db_url=db_url, backend=backend, spec=spec)
    with connect(db_url) as conn:
        event_log = records.get_submission(conn, submission_id)["event_log"]
    third = N_JOBS // 3
    for proc in range(2 * third):  # before tracking starts, a third ran and left the queue, a third runs
        schedd.execute(CLUSTER, proc)
        if proc < third:
            schedd.terminate(CLUSTER, proc, exit_code=0)

    holder = psycopg.connect(db_url)
    holder.execute("LOCK TABLE job_events IN SHARE MODE")  # the first cycle's event insert waits, its rows written
    trigger = StageTrigger(request_id=request_id, stage="run", backend="htcondor", poll_interval=0.1,
                           triage_interval=-1, min_run_s=0)
    outcome: list = []
    tracking = threading.Thread(target=lambda: outcome.append(asyncio.run(_first_event(trigger))))
    tracking.start()
    try:
        wait_for("the first tracking cycle waiting inside its write",
                 lambda: blocked_on_lock(server_url, "prodops_fault", "job_events"), timeout_s=60)
        server.stop()  # fast shutdown: every session is ended, the cycle's transaction with it
        holder.close()
        server.start()
        assert rows_per_job(db_url, submission_id) == {} and not stored_events(db_url, submission_id)
        for proc in range(2 * third, N_JOBS):  # the log goes on growing
            schedd.execute(CLUSTER, proc)
            schedd.terminate(CLUSTER, proc, exit_code=0)
        # the running third has no new event: only a full query shows it (the bug this test found)
        wait_for("every job stored, the running ones too",
                 lambda: states(db_url, submission_id) == {"completed": 2 * third, "running": third}, timeout_s=60)
        assert stored_events(db_url, submission_id) == logged_events(event_log)  # each once, none missing
        for proc in range(third, 2 * third):
            schedd.terminate(CLUSTER, proc, exit_code=0)
    finally:
        tracking.join(timeout=120)
    assert not tracking.is_alive() and outcome and outcome[0]["status"] == "complete", outcome
    logged = capfd.readouterr().out  # the trigger logs through structlog
    assert "PostgreSQL unreachable or restarted" in logged
    assert "terminating connection due to administrator command" in logged
    assert rows_per_job(db_url, submission_id) == {proc: 1 for proc in range(N_JOBS)}
    assert stored_events(db_url, submission_id) == logged_events(event_log)
    assert states(db_url, submission_id) == {"completed": N_JOBS}
    with connect(db_url) as conn:
        assert records.get_submission(conn, submission_id)["state"] == "done"
    schedd.close()


async def _first_event(trigger: StageTrigger) -> dict:
    gen = trigger.run()
    try:
        return (await asyncio.wait_for(gen.__anext__(), 120)).payload
    finally:
        await gen.aclose()
