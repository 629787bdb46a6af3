"""Benchmark: tracking one 20,000-job HTCondor submission, and ad ingest against raw COPY and per-job round trips.

Synthetic job ads (a real pool's attribute set: ~60 attributes, the MemoryUsage expression,
nested TransferInputStats) sit in the fake schedd (tests/fakes/schedd.py, the bindings'
signatures); the HTCondor backend polls it; rows go to a real PostgreSQL (the private one
devenv starts, or the server of PRODOPS_PG_URL), into a fresh database dropped at
the end, whose sessions commit with ``synchronous_commit = on`` (PostgreSQL's default, as
deployed; the private dev server turns it off). Measured in one run:

* poll cycles of :class:`~prodops.tracking.SubmissionTracker` (event log + the schedd
  calls it needs + diff + COPY/merge + commit): the first one (every job new; it writes at most
  ``tracking.MAX_ROWS`` rows and reads at most ``htcondor.MAX_EVENTS`` events), the ones
  that catch up until the whole submission is stored, a steady one (5% of the ads changed,
  2% of the jobs finished, their events appended) and an idle one;
* ad ingest of the queued jobs' ads into an empty submission (map each ad, streamed into a
  binary COPY, commit), also preceded by the one ``Schedd.query`` of the submission; against
  raw COPY of the same rows mapped beforehand (the same binary COPY), and against the
  per-job round-trip baseline: per job one ``Schedd.query`` of that job through the same
  fake schedd, its mapping, one upsert and one commit, as naive code would do (also shown
  with ``synchronous_commit = off``, and as one upsert per pre-mapped row in one transaction).

Targets (issue 3): one poll cycle <= 1 s; ingest >= 50% of raw COPY (issue 12: 80%); query +
ingest >= 20x the per-job baseline. Times are printed, never asserted. The fake schedd answers from memory
(a one-job query costs it ~11 us): the schedd's own time and the network are not in these
figures, which flatters the per-job baseline most.

Tracking cycles are measured at each of ``--sizes`` (default 5,000, 20,000, 100,000 jobs), the
event log the tracker's change feed: first cycle, a cycle after 1,000 jobs changed (200 of them
finished), an idle cycle, a reconciliation with nothing changed, and the schedd calls per hour
of an idle submission; each cycle with this process's CPU seconds and the 1-minute load average
(the machine is shared). Issue 12's targets at 20,000: first cycle <= 0.5 s, 1,000 changes
<= 0.15 s, idle <= 0.02 s, ingest >= 0.8 of raw COPY. ``--concurrent N`` (default 10) then tracks
N submissions of ``--jobs`` jobs in one process as the triggerer runs triggers (asyncio, each
cycle in a thread) and prints every submission's cycle in every poll interval against the
poll interval. Last full run (2 CPUs, PostgreSQL 15 on localhost, load average 5-7.5):
first 0.92 / 1.65 / 3.03 s, 1,000 changes 0.58 / 0.78 / 0.61 s, idle 0.000 s (no schedd call,
no database connection), reconciliation 0.39 / 1.32 / 4.46 s, 24 schedd calls an hour idle;
at 20,000 and load 3.1: first 0.66 s (0.35 s CPU), 1,000 changes 0.30 s (0.13 s CPU); ingest
0.70 of raw COPY, query + ingest 32.6x the per-job baseline; ten 20,000-job submissions: every
cycle within 0.64 s of its interval's start once stored (up to 6.1 s while 200,000 new jobs are
stored).

Usage (repository root): ``make bench-tracking`` or ``.venv/bin/python bench/tracking.py [--jobs 20000]``.
Writes bench/results/tracking-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO / "tools"), str(REPO)]

import classad2  # noqa: E402

import devenv  # noqa: E402
from prodops import config  # noqa: E402
from prodops import tracking  # noqa: E402
from prodops.batch.base import SubmissionSpec  # noqa: E402
from prodops.batch.classads import COLUMNS, map_ad  # noqa: E402
from prodops.batch.eventlog import EventLogWriter, ResourceUsage, Usage  # noqa: E402
from prodops.batch import htcondor  # noqa: E402
from prodops.batch.htcondor import HTCondorBackend  # noqa: E402
from prodops.store import records  # noqa: E402
from prodops.store.db import connect, q  # noqa: E402
from tests.fakes.schedd import FakeSchedd  # noqa: E402

CLUSTER = 7001
T0 = 1764057600  # 2025-11-25 08:00:00 UTC
TARGET_CYCLE_S = 1.0
TARGET_VS_COPY = 0.8
"""Issue 12's target for ad ingest against raw COPY (issue 3's was 0.5)."""
TARGET_VS_PER_JOB = 20.0
CHANGES = 1000
TARGETS_20K = {"first (all new)": 0.5, f"{CHANGES} changed ({CHANGES // 5} finished)": 0.15,
               "idle (no change; median of 5)": 0.02}
"""Issue 12's targets at 20,000 jobs, seconds per cycle."""
SITES = ("FNAL", "US_Wisconsin", "US_Nebraska", "T2_Example", "US_Caltech", "UK_RAL")
CPUS = ("AMD EPYC 7543 32-Core Processor", "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
        "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz")

AD_TEMPLATE = """\
AccountingGroup = "group_nova.prod"
Args = "--job {proc} --records 100 --input /pnfs/nova/raw/run{run}/file_{proc:05d}.root"
BytesRecvd = {recvd}.0
BytesSent = 0.0
ClusterId = {cluster}
Cmd = "/nova/app/prodops/stages/reco.sh"
CumulativeSlotTime = {wall}.0
DiskUsage = {disk}
EnteredCurrentStatus = {ecs}
Err = "/nova/prod/requests/7/reco/attempt-1/job.{proc}.err"
GlobalJobId = "submit01.fnal.gov#{cluster}.{proc}#{qdate}"
ImageSize = {rss}
Iwd = "/nova/prod/requests/7/reco/attempt-1"
JobBatchName = "nova-prod5-7-reco"
JobCurrentStartDate = {start}
JobCurrentStartExecutingDate = {start}
JobPrio = 70
JobRunCount = 1
JobStartDate = {start}
JobStatus = 2
JobUniverse = 5
LastJobStatus = 1
LastMatchTime = {start}
MATCH_EXP_JOB_GLIDEIN_Site = "{site}"
MachineAttrCPUModel0 = "{cpu}"
MachineAttrCPUVendor0 = "GenuineIntel"
MachineAttrGLIDEIN_Site0 = "US_{site}"
MemoryUsage = ((ResidentSetSize + 1023) / 1024)
MyType = "Job"
NumJobMatches = 1
NumJobStarts = 1
NumShadowStarts = 1
Out = "/nova/prod/requests/7/reco/attempt-1/job.{proc}.out"
Owner = "novapro"
ProcId = {proc}
ProdopsAttempt = 1
ProdopsRequest = {request}
ProdopsStage = "reco"
ProdopsSubmission = "{key}"
QDate = {qdate}
RemoteHost = "slot1_{slot}@glidein_{glidein}@wn-{node:03d}.example.org"
RemoteSysCpu = 0.0
RemoteUserCpu = {cpu_s}.0
RemoteWallClockTime = 0.0
RequestCpus = 1
RequestDisk = 10000000
RequestMemory = 2000
ResidentSetSize = {rss}
StartdIpAddr = "<10.{a}.{b}.{c}:9618?addrs=10.{a}.{b}.{c}-9618&alias=wn-{node:03d}.example.org>"
TransferInputSizeMB = 150
TransferInputStats = [ CedarFilesCountLastRun = 3; CedarSizeBytesLastRun = {recvd}; CedarFilesCountTotal = 3; CedarSizeBytesTotal = {recvd} ]
User = "novapro@fnal.gov"
UserLog = "{log}"
"""


def synthetic_ad(proc: int, *, key: str, request_id: int, log: str) -> classad2.ClassAd:
    """One running job's ad, varied per job (site, CPU, host, usage) as a production's are."""
    start = T0 + 3600 + (proc * 7) % 7200
    text = AD_TEMPLATE.format(
        proc=proc, cluster=CLUSTER, run=1000 + proc // 500, recvd=150_000_000 + proc, wall=600 + proc % 300,
        disk=1_000_000 + proc * 13 % 500_000, ecs=start, qdate=T0, rss=1_500_000 + proc * 31 % 600_000,
        start=start, site=SITES[proc % len(SITES)], cpu=CPUS[proc % len(CPUS)], request=request_id, key=key,
        slot=proc % 64, glidein=100000 + proc // 64, node=proc % 997, cpu_s=500 + proc % 100,
        a=proc // 65536 % 256, b=proc // 256 % 256, c=proc % 256, log=log,
    )
    return classad2.parseOne(text, classad2.ParserType.Old)


class Timers:
    """Wall time spent in named functions during one cycle."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started

        return timed


@contextmanager
def instrumented(backend: HTCondorBackend, schedd: FakeSchedd) -> Iterator[Timers]:
    """Time the schedd calls, the event log and the database writes of the tracker's cycles."""
    timers = Timers()
    saved = [(schedd, "query", schedd.query), (schedd, "history", schedd.history)]
    saved += [(htcondor, "read_event_log", htcondor.read_event_log)]
    saved += [(records, name, getattr(records, name)) for name in ("write_job_attempts", "write_job_events")]
    for owner, name, fn in saved:
        setattr(owner, name, timers.wrap(name, fn))
    try:
        yield timers
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def cycle(tracker: tracking.SubmissionTracker, backend: HTCondorBackend, schedd: FakeSchedd) -> dict[str, Any]:
    with instrumented(backend, schedd) as timers:
        started, cpu = time.perf_counter(), time.process_time()
        result = tracker.cycle()
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
    spent = timers.spent
    accounted = sum(spent.values())
    return {
        "total_s": total, "cpu_s": cpu, "load_1min": os.getloadavg()[0], "query_s": spent.get("query", 0.0), "history_s": spent.get("history", 0.0),
        "event_log_s": spent.get("read_event_log", 0.0), "map_write_s": spent.get("write_job_attempts", 0.0),
        "events_write_s": spent.get("write_job_events", 0.0), "diff_s": total - accounted,
        "ads": result.polled, "written": result.written, "events": result.events, "done": result.done,
        "deferred": result.deferred, "events_behind": result.events_behind, "full": result.full,
        "schedd_calls": result.schedd_calls,
    }


def make_submission(db_url: str, key_attempt: int, n_jobs: int, workdir: str) -> tuple[int, SubmissionSpec]:
    form = {"experiment": "nova", "campaign": "bench", "workflow": "bench", "n_jobs": n_jobs,
            "request_memory_mb": 2000, "request_disk_mb": 10000, "max_wall_time_min": 600, "priority": 50,
            "justification": "tracking benchmark", "contact": "ops@example.org"}
    with connect(db_url) as conn:
        request_id = records.upsert_request(conn, dag_id="bench", run_id="tracking", form=form)
        records.upsert_stages(conn, request_id, ["reco"])
        spec = SubmissionSpec(request_id=request_id, stage="reco", attempt=key_attempt, executable="/bin/true",
                              items=[f"--job {i}" for i in range(n_jobs)], workdir=workdir)
        row = records.claim_submission(conn, spec, "htcondor")
        conn.commit()
    return int(row["id"]), spec


def record_cluster(db_url: str, submission_id: int, spec: SubmissionSpec, event_log: str) -> None:
    from prodops.batch.base import Submission

    with connect(db_url) as conn:
        records.record_submitted(conn, submission_id, Submission(
            backend="htcondor", cluster_id=CLUSTER, num_jobs=len(spec.items), event_log=event_log,
            workdir=spec.workdir, schedd="fake", key=spec.key))
        conn.commit()


class Clock:
    """The backend's clock, moved by hand: reconciliations happen when the benchmark says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tracked:
    """One synthetic submission: its fake schedd, event log, backend (clock moved by hand) and tracker."""

    def __init__(self, db_url: str, n_jobs: int, workdir: Path, attempt: int, label: str = "") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        submission_id, spec = make_submission(db_url, attempt, n_jobs, str(workdir))
        self.n_jobs, self.log_path = n_jobs, str(workdir / "jobs.log")
        record_cluster(db_url, submission_id, spec, self.log_path)
        self.schedd = FakeSchedd(first_cluster=CLUSTER)
        print(f"[{label or n_jobs}] building {n_jobs} synthetic job ads and their event log ...", flush=True)
        with EventLogWriter(self.log_path, host="submit01.fnal.gov") as log:
            for proc in range(n_jobs):
                self.schedd.put(synthetic_ad(proc, key=spec.key, request_id=spec.request_id, log=self.log_path))
                log.submit(CLUSTER, proc, when=T0)
            for proc in range(n_jobs):
                log.execute(CLUSTER, proc, slot_name=f"slot1_{proc % 64}@wn-{proc % 997:03d}.example.org",
                            when=T0 + 3600 + (proc * 7) % 7200)
        self.clock = Clock()
        self.backend = HTCondorBackend(schedd_factory=lambda: self.schedd, timeout_s=120, clock=self.clock)
        self.tracker = tracking.SubmissionTracker(backend=self.backend, db_url=db_url, submission_id=submission_id)
        self.schedd.query("true", self.backend.projection)  # the fake projects once per ad version; warm it
        self.changed = 0

    def change(self, changes: int, finished: int) -> None:
        """``changes`` running jobs change (``finished`` of them finish and leave the queue), each with its event."""
        running = [proc for (_, proc), ad in self.schedd.queue.items() if int(ad["JobStatus"]) == 2]
        jobs = running[::max(len(running) // max(changes, 1), 1)][:changes]  # spread over the submission
        with EventLogWriter(self.log_path, host="submit01.fnal.gov") as log:
            for n, job in enumerate(jobs[finished:]):
                k = self.changed + n
                self.schedd.update(CLUSTER, job, RemoteUserCpu=900.0 + k, ResidentSetSize=2_000_000 + k,
                                   ImageSize=2_000_000 + k)
                log.image_size(CLUSTER, job, image_size_kb=2_000_000, memory_usage_mb=1954,
                               resident_set_size_kb=2_000_000 + k, when=T0 + 9000)
            for n, job in enumerate(jobs[:finished]):
                self.schedd.update(CLUSTER, job, JobStatus=4, ExitCode=n % 3, ExitBySignal=False,
                                   CompletionDate=T0 + 9000, EnteredCurrentStatus=T0 + 9000,
                                   RemoteWallClockTime=5400.0,
                                   LastRemoteHost=str(self.schedd.ad(CLUSTER, job)["RemoteHost"]), RemoteHost=None,
                                   TransferOutputStats=classad2.parseOne(
                                       "[ CedarFilesCountLastRun = 2; CedarSizeBytesLastRun = 4096 ]"))
                log.terminated(CLUSTER, job, return_value=n % 3, run_usage=Usage(5000, 30),
                               resources=[ResourceUsage("Cpus", 0.93, 1, 1)], when=T0 + 9000)
                self.schedd.leave_queue(CLUSTER, job)
        self.changed += len(jobs)
        self.schedd.query("true", self.backend.projection)  # the changed ads' projections, as above

    def cycle(self) -> dict[str, Any]:
        return cycle(self.tracker, self.backend, self.schedd)


def bench_cycles(db_url: str, n_jobs: int, workdir: Path, attempt: int = 1,
                 changes: int = CHANGES) -> tuple[list[dict[str, Any]], FakeSchedd]:
    """The cycles of one tracker of an ``n_jobs`` submission, the event log its change feed.

    First (full) cycle and those catching up, a cycle after ``changes`` jobs changed (a fifth
    of them finished and left the queue, the rest new usage; each with its event), an idle
    one, and a reconciliation with nothing changed (the clock moved past ``reconcile_interval``).
    """
    sub = Tracked(db_url, n_jobs, workdir, attempt)
    results = []
    print(f"[{n_jobs}] cycle 1: every job new ...", flush=True)
    results.append({"cycle": "first (all new)", **sub.cycle()})
    while results[-1]["deferred"] or results[-1]["events_behind"]:
        print(f"[{n_jobs}] cycle {len(results) + 1}: catching up ...", flush=True)
        results.append({"cycle": "catching up", **sub.cycle()})

    changes = min(changes, n_jobs)
    finished = changes // 5
    sub.change(changes, finished)
    print(f"[{n_jobs}] cycle {len(results) + 1}: {changes} jobs changed ({finished} finished) ...", flush=True)
    results.append({"cycle": f"{changes} changed ({finished} finished)", **sub.cycle()})
    print(f"[{n_jobs}] cycle {len(results) + 1}: nothing changed ...", flush=True)
    idle = [sub.cycle() for _ in range(5)]
    results.append({"cycle": "idle (no change; median of 5)",
                    **sorted(idle, key=lambda c: c["total_s"])[len(idle) // 2]})
    sub.clock.now += sub.backend.reconcile_interval
    print(f"[{n_jobs}] cycle {len(results) + 1}: reconciliation, nothing changed ...", flush=True)
    results.append({"cycle": "reconciliation (no change)", **sub.cycle()})
    sub.schedd.close()
    return results, sub.schedd


def bench_concurrent(db_url: str, n_subs: int, n_jobs: int, workdir: Path, poll_s: float,
                     rounds: int = 6, changes: int = 100) -> dict[str, Any]:
    """``n_subs`` submissions tracked by one process as the triggerer runs triggers: one asyncio
    loop, each cycle in the default thread pool (``asyncio.to_thread``). Each poll interval every
    submission runs one cycle; the interval is kept when all ten finish within ``poll_s``.

    First the start (every submission new at once, cycles until all are stored), then ``rounds``
    steady intervals in which each submission had ``changes`` changes (a fifth finished), then an
    idle one. Changes are made between intervals, outside the timing.
    """
    import asyncio

    subs = [Tracked(db_url, n_jobs, workdir / f"concurrent-{i}", 100 + i, label=f"{i + 1}/{n_subs}")
            for i in range(n_subs)]

    async def interval(active: list[Tracked]) -> tuple[dict[str, Any], list[Tracked]]:
        """One poll interval: every active submission's cycle at once; returns the figures and the
        submissions the per-cycle bound left work to (they go again at once, as the trigger does).
        A cycle's time runs from the interval's start to its end: waiting for a thread included."""
        started = time.perf_counter()

        async def one(sub: Tracked) -> tuple[float, dict[str, Any]]:
            result = await asyncio.to_thread(sub.tracker.cycle)
            return time.perf_counter() - started, result.to_dict()

        done = await asyncio.gather(*(one(sub) for sub in active))
        behind = [sub for sub, (_, r) in zip(active, done) if r["deferred"] or r["events_behind"]]
        return {"makespan_s": round(max(t for t, _ in done), 3), "cycles_s": [round(t, 3) for t, _ in done],
                "by_submission": {subs.index(sub): round(t, 3) for sub, (t, _) in zip(active, done)},
                "written": sum(r["written"] for _, r in done), "behind": len(behind),
                "load_1min": os.getloadavg()[0]}, behind

    async def run() -> dict[str, Any]:
        start, steady = [], []
        waiting = list(subs)
        while waiting:
            print(f"[concurrent] start interval {len(start) + 1}: {len(waiting)} submissions to store ...",
                  flush=True)
            figures, waiting = await interval(waiting)
            start.append(figures)
        for r in range(rounds):
            for sub in subs:
                sub.change(changes, changes // 5)
            print(f"[concurrent] steady interval {r + 1}: {changes} changes in each submission ...", flush=True)
            steady.append((await interval(subs))[0])
        idle = (await interval(subs))[0]
        return {"start": start, "steady": steady, "idle": idle}

    result = asyncio.run(run())
    for sub in subs:
        sub.schedd.close()
    return {"submissions": n_subs, "jobs": n_jobs, "poll_s": poll_s, "changes": changes, **result}


def idle_calls_per_hour(cycles: list[dict[str, Any]], poll_interval_s: float, reconcile_s: float) -> dict[str, float]:
    """Schedd calls an hour of an idle submission: each idle cycle's, plus a reconciliation every interval."""
    by_name = {c["cycle"]: c for c in cycles}
    idle = by_name["idle (no change; median of 5)"]["schedd_calls"]
    full = by_name["reconciliation (no change)"]["schedd_calls"]
    cycles_per_hour = 3600.0 / poll_interval_s
    reconciliations = 3600.0 / reconcile_s
    return {"feed": (cycles_per_hour - reconciliations) * idle + reconciliations * full,
            "full_every_cycle": cycles_per_hour * full}


def timed(fn: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_ingest(db_url: str, schedd: FakeSchedd, backend: HTCondorBackend, workdir: Path,
                 repeat: int) -> dict[str, Any]:
    """The queued jobs' ads, into an empty submission each time, commit included, five ways."""
    constraint = f"ClusterId == {CLUSTER}"
    ads = schedd.query(constraint, backend.projection)
    jobs = [int(ad["ProcId"]) for ad in ads]
    n = len(ads)
    ids = iter([make_submission(db_url, attempt, n, str(workdir))[0] for attempt in range(10, 14 + 4 * repeat)])

    def ingest(fetched: list[classad2.ClassAd]) -> None:  # the tracker's path for jobs with no row yet
        submission_id = next(ids)
        with connect(db_url) as conn:
            records.write_job_attempts(conn, submission_id, (map_ad(ad) for ad in fetched), existing=())
            conn.commit()

    updated_id = next(ids)
    with connect(db_url) as conn:
        records.write_job_attempts(conn, updated_id, (map_ad(ad) for ad in ads), existing=())
        conn.commit()
    changed = [classad2.parseOne(ad.printOld(), classad2.ParserType.Old) for ad in ads]

    def update() -> None:  # the tracker's path for jobs whose ad changed: stage + one merge
        with connect(db_url) as conn:
            records.write_job_attempts(conn, updated_id, (map_ad(ad) for ad in changed), existing=range(n))
            conn.commit()

    def change_every_ad() -> None:
        for ad in changed:
            ad["RemoteUserCpu"] = float(ad.get("RemoteUserCpu") or 0) + 60.0

    mapped = [map_ad(ad) for ad in ads]

    def raw_copy() -> None:  # the same binary COPY as the ingest, of rows mapped beforehand
        submission_id = next(ids)
        with connect(db_url) as conn, conn.cursor() as cur:
            with records.binary_copy(cur, q("copy_job_attempts"), records.JOB_COPY_TYPES) as copy:
                for row in mapped:
                    copy.write_row((submission_id, *[row[c] for c in COLUMNS]))
            conn.commit()

    upsert = _per_job_upsert()

    def per_job_round_trips(synchronous_commit: str) -> None:  # the naive design issue 3 warns against
        submission_id = next(ids)
        with connect(db_url) as conn:
            conn.execute(f"SET synchronous_commit = {synchronous_commit}")
            for proc in jobs:
                (ad,) = schedd.query(f"{constraint} && ProcId == {proc}", backend.projection)
                conn.execute(upsert, {"submission_id": submission_id, **map_ad(ad)})
                conn.commit()

    def per_job_one_transaction() -> None:
        submission_id = next(ids)
        with connect(db_url) as conn:
            for row in mapped:
                conn.execute(upsert, {"submission_id": submission_id, **row})
            conn.commit()

    query_s = timed(lambda: schedd.query(constraint, backend.projection), repeat)
    map_s = timed(lambda: [map_ad(ad) for ad in ads], repeat)
    ingest_s = timed(lambda: ingest(ads), repeat)
    tracker_s = timed(lambda: ingest(schedd.query(constraint, backend.projection)), repeat)
    update_s = timed(update, repeat, before=change_every_ad)
    copy_s = timed(raw_copy, repeat)
    print(f"per-job baseline: {n} x (Schedd.query of one job + map + one upsert + commit) ...", flush=True)
    per_job_s = timed(lambda: per_job_round_trips("on"), 1)
    print("the same with synchronous_commit = off ...", flush=True)
    per_job_async_s = timed(lambda: per_job_round_trips("off"), 1)
    print("one upsert per mapped row, one transaction ...", flush=True)
    one_tx_s = timed(per_job_one_transaction, 1)
    return {
        "load_1min": os.getloadavg()[0], "rows": n, "query_s": query_s, "map_s": map_s, "ingest_s": ingest_s, "query_ingest_s": tracker_s,
        "update_s": update_s, "raw_copy_s": copy_s, "per_job_s": per_job_s, "per_job_async_commit_s": per_job_async_s,
        "per_job_one_tx_s": one_tx_s,
        "ingest_rows_per_s": n / ingest_s, "query_ingest_rows_per_s": n / tracker_s, "update_rows_per_s": n / update_s,
        "raw_copy_rows_per_s": n / copy_s, "per_job_rows_per_s": n / per_job_s,
        "per_job_async_commit_rows_per_s": n / per_job_async_s, "per_job_one_tx_rows_per_s": n / one_tx_s,
        "ingest_vs_raw_copy": copy_s / ingest_s, "ingest_vs_per_job": per_job_s / tracker_s,
        "ingest_vs_per_job_async_commit": per_job_async_s / tracker_s, "ingest_vs_per_job_one_tx": one_tx_s / ingest_s,
    }


def _per_job_upsert() -> str:
    columns = ", ".join(("submission_id", *COLUMNS))
    values = ", ".join(f"%({c})s::jsonb" if c == "ad" else f"%({c})s" for c in ("submission_id", *COLUMNS))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "proc_id")
    return (f"INSERT INTO job_attempts ({columns}) VALUES ({values}) "  # noqa: S608 - column names are constants
            f"ON CONFLICT (submission_id, proc_id) DO UPDATE SET {updates}, updated_at = now()")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs in the submission (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each ingest variant; the median counts")
    parser.add_argument("--sizes", default="5000,20000,100000",
                        help="submission sizes whose tracking cycles are measured (default 5000,20000,100000)")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest comparison")
    parser.add_argument("--concurrent", type=int, default=10,
                        help="submissions of --jobs jobs tracked at once by one process (default 10; 0 skips)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)
    sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()} | {args.jobs})
    server = devenv.libpq_url(os.environ["PRODOPS_PG_URL"]) if os.environ.get("PRODOPS_PG_URL") \
        else devenv.server_url(REPO)
    name = f"prodops_bench_{secrets.token_hex(4)}"
    db_url = devenv.ensure_database(server, name)
    try:
        with connect(server, autocommit=True) as conn:  # PostgreSQL's default, as deployed (devenv turns it off)
            conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = on")
        devenv.migrate_prodops(db_url)
        by_size: dict[int, list[dict[str, Any]]] = {}
        ingest: dict[str, Any] | None = None
        with tempfile.TemporaryDirectory(prefix="prodops-bench-") as tmp:
            for index, size in enumerate(sizes):
                by_size[size], schedd = bench_cycles(db_url, size, Path(tmp) / f"attempt-{index + 1}", index + 1)
                if size == args.jobs and not args.no_ingest:
                    ingest = bench_ingest(db_url, schedd, HTCondorBackend(schedd_factory=lambda s=schedd: s),
                                          Path(tmp) / "ingest", args.repeat)
            cycles = by_size[args.jobs]
            concurrent = bench_concurrent(db_url, args.concurrent, args.jobs, Path(tmp),
                                          config.track_poll_interval_s()) if args.concurrent else None
    finally:
        if not args.keep:
            devenv.drop_database(server, name)

    poll_s = config.track_poll_interval_s()
    reconcile_s = htcondor.RECONCILE_INTERVAL_S
    for size, size_cycles in by_size.items():
        print(f"\n=== Tracking one {size}-job submission, the event log its change feed (fake schedd, PostgreSQL"
              f" {name}, synchronous_commit on; per cycle at most {tracking.MAX_ROWS} changed rows and"
              f" {htcondor.MAX_EVENTS} events) ===")
        print(f"{'cycle':38} {'total':>7} {'query':>7} {'history':>7} {'evlog':>7} {'diff':>7} {'map+write':>9}"
              f" {'events':>7} {'calls':>5}  ads/written/events/waiting")
        for c in size_cycles:
            print(f"{c['cycle']:38} {c['total_s']:7.3f} {c['query_s']:7.3f} {c['history_s']:7.3f}"
                  f" {c['event_log_s']:7.3f} {c['diff_s']:7.3f} {c['map_write_s']:9.3f} {c['events_write_s']:7.3f}"
                  f" {c['schedd_calls']:5d}  {c['ads']}/{c['written']}/{c['events']}/{c['deferred']}"
                  f"{'+log' if c['events_behind'] else ''}{'' if c['full'] else ' (feed)'}")
        catch_up = [c for c in size_cycles if c["cycle"] in ("first (all new)", "catching up")]
        print(f"whole submission stored after {len(catch_up)} cycles, {sum(c['total_s'] for c in catch_up):.3f} s"
              f" of cycle time ({sum(c['written'] for c in catch_up)} rows, {sum(c['events'] for c in catch_up)}"
              " events)")
        calls = idle_calls_per_hour(size_cycles, poll_s, reconcile_s)
        print(f"schedd calls per hour of an idle submission: {calls['feed']:.0f} (poll every {poll_s:g} s,"
              f" reconcile every {reconcile_s:g} s); a full query every cycle: {calls['full_every_cycle']:.0f}")
    print(f"\n=== Summary (seconds per cycle; targets at 20,000 jobs: first <= {TARGETS_20K['first (all new)']},"
          f" {CHANGES} changes <= {TARGETS_20K[f'{CHANGES} changed ({CHANGES // 5} finished)']},"
          f" idle <= {TARGETS_20K['idle (no change; median of 5)']}) ===")
    print("(this process's CPU seconds in brackets: PostgreSQL's and the machine's other work are not in them;"
          " load: the highest 1-minute load average at the end of the size's cycles, on this machine's"
          f" {os.cpu_count()} CPUs)")
    print(f"{'jobs':>7} {'first':>15} {f'{CHANGES} chg':>15} {'idle':>15} {'reconcile':>15} {'calls/h idle':>12}"
          f" {'load':>5}")
    for size, size_cycles in by_size.items():
        c = {x["cycle"]: f"{x['total_s']:.3f} ({x['cpu_s']:.3f})" for x in size_cycles}
        calls = idle_calls_per_hour(size_cycles, poll_s, reconcile_s)
        load = max(x["load_1min"] for x in size_cycles)
        print(f"{size:7d} {c['first (all new)']:>15} {c[f'{CHANGES} changed ({CHANGES // 5} finished)']:>15}"
              f" {c['idle (no change; median of 5)']:>15} {c['reconciliation (no change)']:>15}"
              f" {calls['feed']:12.0f} {load:5.1f}")
        c = {x["cycle"]: x["total_s"] for x in size_cycles}
        own = {x["cycle"]: x["total_s"] - x["query_s"] - x["history_s"] for x in size_cycles}
        if size == 20_000:
            for label, target in TARGETS_20K.items():
                print(f"  {label}: {c[label]:.3f} s (target <= {target}: {verdict(c[label] <= target)});"
                      f" {own[label]:.3f} s without the fake schedd's answers")
    worst = max(c["total_s"] for c in cycles)
    print(f"slowest cycle at {args.jobs} jobs {worst:.3f} s (target <= {TARGET_CYCLE_S:.0f} s:"
          f" {verdict(worst <= TARGET_CYCLE_S)})")
    if concurrent is not None:
        print_concurrent(concurrent)
    if ingest is None:
        return _write(args, by_size, None, concurrent)
    print(f"\n=== Ingest of the same {ingest['rows']} ads (median of {args.repeat}; commit included; 1-minute load"
          f" average {ingest['load_1min']:.1f} after it) ===")
    rate = "rows/s"
    print(f"query only          {ingest['query_s']:7.3f} s  (one Schedd.query of the submission, fake schedd)")
    print(f"map only            {ingest['map_s']:7.3f} s")
    print(f"ad ingest           {ingest['ingest_s']:7.3f} s  {ingest['ingest_rows_per_s']:9.0f} {rate}"
          "  (map streamed into binary COPY: jobs with no row yet)")
    print(f"query + ad ingest   {ingest['query_ingest_s']:7.3f} s  {ingest['query_ingest_rows_per_s']:9.0f} {rate}"
          "  (one query of the whole submission, then the ingest)")
    print(f"ad update           {ingest['update_s']:7.3f} s  {ingest['update_rows_per_s']:9.0f} {rate}"
          "  (map + COPY to stage + one merge: every row changed)")
    print(f"raw COPY            {ingest['raw_copy_s']:7.3f} s  {ingest['raw_copy_rows_per_s']:9.0f} {rate}"
          "  (rows mapped beforehand, the same binary COPY)")
    print(f"per-job baseline    {ingest['per_job_s']:7.3f} s  {ingest['per_job_rows_per_s']:9.0f} {rate}"
          "  (per job: Schedd.query of that job, map, one upsert, commit)")
    print(f"  same, async commit{ingest['per_job_async_commit_s']:7.3f} s  "
          f"{ingest['per_job_async_commit_rows_per_s']:9.0f} {rate}  (synchronous_commit off, as the dev server)")
    print(f"per-row upsert, 1 tx{ingest['per_job_one_tx_s']:7.3f} s  {ingest['per_job_one_tx_rows_per_s']:9.0f} {rate}"
          "  (rows mapped beforehand, one upsert each, one commit)")
    print(f"ingest / raw COPY   {ingest['ingest_vs_raw_copy']:7.2f}   (target >= {TARGET_VS_COPY:.2f}, issue 12: "
          f"{verdict(ingest['ingest_vs_raw_copy'] >= TARGET_VS_COPY)}; issue 3's 0.5: "
          f"{verdict(ingest['ingest_vs_raw_copy'] >= 0.5)})")
    print(f"ingest / per-job    {ingest['ingest_vs_per_job']:7.1f} x (query + ad ingest vs the per-job baseline;"
          f" target >= {TARGET_VS_PER_JOB:.0f} x: {verdict(ingest['ingest_vs_per_job'] >= TARGET_VS_PER_JOB)})")
    print(f"  vs async commit   {ingest['ingest_vs_per_job_async_commit']:7.1f} x")
    print(f"  vs 1-tx upserts   {ingest['ingest_vs_per_job_one_tx']:7.1f} x (ad ingest vs per-row upsert, 1 tx)")

    return _write(args, by_size, ingest, concurrent)


def print_concurrent(c: dict[str, Any]) -> None:
    poll = c["poll_s"]
    print(f"\n=== {c['submissions']} submissions of {c['jobs']} jobs tracked by one process (asyncio, cycles in"
          f" threads, as the triggerer runs triggers; poll interval {poll:g} s) ===")
    print(f"{'interval':34} {'all done':>8} {'slowest':>8} {'fastest':>8} {'rows':>7} {'load':>5}")
    rows = [(f"start {i + 1} (storing new jobs)", x) for i, x in enumerate(c["start"])]
    rows += [(f"steady {i + 1} ({c['changes']} changes each)", x) for i, x in enumerate(c["steady"])]
    rows.append(("idle", c["idle"]))
    for label, x in rows:
        print(f"{label:34} {x['makespan_s']:8.3f} {max(x['cycles_s']):8.3f} {min(x['cycles_s']):8.3f} {x['written']:7d}"
              f" {x['load_1min']:5.1f}")
    print(f"\nevery submission's cycles, seconds from the interval's start ({len(c['start'])} start intervals,"
          f" {len(c['steady'])} steady, 1 idle; '-' : caught up already)")
    print(f"{'sub':>4}  {'start':{len(c['start']) * 7}} {'steady':{len(c['steady']) * 7}} {'idle':>6} {'worst':>7}")
    def cell(x: dict[str, Any], index: int) -> str:
        t = x["by_submission"].get(index)
        return f"{t:6.3f}" if t is not None else f"{'-':>6}"

    for index in range(c["submissions"]):
        start = " ".join(cell(x, index) for x in c["start"])
        steady_cells = " ".join(cell(x, index) for x in c["steady"])
        times = [x["by_submission"][index] for x in [*c["start"], *c["steady"], c["idle"]]
                 if index in x["by_submission"]]
        print(f"{index + 1:4d}  {start} {steady_cells} {cell(c['idle'], index)} {max(times):7.3f}")
    steady = max([x["makespan_s"] for x in c["steady"]] + [c["idle"]["makespan_s"]])
    first = max(x["makespan_s"] for x in c["start"])
    print(f"worst interval while running: {steady:.3f} s (target: every submission's cycle within the {poll:g} s"
          f" poll interval: {verdict(steady <= poll)}); while storing {c['submissions'] * c['jobs']} new jobs"
          f" at the start: at most {first:.3f} s an interval, {len(c['start'])} intervals")


def _write(args: argparse.Namespace, by_size: dict[int, list[dict[str, Any]]], ingest: dict[str, Any] | None,
           concurrent: dict[str, Any] | None = None) -> int:
    out = REPO / "bench" / "results" / f"tracking-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"jobs": args.jobs, "python": platform.python_version(), "machine": platform.machine(),
                               "cpus": os.cpu_count(), "cycles": by_size[args.jobs],
                               "cycles_by_size": {str(k): v for k, v in by_size.items()}, "ingest": ingest,
                               "concurrent": concurrent},
                              indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
