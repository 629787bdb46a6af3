"""Fault: the triggerer SIGKILLed while it tracks a 1,000-job stage, then started again.

prodops' stage trigger runs as the triggerer runs it (:mod:`.triggerer`: built from its serialized
kwargs, ``async for event in trigger.run()``) in a process of its own, against a 1,000-job
local-pool submission whose event log keeps growing (:mod:`.pool` plays the runner). The test holds
``job_events`` so a tracking cycle is inside its transaction, rows written, when the process is
killed; more jobs end while no triggerer runs; a second process with the same kwargs (as the
triggerer after a restart) finishes the stage. Every job has one row, every logged event is stored
once, every failed attempt has one verdict, and nothing was retried twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

import devenv
from prodops.batch.base import SubmissionSpec
from prodops.batch.local import LocalPoolBackend
from prodops.stage import submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.triggers.stage import StageTrigger

from .common import approved_request, blocked_on_lock, logged_events, rows_per_job, stored_events, wait_for
from .pool import ScriptedPool

pytestmark = pytest.mark.integration

N_JOBS = 1000
BEFORE, AT_KILL = 400, 700
"""Jobs 0-399 end before the first triggerer starts, 400-699 while the test holds its write, the rest
after it is killed."""


def exit_code(proc: int) -> int:
    return 2 if proc % 100 == 37 else 0


def stderr(proc: int) -> str:
    if not exit_code(proc):
        return ""
    return ("Traceback (most recent call last):\n  File \"/srv/job/reco.py\", line 12, in <module>\n"
            f"    run(events[{proc}])\nKeyError: 'run_number'\n")


class Triggerer:
    """A triggerer process: it starts, is handed one trigger and runs it until its first event (or
    until it is killed)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faults.triggerer"], cwd=devenv.REPO_ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True, text=True)

    def assign(self, trigger: StageTrigger) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(trigger.serialize()) + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def first_event(self, trigger: StageTrigger, timeout_s: float) -> dict:
        """Hand it the trigger and wait for what it fires."""
        out, _ = self.proc.communicate(json.dumps(trigger.serialize()) + "\n", timeout=timeout_s)
        assert self.proc.returncode == 0, f"the triggerer exited {self.proc.returncode}"
        return json.loads(out.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def triggerers() -> Iterator[list[Triggerer]]:
    started: list[Triggerer] = []
    yield started
    for triggerer in started:
        triggerer.stop()


def completed(db_url: str, submission_id: int) -> int:
    with connect(db_url) as conn:
        return int(conn.execute("SELECT count(*) AS n FROM job_attempts WHERE submission_id = %s AND state = 'completed'",
                                (submission_id,)).fetchone()["n"])


def test_triggerer_killed_mid_write_on_a_1000_job_stage_loses_and_doubles_nothing(db_url, tmp_path, triggerers):
    request_id = approved_request(db_url, "triggerer-kill")
    spec = SubmissionSpec(request_id=request_id, stage="run", attempt=1, executable="/bin/true",
                          items=[str(i) for i in range(N_JOBS)], workdir=str(tmp_path / "attempt-1"))
    submission_id = submit_stage(db_url=db_url, backend=LocalPoolBackend(pool_dir=tmp_path / "pool", autostart=False),
                                 spec=spec)
    with connect(db_url) as conn:
        event_log = records.get_submission(conn, submission_id)["event_log"]
    pool = ScriptedPool(spec.workdir)
    pool.run(range(BEFORE), exit_code, stderr)
    trigger = StageTrigger(request_id=request_id, stage="run", backend="local", poll_interval=0.1,
                           triage_interval=0, retry_batch_s=0, preflight_timeout_s=600, min_run_s=0)
    env = {**os.environ, "AIRFLOW_CONN_PRODOPS_DB": db_url, "PRODOPS_HOME": str(tmp_path)}

    first, standby = Triggerer(env), Triggerer(env)  # the second takes the trigger over once the first died
    triggerers += [first, standby]
    first.assign(trigger)
    wait_for("the first triggerer storing the jobs that ended", lambda: completed(db_url, submission_id) == BEFORE,
             timeout_s=120)
    holder = psycopg.connect(db_url)
    holder.execute("LOCK TABLE job_events IN SHARE MODE")  # the next cycle waits inside its write
    pool.run(range(BEFORE, AT_KILL), exit_code, stderr)
    wait_for("a tracking cycle waiting inside its write",
             lambda: blocked_on_lock(db_url, devenv.database_name(db_url), "job_events"), timeout_s=60)
    first.kill()
    holder.rollback()
    holder.close()
    assert completed(db_url, submission_id) == BEFORE  # the killed cycle's rows went with its transaction

    pool.run(range(AT_KILL, N_JOBS), exit_code, stderr)  # the log goes on growing with no triggerer
    event = standby.first_event(trigger, timeout_s=120)  # the same kwargs, as the triggerer after a restart
    pool.close()

    assert (event["status"], event["rounds"], event["resubmitted"]) == ("complete", 0, 0), event
    assert rows_per_job(db_url, submission_id) == {proc: 1 for proc in range(N_JOBS)}
    assert stored_events(db_url, submission_id) == logged_events(event_log)  # each once, none missing
    with connect(db_url) as conn:
        exits = {r["proc_id"]: r["exit_code"] for r in conn.execute(
            "SELECT proc_id, exit_code FROM job_attempts WHERE submission_id = %s AND state = 'completed'",
            (submission_id,))}
        verdicts = conn.execute("SELECT proc_id, action, action_state FROM triage_verdicts WHERE request_id = %s",
                                (request_id,)).fetchall()
        submissions = conn.execute("SELECT attempt, state FROM submissions WHERE request_id = %s",
                                   (request_id,)).fetchall()
    assert exits == {proc: exit_code(proc) for proc in range(N_JOBS)}
    failed = sorted(proc for proc in range(N_JOBS) if exit_code(proc))
    assert Counter(v["proc_id"] for v in verdicts) == Counter(failed)  # one verdict per failed attempt
    assert {v["action"] for v in verdicts} == {"debug_rerun"}  # a code failure: listed, never retried
    assert submissions == [{"attempt": 1, "state": "done"}]  # no retry round, none doubled
