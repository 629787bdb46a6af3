"""Fault: PostgreSQL restarted in the middle of a tracking write.

A private PostgreSQL of this test's own (devenv's helpers, its own data directory and port: the
shared server of the suite must not restart under other tests). The test holds ``job_events``
so the tracker's cycle stops inside its transaction with the job rows written, restarts the
server there, and checks that the cycle fails with PostgreSQL's own word for it, that nothing of
it was kept, and that the same tracker's next cycle, once the server is back, stores every job
and every event exactly once.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import devenv
from prodops.batch.base import SubmissionSpec
from prodops.batch.htcondor import HTCondorBackend
from prodops.stage import submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
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


def test_postgres_restarted_inside_a_tracking_write_loses_and_doubles_nothing(own_postgres, tmp_path):
    server, server_url = own_postgres
    db_url = devenv.ensure_database(server_url, "prodops_fault")
    assert devenv.migrate_prodops(db_url)
    schedd = FakeSchedd(first_cluster=CLUSTER)
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)
    spec = SubmissionSpec(request_id=approved_request(db_url, "pg-restart"), stage="run", attempt=1,
                          executable="/bin/true", items=[f"--job {i}" for i in range(N_JOBS)],
                          workdir=str(tmp_path / "attempt-1"))
    submission_id = submit_stage(db_url=db_url, backend=backend, spec=spec)
    with connect(db_url) as conn:
        event_log = records.get_submission(conn, submission_id)["event_log"]
    third = N_JOBS // 3
    for proc in range(2 * third):  # before tracking starts, a third ran and left the queue, a third runs
        schedd.execute(CLUSTER, proc)
        if proc < third:
            schedd.terminate(CLUSTER, proc, exit_code=proc % 7 == 0)

    tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)
    holder = psycopg.connect(db_url)
    holder.execute("LOCK TABLE job_events IN SHARE MODE")  # the cycle's event insert waits, its rows written
    outcome: list[BaseException | object] = []
    cycle = threading.Thread(target=lambda: outcome.append(_run(tracker.cycle)))
    cycle.start()
    wait_for("the tracking cycle waiting inside its write",
             lambda: blocked_on_lock(server_url, "prodops_fault", "job_events"), timeout_s=60)
    server.stop()  # fast shutdown: every session is ended, the cycle's transaction with it
    server.start()
    cycle.join(timeout=60)
    holder.close()
    assert not cycle.is_alive()
    assert isinstance(outcome[0], psycopg.OperationalError), outcome
    assert "terminating connection due to administrator command" in str(outcome[0])
    assert rows_per_job(db_url, submission_id) == {} and not stored_events(db_url, submission_id)

    for proc in range(2 * third, N_JOBS):  # the log goes on growing while PostgreSQL is away
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=0)
    back = tracker.cycle()  # the running third has no new event: only a full query shows it
    assert back.states == {"completed": 2 * third, "running": third}, back
    assert rows_per_job(db_url, submission_id) == {proc: 1 for proc in range(N_JOBS)}
    assert stored_events(db_url, submission_id) == logged_events(event_log)  # each once, none missing

    for proc in range(third, 2 * third):
        schedd.terminate(CLUSTER, proc, exit_code=0)
    assert tracker.cycle().done
    assert rows_per_job(db_url, submission_id) == {proc: 1 for proc in range(N_JOBS)}
    assert stored_events(db_url, submission_id) == logged_events(event_log)
    with connect(db_url) as conn:
        exits = {r["proc_id"]: r["exit_code"] for r in conn.execute(
            "SELECT proc_id, exit_code FROM job_attempts WHERE submission_id = %s", (submission_id,))}
        assert records.get_submission(conn, submission_id)["state"] == "done"
    assert exits == {proc: int(proc < third and proc % 7 == 0) for proc in range(N_JOBS)}
    again = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id).cycle()
    assert (again.written, again.events) == (0, 0)  # a restarted tracker finds everything stored
    schedd.close()


def _run(call):
    try:
        return call()
    except BaseException as err:  # noqa: BLE001 - handed to the test thread, which asserts on it
        return err
