"""The stdout fallback: the marker lines of ended jobs' stdout, recorded with source ``stdout``.

A job on a worker node without outbound network prints its phases as marker lines
(:mod:`prodops.phases.markers`); the client script does so by itself when a post fails. They are
read from ``job.<ProcId>.out`` in the submission's workdir once the job has ended, at the end of
its stage (``triage_failures`` of the workflow DAGs); a failed attempt's stdout tail is read
for them when it is triaged (:mod:`prodops.phases.triage`). Harvesting again writes nothing new, and a marker never replaces what the job posted.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


from prodops.phases.markers import MARKER, MAX_MARKER_LINE, MarkerProblem, PhaseFields, PhaseSource, scan_numbered
from prodops.phases.store import record_phases
from prodops.store.db import Conn, connect, q
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


def marker_lines(path: str, *, chunk_bytes: int = 1 << 20) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of a job's stdout that carries ``@@prodops``.

    The file is searched in chunks for the marker's bytes (a multi-GB log costs its reading, not a
    Python step per line); lines longer than a marker may be are skipped. Never follows a symbolic
    link; a missing file has no lines; at most :data:`MAX_STDOUT_BYTES` are read.
    """
    fd = _open_regular(path)
    if fd is None:
        return
    with os.fdopen(fd, "rb") as stream:
        pending, line, read, skipping = b"", 1, 0, False
        while True:
            chunk = stream.read(chunk_bytes)
            read += len(chunk)
            if not chunk or read > MAX_STDOUT_BYTES:
                if chunk:
                    log.warning("Stopped harvesting %s after %d MiB; later marker lines are not read", path,
                                MAX_STDOUT_BYTES >> 20)
                elif pending and not skipping:
                    yield from _in_lines(pending + b"\n", line)
                return
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if not cut:  # no line ends here: keep it unless it is already too long for a marker
                skipping |= len(data) > MAX_MARKER_LINE
                pending = b"" if skipping else data
                continue
            whole, pending = data[:cut], data[cut:]
            if skipping:  # the rest of an over-long line
                first = whole.index(b"\n") + 1
                whole, line, skipping = whole[first:], line + 1, False
            yield from _in_lines(whole, line)
            line += whole.count(b"\n")
            if len(pending) > MAX_MARKER_LINE:
                pending, skipping = b"", True


def _in_lines(whole: bytes, first_line: int) -> Iterator[tuple[int, str]]:
    """The marker lines of whole lines of bytes (each ending in a newline), numbered from ``first_line``."""
    at, line, counted = whole.find(_MARKER_BYTES), first_line, 0
    while at >= 0:
        start = whole.rfind(b"\n", 0, at) + 1
        end = whole.index(b"\n", at)
        line += whole.count(b"\n", counted, start)
        counted = start
        if end - start <= MAX_MARKER_LINE:
            yield line, whole[start:end].rstrip(b"\r").decode("utf-8", "replace")
        at = whole.find(_MARKER_BYTES, end)


def _open_regular(path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        why = "a symbolic link (phases are read only from regular files)" if err.errno == errno.ELOOP else err.strerror
        log.warning("Not harvesting %s: %s", path, why)
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        log.warning("Not harvesting %s: not a regular file", path)
        return None
    return fd


def harvest_jobs(conn: Conn, submission: Mapping[str, Any], procs: Iterable[int]) -> HarvestResult:
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
        scan = scan_numbered(marker_lines(path))
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
