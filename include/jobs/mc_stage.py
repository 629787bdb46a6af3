#!/usr/bin/env python3
"""A production stage job for the MC and keepup demo chains: real files, a manifest, faults on request.

``--stage gen`` generates ``--events`` events into ``gen_<job>.dat``; any other stage reads its
``--inputs`` (or, in a combined job, the previous step's output), transforms every event and
writes ``<stage>_<job>.dat``; ``merge`` concatenates its inputs. A comma list (``g4,reco``)
runs several steps in one job. The job declares what it read and wrote in
``manifest_<stage>_<job>.json`` next to its output (format: docs in README, "Instrumenting
jobs"). With ``--storage-flag FILE`` the output is copied to the demo storage (demo_storage.py)
with ifdh, which fails while the storage is down. It reports its phases to prodops
(prodops_phase.py): ``process`` (the steps) and ``copy-out`` (writing the output and its manifest,
and the storage copy): a job that fails inside ``copy-out`` leaves it started, not finished, which
triage reads as a storage failure. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import zlib

from demo_storage import IFDH_ERROR, storage_down
from prodops_phase import report as report_phase

MANIFEST_SCHEMA = 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="step name, or a comma list of steps run in order")
    parser.add_argument("--job", type=int, required=True)
    parser.add_argument("--events", type=int, default=100, help="events to generate (gen)")
    parser.add_argument("--inputs", default="", help="comma-separated input files")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--zero-size", action="store_true", help="write an empty output file (a broken job)")
    parser.add_argument("--exit", type=int, default=0, dest="exit_code")
    parser.add_argument("--storage-flag", default="", help="copy the output to the demo storage of this flag")
    return parser.parse_args(argv)


def adler32(path: str) -> str:
    value = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            value = zlib.adler32(chunk, value)
    return f"adler32:{value:08x}"


def read_events(paths: list[str]) -> list[str]:
    events: list[str] = []
    for path in paths:
        with open(path) as handle:
            events.extend(line.rstrip("\n") for line in handle if line.strip())
    return events


def run_step(step: str, job: int, events: list[str], n_events: int) -> list[str]:
    if step == "gen":
        return [f"gen job={job} event={i} {hashlib.sha256(f'{job}/{i}'.encode()).hexdigest()[:16]}"
                for i in range(n_events)]
    if step == "merge":
        return list(events)
    return [f"{step}({hashlib.sha256(e.encode()).hexdigest()[:16]}) <- {e.split(' ', 1)[0]}" for e in events]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    steps = [s for s in args.stage.split(",") if s]
    inputs = [os.path.abspath(p) for p in args.inputs.split(",") if p]
    report_phase("process", "started", job=args.job)
    started, cpu_started = time.monotonic(), time.process_time()
    events = read_events(inputs)
    for step in steps:
        events = run_step(step, args.job, events, args.events)
    if args.sleep:
        time.sleep(args.sleep)
    report_phase("process", "finished", job=args.job, status=0, events=len(events),
                 cpu=round(time.process_time() - cpu_started, 3), wall=round(time.monotonic() - started, 3))
    report_phase("copy-out", "started", job=args.job)
    output = f"{steps[-1]}_{args.job}.dat"
    with open(output, "w") as handle:
        if not args.zero_size:
            handle.writelines(e + "\n" for e in events)
    if storage_down(args.storage_flag, args.job):
        print(f"ifdh cp {output} dcache:/pnfs/demo/{output}", flush=True)
        print(IFDH_ERROR, file=sys.stderr, flush=True)
        return 70
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "stage": steps[-1],
        "job": args.job,
        "inputs": inputs,
        "outputs": [{
            "file": output,
            "size": os.path.getsize(output),
            "checksum": adler32(output),
            "events": 0 if args.zero_size else len(events),
        }],
    }
    tmp = f".manifest_{steps[-1]}_{args.job}.json.tmp"
    with open(tmp, "w") as handle:
        json.dump(manifest, handle, indent=1)
    os.replace(tmp, f"manifest_{steps[-1]}_{args.job}.json")
    report_phase("copy-out", "finished", job=args.job, status=0)
    print(f"{','.join(steps)} job {args.job}: {len(inputs)} inputs -> {output} ({len(events)} events)")
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
