"""The files of one local-pool submission, shared by the backend and the runner.

Layout of ``<workdir>``::

    job.sub            the submit description, as htcondor2.Submit rendered it
    spec.json          the SubmissionSpec
    submission.json    the Submission handle; written last, it marks the submit as done
    jobs.log           the HTCondor job event log
    queue.ads          ads of the jobs still in the queue (idle, running, held)
    history.ads        ads of the jobs that left the queue (completed, removed)
    ads.offset         the event-log offset the two ad files show: every event before it is in them
    job.N.out/.err     each job's stdout and stderr
    runner.log         the runner's own log
    runner.lock        held (flock) by the live runner
    runner.state.json  pids of running jobs, to clean up after a runner crash
    control/           hold/release/remove requests, moved to control/done/ once applied
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import classad2
from htcondor2 import JobStatus

from prodops.batch.base import Submission
from prodops.batch.jobads import IN_QUEUE, read_ads, write_atomic


class Workdir:
    """Paths and file protocols of one submission's directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.submit_file = self.path / "job.sub"
        self.spec_file = self.path / "spec.json"
        self.submission_file = self.path / "submission.json"
        self.event_log = self.path / "jobs.log"
        self.queue_ads = self.path / "queue.ads"
        self.history_ads = self.path / "history.ads"
        self.ads_offset_file = self.path / "ads.offset"
        self.runner_log = self.path / "runner.log"
        self.lock_file = self.path / "runner.lock"
        self.state_file = self.path / "runner.state.json"
        self.control_dir = self.path / "control"
        self.done_dir = self.control_dir / "done"

    def __repr__(self) -> str:
        return f"Workdir({str(self.path)!r})"

    def load_submission(self) -> Submission | None:
        try:
            return Submission.from_dict(json.loads(self.submission_file.read_text()))
        except FileNotFoundError:
            return None

    def load_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = json.loads(self.spec_file.read_text())
        return spec

    def write_json(self, path: Path, data: Any) -> None:
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def ads(self) -> list[classad2.ClassAd]:
        """Every job's current ad, in ProcId order.

        The queue file is read before the history file, and a job found in both keeps its
        history ad: a job that leaves the queue between the two reads is neither lost nor
        seen twice.
        """
        by_proc = {int(ad["ProcId"]): ad for ad in read_ads(self.queue_ads)}
        by_proc.update((int(ad["ProcId"]), ad) for ad in read_ads(self.history_ads))
        return [by_proc[proc] for proc in sorted(by_proc)]

    def ads_offset(self) -> int | None:
        """The event-log offset the ad files show (written after them), None when no runner of this
        version wrote one: read it before the ads, which then show at least every event before it."""
        try:
            return int(self.ads_offset_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def mark_ads(self, offset: int) -> None:
        """Say that the ad files as written now show every event of the log before ``offset``."""
        write_atomic(self.ads_offset_file, f"{int(offset)}\n")

    def history(self) -> list[classad2.ClassAd]:
        return sorted(read_ads(self.history_ads), key=lambda ad: int(ad["ProcId"]))

    def has_work(self, ads: Sequence[classad2.ClassAd] | None = None) -> bool:
        """Jobs to run or requests to apply: a runner should be alive."""
        if self.pending_requests():
            return True
        current = self.ads() if ads is None else ads
        return any(int(ad["JobStatus"]) in (JobStatus.IDLE, JobStatus.RUNNING) for ad in current)

    def in_queue(self, ads: Sequence[classad2.ClassAd]) -> list[classad2.ClassAd]:
        return [ad for ad in ads if int(ad["JobStatus"]) in IN_QUEUE]

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Serialise an operation on this workdir across processes (blocking flock)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / name, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def try_lock_runner(self) -> int | None:
        """The runner lock's descriptor if this process got it, else None (another runner is live)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def runner_alive(self) -> bool:
        """Whether a runner holds the lock (a dead runner's lock is released by the kernel)."""
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def add_request(self, action: str, procs: Sequence[int] | None, reason: str) -> Path:
        """Queue a hold/release/remove request for the runner; returns its file."""
        self.control_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        path = self.control_dir / name
        request = {"action": action, "procs": None if procs is None else list(procs), "reason": reason}
        self.write_json(path, request)
        return path

    def pending_requests(self) -> list[Path]:
        try:
            return sorted(p for p in self.control_dir.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        except FileNotFoundError:
            return []

    def finish_request(self, path: Path) -> None:
        self.done_dir.mkdir(parents=True, exist_ok=True)
        os.replace(path, self.done_dir / path.name)

    def request_done(self, path: Path) -> bool:
        return not path.exists()
