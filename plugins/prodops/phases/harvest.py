"""The stdout fallback: the marker lines of ended jobs' stdout, recorded with source ``stdout``.

A job on a worker node without outbound network prints its phases as marker lines
(:mod:`prodops.phases.markers`); the client script does so by itself when a post fails. They are
read from ``job.<ProcId>.out`` in the submission's workdir once the job has ended: at the end of
its stage (``triage_failures`` of ``production_request``), and for a failed attempt when it is
triaged. Harvesting again writes nothing new, and a marker never replaces what the job posted.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from prodops.phases.markers import MARKER, MarkerProblem, PhaseFields, PhaseSource, scan_markers
from prodops.phases.store import record_phases
from prodops.store.db import connect, q
from prodops.triage.tail import LogLocation, LogPathRefused

log = logging.getLogger(__name__)

MAX_STDOUT_BYTES = 256 << 20
"""Read at most this much of one stdout (markers past it are not harvested, and a warning says so)."""
_MARKER_BYTES = MARKER.encode()


@dataclass
class HarvestResult:
    """What one harvest found: markers read, rows written, and the malformed lines with their files."""

    jobs: int = 0
    markers: int = 0
    written: int = 0
    problems: list[tuple[str, MarkerProblem]] = field(default_factory=list)

    def add(self, other: HarvestResult) -> None:
        self.jobs += other.jobs
        self.markers += other.markers
        self.written += other.written
        self.problems += other.problems


def marker_lines(path: str) -> Iterator[str]:
    """Each line of a job's stdout: its text when it carries a marker, else an empty string (so the
    scan numbers lines as the file does). Never follows a symbolic link; a missing file has no lines."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as err:
        if err.errno == errno.ELOOP:
            log.warning("Not harvesting %s: a symbolic link (phases are read only from regular files)", path)
        else:
            log.warning("Not harvesting %s: %s", path, err.strerror)
        return
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            log.warning("Not harvesting %s: not a regular file", path)
            return
        read = 0
        for raw in stream:
            read += len(raw)
            if read > MAX_STDOUT_BYTES:
                log.warning("Stopped harvesting %s after %d MiB; later marker lines are not read", path,
                            MAX_STDOUT_BYTES >> 20)
                return
            yield raw.decode("utf-8", "replace") if _MARKER_BYTES in raw else ""


def harvest_jobs(conn: psycopg.Connection, submission: Mapping[str, Any], procs: Iterable[int]) -> HarvestResult:
    """Record the markers of the given jobs (ProcIds) of one submission (a ``submissions`` row with
    ``id``, ``workdir``, ``event_log``, ``num_jobs`` and ``job_indexes``). The caller commits."""
    result = HarvestResult()
    submission_id = int(submission["id"])
    try:
        location = LogLocation.from_submission(submission)
    except LogPathRefused as err:
        log.error("Not harvesting the phases of submission %d: %s", submission_id, err)
        return result
    named = submission.get("job_indexes") or []
    found: list[tuple[int, PhaseFields]] = []
    for proc in procs:
        path = location.stdout(int(proc))
        scan = scan_markers(marker_lines(path))
        job_index = int(named[proc]) if proc < len(named) else int(proc)
        found += [(job_index, marker) for marker in scan.markers]
        result.jobs += 1
        result.markers += len(scan.markers)
        result.problems += [(path, p) for p in scan.problems]
    for path, problem in result.problems:
        log.warning("Malformed phase marker in %s line %d (%s): %s", path, problem.line_number, problem.error,
                    problem.text)
    result.written = record_phases(conn, submission_id, found, PhaseSource.STDOUT)
    return result


def harvest_stage(db_url: str, request_id: int, stage: str) -> HarvestResult:
    """Record the markers of every job of every submission of the stage (run when the stage has ended)."""
    total = HarvestResult()
    with connect(db_url) as conn:
        for submission in conn.execute(q("stage_submissions_to_harvest"), {"request_id": request_id, "stage": stage}):
            total.add(harvest_jobs(conn, submission, range(int(submission["num_jobs"]))))
        conn.commit()
    log.info("Harvested %d phase markers from %d jobs of request %d stage %s (%d new rows, %d malformed lines)",
             total.markers, total.jobs, request_id, stage, total.written, len(total.problems))
    return total


def harvest_attempts(conn: psycopg.Connection, rows: Sequence[Mapping[str, Any]]) -> HarvestResult:
    """Record the markers of the given attempts (triage's rows: ``submission_id``, ``proc_id``,
    ``workdir``, ``event_log``, ``job_index``). The caller commits."""
    by_submission: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_submission.setdefault(int(row["submission_id"]), []).append(row)
    total = HarvestResult()
    for submission_id, mine in by_submission.items():
        procs = [int(r["proc_id"]) for r in mine]
        named = [0] * (max(procs) + 1)
        for r in mine:
            named[int(r["proc_id"])] = int(r["job_index"] if r.get("job_index") is not None else r["proc_id"])
        submission = {"id": submission_id, "workdir": mine[0]["workdir"], "event_log": mine[0].get("event_log"),
                      "job_indexes": named}
        total.add(harvest_jobs(conn, submission, procs))
    return total
