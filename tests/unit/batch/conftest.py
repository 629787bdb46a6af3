"""Fixtures for the local pool tests: a private PRODOPS_HOME, and no runner or job left behind."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from prodops.batch.base import PollResult, Submission
from prodops.batch.local import LocalPoolBackend

REPO_ROOT = Path(__file__).resolve().parents[3]
DEMO_JOB = REPO_ROOT / "include" / "jobs" / "demo_job.py"


def _runner_pid(workdir: Path) -> int | None:
    try:
        return int((workdir / "runner.lock").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _job_pids(workdir: Path) -> list[int]:
    try:
        state = json.loads((workdir / "runner.state.json").read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [int(entry["pid"]) for entry in state.get("running", [])]


def stop_pool_processes(root: Path) -> None:
    """End the runners (they evict their jobs) and any job session left under ``root``, by pid."""
    for lock in root.rglob("runner.lock"):
        workdir = lock.parent
        pid = _runner_pid(workdir)
        if pid is None or not psutil.pid_exists(pid):
            continue
        try:
            proc = psutil.Process(pid)
            if "prodops.batch.local.runner" not in " ".join(proc.cmdline()):
                continue
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.Error:
            pass
        for job_pid in _job_pids(workdir):
            try:
                os.killpg(job_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def pool_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private PRODOPS_HOME; every runner started under it is stopped at teardown."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PRODOPS_HOME", str(home))
    monkeypatch.setenv("PRODOPS_LOCAL_SITE", "T3_Test_Local")
    yield home
    stop_pool_processes(home)


@pytest.fixture
def backend(pool_home: Path) -> LocalPoolBackend:
    return LocalPoolBackend(slots=4)


@pytest.fixture(scope="session")
def demo_job() -> Path:
    return DEMO_JOB


@pytest.fixture(scope="session")
def wait_final() -> Callable[..., tuple[PollResult, list]]:
    """``wait_final(backend, submission, timeout_s=30)``: poll until every job is final."""
    return wait_until_final


@pytest.fixture(scope="session")
def stop_pool() -> Callable[[Path], None]:
    """``stop_pool(root)``: stop every runner and job session under ``root``."""
    return stop_pool_processes


def wait_until_final(
    backend: LocalPoolBackend,
    submission: Submission,
    *,
    timeout_s: float = 30.0,
    offset: int = 0,
    final: Callable[[int], bool] = lambda status: status in (3, 4, 5),
) -> tuple[PollResult, list]:
    """Poll until every job is final; returns the last poll and every event read on the way."""
    deadline = time.monotonic() + timeout_s
    events = []
    while True:
        result = backend.poll(submission, offset)
        events.extend(result.events)
        offset = result.offset
        if len(result.ads) == submission.num_jobs and all(final(int(ad["JobStatus"])) for ad in result.ads):
            return result, events
        if time.monotonic() > deadline:
            states = {int(ad["ProcId"]): int(ad["JobStatus"]) for ad in result.ads}
            log = (Path(submission.workdir) / "runner.log").read_text()
            pytest.fail(f"jobs not final after {timeout_s} s: {states}\nrunner.log:\n{log}")
        time.sleep(0.2)
