#!/usr/bin/env python3
"""Tell prodops a job's phase started or finished; never fails the job.

Usage (a job wrapper; prodops need not be installed, only python3)::

    python3 prodops_phase.py copy-out started --job 3
    python3 prodops_phase.py copy-out finished --job 3 --status 0 --cpu 12.5 --wall 30 --events 1000

or from Python, beside the job's script::

    from prodops_phase import report
    report("process", "finished", job=3, status=0, events=1000)

It posts to ``$PRODOPS_API_URL/api/v1/submissions/$PRODOPS_SUBMISSION_ID/phases`` with
``Authorization: Bearer $PRODOPS_PHASE_TOKEN`` (all three are in the job's environment from its
submission); the job index is ``--job`` or ``$PRODOPS_JOB_INDEX``. Each try has a timeout
(``$PRODOPS_PHASE_TIMEOUT``, 15 s), a failed try is repeated with backoff
(``$PRODOPS_PHASE_ATTEMPTS`` tries, 4). When the post cannot be made (no network on the worker,
no token, the server refused it) it prints the stdout marker line instead, which prodops reads
when the job ends::

    @@prodops phase=copy-out state=started time=2026-12-02T10:00:00.000000Z

The event's time is taken once, so a late post and the marker of the same event agree.
Standard library only, one file: copy it next to the job's executable (``input_files``).
Format and API: docs/instrumenting.md, "Phase markers".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

MARKER = "@@prodops"
DEFAULT_TIMEOUT_S = 15.0
DEFAULT_ATTEMPTS = 4
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
"""Answers worth another try; any other refusal (401, 403, 422) would be refused again."""


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def marker_line(phase: str, state: str, fields: dict) -> str:
    """The stdout marker of one event (prodops.phases.markers parses it)."""
    words = [MARKER, f"phase={phase}", f"state={state}"]
    words += [f"{key}={value}" for key, value in fields.items() if value is not None]
    return " ".join(words)


_unreachable = False
"""Set when every try of a post found no server: the job's later reports print markers at once,
so a worker without network loses seconds, not minutes."""


def _post(url: str, token: str, body: dict, timeout: float) -> tuple[bool, bool, str]:
    """(posted, worth retrying, what happened)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return True, False, f"HTTP {answer.status}"
    except urllib.error.HTTPError as err:
        return False, err.code in RETRY_STATUSES, f"the API answered {err.code}"
    except (urllib.error.URLError, OSError, ValueError):  # refused, unreachable, timed out, bad URL
        return False, True, "no API reply"


def report(phase: str, state: str, *, job: int | None = None, status: int | None = None, cpu: float | None = None,
           wall: float | None = None, events: int | None = None) -> bool:
    """Report one phase event; True when prodops took the post, False when the marker was printed."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = {"status": status, "cpu": cpu, "wall": wall, "events": events, "time": when}
    try:
        posted, why = _report(phase, state, job, fields)
    except Exception:  # never fail the job over a report
        posted, why = False, "client error"
    if not posted:
        # Its stderr note says why in words no triage pattern reads as a failure of the job (the
        # server's own message, a "token expired" or "connection refused", would be).
        if why:
            sys.stderr.write(f"prodops_phase: {phase} {state} not posted ({why}); printed the stdout marker\n")
            sys.stderr.flush()
        sys.stdout.write(marker_line(phase, state, fields) + "\n")
        sys.stdout.flush()
    return posted


def _report(phase: str, state: str, job: int | None, fields: dict) -> tuple[bool, str]:
    api = os.environ.get("PRODOPS_API_URL", "").rstrip("/")
    token = os.environ.get("PRODOPS_PHASE_TOKEN", "")
    submission = os.environ.get("PRODOPS_SUBMISSION_ID", "")
    if job is None and os.environ.get("PRODOPS_JOB_INDEX", "").strip():
        job = int(os.environ["PRODOPS_JOB_INDEX"])
    if not (api and token and submission.isdigit()):
        return False, ""  # not given a way to post (no network from the pool): the marker is the report
    if job is None:
        return False, "no job index: pass --job N or set PRODOPS_JOB_INDEX"
    global _unreachable
    if _unreachable:
        return False, "the server was unreachable before"
    url = f"{api}/api/v1/submissions/{submission}/phases"
    body = {"job_index": job, "phase": phase, "state": state, **{k: v for k, v in fields.items() if v is not None}}
    timeout = _number("PRODOPS_PHASE_TIMEOUT", DEFAULT_TIMEOUT_S)
    attempts = max(1, int(_number("PRODOPS_PHASE_ATTEMPTS", DEFAULT_ATTEMPTS)))
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(0.5 * 2 ** (attempt - 1), 4) * (0.5 + random.random()))
        posted, again, why = _post(url, token, body, timeout)
        if posted or not again:
            return posted, why
    _unreachable = why == "no API reply"
    return False, f"{why}, after {attempts} tries"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", help="the phase, lower case: process, copy-out")
    parser.add_argument("state", choices=("started", "finished"))
    parser.add_argument("--job", type=int, help="the job's index in its stage (default: $PRODOPS_JOB_INDEX)")
    parser.add_argument("--status", type=int, help="the phase's status code when it finished (0: success)")
    parser.add_argument("--cpu", type=float, help="CPU seconds the phase used")
    parser.add_argument("--wall", type=float, help="wall-clock seconds the phase took")
    parser.add_argument("--events", type=int, help="events the phase processed")
    args = parser.parse_args(argv)
    report(args.phase, args.state, job=args.job, status=args.status, cpu=args.cpu, wall=args.wall, events=args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
