#!/usr/bin/env python3
"""The demo workflow's job: small real work, and failures on request.

It writes ``--records`` records to ``demo_output_<job>.txt`` in its working directory,
burns a little CPU on each, and sleeps ``--sleep`` seconds overall, so that the pool has
something to measure. A request can tell chosen jobs to fail the ways grid jobs fail:
``--exit N`` exits with code N, ``--signal N`` kills itself with signal N (9, 11, ...),
``--memory MB`` allocates and touches that much memory so the pool holds it for going
over its request_memory, ``--art-error`` stops with an art ProductNotFound exception (a
code failure), ``--unexplained`` stops with exit code 42 and a message no knowledge explains (what
triage must still group and point at), and ``--storage-flag FILE`` streams its records through the demo storage
(demo_storage.py), failing with dCache's xrootd error when the storage goes down under it.
A debug rerun (the debug_rerun DAG) turns its log up: ``--debug debug`` logs a line every 10
records, ``--debug trace`` one per record (``DEMO_LOG_LEVEL`` says the same when the argument is
absent), and ``--debug-config FILE`` prints the config snippet the rerun sent with the job.
It reports its phases to prodops as it goes (prodops_phase.py, docs/instrumenting.md):
``process`` (writing the records) and ``copy-out`` (making the output durable), each started and
finished with a status. Standard library only: it runs with whatever python3 a worker node has.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import signal
import socket
import sys
import time

from demo_storage import XROOTD_ERROR, storage_down
from prodops_phase import report as report_phase

CHUNK_MB = 8
LOG_EVERY = {"debug": 10, "trace": 1}
"""Debug levels: a log line every N records."""
ART_PRODUCT_NOT_FOUND = """%MSG-s ArtException:  PostEndJob 25-Nov-2026 10:00:00 CST ModuleEndJob
---- ProductNotFound BEGIN
  getByLabel: Found zero products matching all criteria
  Looking for type: std::vector<rb::Track>
  Looking for module label: kalmantrack
  Looking for productInstanceName:
---- ProductNotFound END
%MSG
Art has completed and will exit with status 65."""
UNEXPLAINED = "calibration table for run {run} has 63 channels, geometry has 64: giving up"
"""A job's own words that no rule, plugin or exit-code table of prodops explains."""
UNEXPLAINED_EXIT = 42


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=int, required=True, help="the job's index in its stage")
    parser.add_argument("--records", type=int, default=100, help="records to write")
    parser.add_argument("--sleep", type=float, default=1.0, help="seconds to sleep in total")
    parser.add_argument("--exit", type=int, default=0, dest="exit_code", help="exit with this code at the end")
    parser.add_argument("--signal", type=int, default=0, dest="signum", help="kill itself with this signal")
    parser.add_argument("--memory", type=int, default=0, dest="memory_mb", help="allocate and touch this many MB")
    parser.add_argument("--art-error", action="store_true", help="stop with an art ProductNotFound exception")
    parser.add_argument("--unexplained", action="store_true", help="stop with a message no triage rule knows")
    parser.add_argument("--storage-flag", default="", help="stream records through the demo storage of this flag")
    parser.add_argument("--debug", default=os.environ.get("DEMO_LOG_LEVEL", ""), choices=["", *LOG_EVERY],
                        help="log more: 'debug' a line every 10 records, 'trace' one per record")
    parser.add_argument("--debug-config", default="", help="a debug config snippet to print at the start")
    args = parser.parse_args(argv)
    if args.records < 0 or args.sleep < 0 or args.memory_mb < 0:
        parser.error("--records, --sleep and --memory must not be negative")
    return args


class StorageDown(Exception):
    """The demo storage went down while the job streamed through it."""


def write_records(job: int, records: int, sleep_s: float, storage_flag: str = "", debug: str = "") -> str:
    """Each record carries a SHA-256 chain (some CPU); sleeping is spread over the records.
    With a storage flag every record is read through the demo storage first; with a debug level
    a line is logged every :data:`LOG_EVERY` records."""
    every = LOG_EVERY.get(debug, 0)
    path = f"demo_output_{job}.txt"
    digest = hashlib.sha256(f"job {job}".encode()).digest()
    pause = sleep_s / records if records else 0.0
    with open(path, "w") as out:
        for index in range(records):
            if storage_down(storage_flag, job):
                raise StorageDown(f"reading record {index} of job {job}")
            for _ in range(200):
                digest = hashlib.sha256(digest).digest()
            out.write(f"{job}\t{index}\t{digest.hex()}\n")
            if every and index % every == 0:
                print(f"DEBUG record {index} of job {job}: digest {digest.hex()[:16]}", flush=True)
            if pause:
                time.sleep(pause)
    if not records and sleep_s:
        time.sleep(sleep_s)
    return path


HOG_HOLD_S = 1.0
"""How long the overrun is held before the job goes on: a real overrun lasts, and the local pool
samples memory every 0.2 s (a pool's memory cgroup would stop the job at once); without the hold
a fast job could peak and finish between two samples and count as a success."""


def hog_memory(megabytes: int) -> list[bytearray]:
    """Allocate in chunks and touch every page, so RSS grows as a real overrun does."""
    blocks = []
    for _ in range(0, megabytes, CHUNK_MB):
        block = bytearray(CHUNK_MB * 1024 * 1024)
        for offset in range(0, len(block), 4096):
            block[offset] = 1
        blocks.append(block)
        time.sleep(0.01)
    time.sleep(HOG_HOLD_S)
    return blocks


def copy_out(path: str) -> None:
    """Make the output durable before the job ends (a real job copies it to storage here)."""
    with open(path, "rb") as out:
        os.fsync(out.fileno())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(f"demo job {args.job} on {socket.gethostname()} pid {os.getpid()}: {args.records} records", flush=True)
    if args.debug:
        print(f"DEBUG log level {args.debug}; environment DEMO_LOG_LEVEL={os.environ.get('DEMO_LOG_LEVEL', '')}",
              flush=True)
    if args.debug_config:
        with open(args.debug_config) as snippet:
            for line in snippet:
                print(f"DEBUG config: {line.rstrip()}", flush=True)
    report_phase("process", "started", job=args.job)
    started, cpu_started = time.monotonic(), time.process_time()
    if args.art_error:
        if args.debug:
            print("DEBUG event 0: module kalmantrack produced no std::vector<rb::Track>; its input list was empty",
                  flush=True)
        print(ART_PRODUCT_NOT_FOUND, file=sys.stderr, flush=True)
        report_phase("process", "finished", job=args.job, status=65)
        return 65
    if args.unexplained:
        print(UNEXPLAINED.format(run=1000 + args.job), file=sys.stderr, flush=True)
        report_phase("process", "finished", job=args.job, status=UNEXPLAINED_EXIT)
        return UNEXPLAINED_EXIT
    held = hog_memory(args.memory_mb) if args.memory_mb else []
    try:
        path = write_records(args.job, args.records, args.sleep, args.storage_flag, args.debug)
    except StorageDown as err:
        print(f"{err}: {XROOTD_ERROR}", file=sys.stderr, flush=True)
        return 84
    print(f"wrote {args.records} records to {path}", flush=True)
    report_phase("process", "finished", job=args.job, status=0, events=args.records,
                 cpu=round(time.process_time() - cpu_started, 3), wall=round(time.monotonic() - started, 3))
    report_phase("copy-out", "started", job=args.job)
    copy_out(path)
    report_phase("copy-out", "finished", job=args.job, status=0)
    if held:
        print(f"held {len(held) * CHUNK_MB} MB", flush=True)
    if args.signum:
        print(f"killing myself with signal {args.signum}", file=sys.stderr, flush=True)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if args.signum not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(args.signum, signal.SIG_DFL)
        os.kill(os.getpid(), args.signum)
        time.sleep(5)
    if args.exit_code:
        print(f"failing with exit code {args.exit_code}", file=sys.stderr, flush=True)
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
