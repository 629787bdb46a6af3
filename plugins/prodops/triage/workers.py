"""Reading and classifying a stage's failed attempts, on every CPU when the batch is big.

Triage of a stage is Python work (two tail files read per attempt, the framework parsers, the
pattern scan, the plugins): one process uses one CPU, and a 20,000-job stage took 5 s of CPU.
From :data:`MIN_PARALLEL` attempts on, the attempts are cut into one contiguous chunk per worker
process, *forked* from this one: each worker inherits the compiled library, the parsers' tables
and the plugins already loaded (nothing is compiled or sent twice) and the event-log tails the parent
parsed once for the whole batch (the shared log is not parsed again per worker), reads its chunk's
stdout and stderr tails, classifies them, and sends back the verdicts and the only part
of the tails read afterwards (the stdout phase-marker lines, :func:`marker_lines`). A chunk is
classified exactly as the serial path would classify it: the verdicts are the same (a test
compares them on the real corpus). A plugin's time bound holds per worker (one that hangs is
skipped for the rest of that worker's chunk).

The serial path is kept for small batches (forking costs more than it saves), where ``fork`` is
not offered, and as the fallback when a worker cannot be started or dies (logged).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from prodops.constants import Category
from prodops.phases.markers import MARKER
from prodops.triage.classify import Classifier
from prodops.triage.tail import (
    EVENTLOG,
    STDERR,
    STDOUT,
    JobTail,
    LogLocation,
    LogPathRefused,
    Tail,
    event_log_tails,
    job_tail,
)
from prodops.triage.verdict import JobFacts, Verdict

log = logging.getLogger(__name__)

DEADLINE_S, DEADLINE_S_PER_ATTEMPT = 120.0, 0.002
"""How long the workers may take (ten times what a loaded machine needs): a worker that hangs (a
lock held by another thread when it was forked) leaves the batch to this process after that."""
MIN_PARALLEL = 2000
"""Below this many attempts one process does it all: starting workers and sending the verdicts back
would cost about what the second CPU saves."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which a batch slot or a container narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not offered on every platform
        return os.cpu_count() or 1


SubmissionEvents = dict[int, tuple[LogLocation, dict[tuple[int, int], Tail]] | LogPathRefused]
"""Per submission: where its logs are and its jobs' event-log tails, or why its logs are not read."""


def _by_submission(rows: Sequence[Mapping[str, Any]]) -> dict[int, list[int]]:
    by_submission: dict[int, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_submission[int(row["submission_id"])].append(i)
    return by_submission


def read_events(rows: Sequence[Mapping[str, Any]], lines: int) -> SubmissionEvents:
    """The event-log tails of the attempts ``rows``: each submission's shared event log parsed once,
    for the jobs of ``rows`` only (the workers of a batch share this one parse)."""
    found: SubmissionEvents = {}
    for submission_id, indexes in _by_submission(rows).items():
        try:
            loc = LogLocation.from_submission({"id": submission_id, **rows[indexes[0]]})
        except LogPathRefused as err:
            log.error("Not reading the logs of submission %d: %s", submission_id, err)
            found[submission_id] = err
            continue
        wanted = {(int(rows[i]["cluster_id"]), int(rows[i]["proc_id"])) for i in indexes}
        events, whole = event_log_tails(loc.event_log, lines=lines, jobs=wanted)
        if whole.status not in ("ok", "empty"):
            log.warning("Event log of submission %d: %s %s", submission_id, whole.status, whole.error or "")
        found[submission_id] = (loc, events)
    return found


def read_tails(rows: Sequence[Mapping[str, Any]], lines: int, events: SubmissionEvents | None = None) -> list[JobTail]:
    """Each attempt's tails; ``events`` is :func:`read_events` of (at least) these rows, read here when None."""
    if events is None:
        events = read_events(rows, lines)
    tails: list[JobTail] = []
    for row in rows:
        read = events[int(row["submission_id"])]
        if isinstance(read, LogPathRefused):
            tails.append(JobTail(*(Tail(stream=s, path=None, status="refused", error=str(read))
                                   for s in (STDOUT, STDERR, EVENTLOG))))
            continue
        loc, by_job = read
        tails.append(job_tail(loc, int(row["cluster_id"]), int(row["proc_id"]), lines=lines, events=by_job))
    return tails


def marker_lines(tail: JobTail) -> list[str]:
    """What is read of a tail after classification: its stdout's ``@@prodops`` phase-marker lines
    (:func:`prodops.phases.triage.apply_phase_hints`), all a worker sends back of it."""
    out = tail.stdout
    return [out.line(i) for i in out.holding(MARKER)] if out.status == "ok" else []


@dataclass
class Outcome:
    """A batch's verdicts, its tails (whole, or from a worker only their :func:`marker_lines`) and what
    the plugins did."""

    verdicts: list[Verdict]
    tails: list[JobTail]
    workers: int = 1
    read_seconds: float = 0.0
    plugin_seconds: float = 0.0
    match_seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    timed_out: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Batch:
    rows: Sequence[Mapping[str, Any]]
    facts: Sequence[JobFacts]
    lines: int
    classifier: Classifier
    events: SubmissionEvents | None = None
    """The batch's event-log tails, parsed once before the workers are forked (None: each reads its own)."""


_BATCH: _Batch | None = None
"""The batch the forked workers read their chunks from (set just before they are forked)."""


def _serial(batch: _Batch, start: int, stop: int) -> Outcome:
    runner = batch.classifier.runner
    errors_before, timed_out_before = dict(runner.errors), len(runner.timed_out)
    started = time.perf_counter()
    tails = read_tails(batch.rows[start:stop], batch.lines, batch.events)
    read_seconds = time.perf_counter() - started
    verdicts = batch.classifier.classify(list(zip(batch.facts[start:stop], tails)))
    return Outcome(
        verdicts=verdicts, tails=tails,
        read_seconds=read_seconds, plugin_seconds=batch.classifier.plugin_seconds, match_seconds=batch.classifier.match_seconds,
        errors={k: n - errors_before.get(k, 0) for k, n in runner.errors.items() if n > errors_before.get(k, 0)},
        timed_out=runner.timed_out[timed_out_before:])


_FIELDS = tuple(f.name for f in dataclasses.fields(Verdict))
_NO_MARKERS = JobTail(*(Tail(stream=s, path=None, status="empty") for s in (STDOUT, STDERR, EVENTLOG)))
"""The tail given back for a job that printed no phase marker (only read, never changed)."""


def _chunk(bounds: tuple[int, int]) -> tuple[list[tuple[Any, ...]], list[list[str] | None], Outcome]:
    """In a forked worker: one chunk of :data:`_BATCH`, packed as plain values (pickling the Verdict
    and Tail objects themselves cost five times more, most of it in the parent that unpickles them)."""
    assert _BATCH is not None, "the batch is set before the workers are forked"
    done = _serial(_BATCH, *bounds)
    verdicts = [tuple(v.category.value if k == "category" else getattr(v, k) for k in _FIELDS) for v in done.verdicts]
    markers = [marker_lines(t) or None for t in done.tails]
    done.verdicts, done.tails = [], []
    return verdicts, markers, done


def _unpack(packed: tuple[list[tuple[Any, ...]], list[list[str] | None], Outcome]) -> Outcome:
    verdicts, markers, done = packed
    category = _FIELDS.index("category")
    done.verdicts = []
    for values in verdicts:
        fields = dict(zip(_FIELDS, values))
        fields["category"] = Category(values[category])
        done.verdicts.append(Verdict(**fields))
    done.tails = [_NO_MARKERS if m is None else JobTail(Tail(stream=STDOUT, path=None, lines=m), _NO_MARKERS.stderr,
                                                        _NO_MARKERS.eventlog) for m in markers]
    return done


def _stop(pool: ProcessPoolExecutor | None) -> None:
    """Kill the pool's worker processes (one that hangs would otherwise keep its parent waiting at exit)."""
    processes = getattr(pool, "_processes", None) or {}  # pid -> Process (not public before Python 3.14)
    for process in list(processes.values()):
        process.kill()


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (start, stop) ranges covering 0..n, sizes differing by at most one."""
    size, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + size + (k < extra)
        bounds.append((start, stop))
        start = stop
    return [b for b in bounds if b[1] > b[0]]


def read_and_classify(rows: Sequence[Mapping[str, Any]], facts: Sequence[JobFacts], *, lines: int,
                      classifier: Classifier, workers: int = 1, min_parallel: int = MIN_PARALLEL) -> Outcome:
    """Verdicts for the attempts ``rows`` (with their ``facts``), on ``workers`` processes when there
    are at least ``min_parallel`` of them (else, or when workers cannot run, in this process)."""
    batch = _Batch(rows, facts, lines, classifier)
    parts = min(workers, len(rows))
    if parts < 2 or len(rows) < min_parallel or "fork" not in multiprocessing.get_all_start_methods():
        return _serial(batch, 0, len(rows))
    if multiprocessing.current_process().daemon:  # a daemonic process may not start children
        log.info("Triage of %d attempts in this process: it is a daemonic worker process", len(rows))
        return _serial(batch, 0, len(rows))
    global _BATCH
    started = time.perf_counter()
    _BATCH = batch = dataclasses.replace(batch, events=read_events(rows, lines))  # once, not in every worker
    events_seconds = time.perf_counter() - started
    deadline = DEADLINE_S + DEADLINE_S_PER_ATTEMPT * len(rows)
    pool = None
    try:
        pool = ProcessPoolExecutor(max_workers=parts, mp_context=multiprocessing.get_context("fork"))
        done = [_unpack(packed) for packed in pool.map(_chunk, chunks(len(rows), parts), timeout=deadline)]
    except (BrokenProcessPool, OSError, AssertionError, TimeoutError) as err:  # a worker died, hung or never started
        log.error("Triage workers failed (%s: %s); triaging the %d attempts in this process instead",
                  type(err).__name__, str(err) or f"no answer within {deadline:.0f} s", len(rows))
        _stop(pool)
        return _serial(batch, 0, len(rows))
    finally:
        _BATCH = None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    merged = Outcome(verdicts=[v for o in done for v in o.verdicts], tails=[t for o in done for t in o.tails],
                     workers=len(done), read_seconds=events_seconds + max(o.read_seconds for o in done),
                     plugin_seconds=max(o.plugin_seconds for o in done),
                     match_seconds=max(o.match_seconds for o in done))
    runner = classifier.runner
    for o in done:
        for pid, n in o.errors.items():
            runner.errors[pid] = runner.errors.get(pid, 0) + n
            merged.errors[pid] = merged.errors.get(pid, 0) + n
        merged.timed_out += [p for p in o.timed_out if p not in merged.timed_out]
    runner.timed_out += [p for p in merged.timed_out if p not in runner.timed_out]
    return merged
