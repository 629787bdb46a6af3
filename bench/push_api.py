"""Load check of the service board's push API: sustained status events per second, nothing lost.

Starts the real app (uvicorn, the same FastAPI app the Airflow plugin mounts, feeder-token auth)
on 127.0.0.1 against a fresh PostgreSQL database, then several clients POST batches of native
events, each with a unique id, for a bounded time. At the end it counts the rows: events
acknowledged must equal events stored (and a resent batch must add nothing).

Usage (from the repository root; scripts/bench.sh sets up the venv and PostgreSQL):
    scripts/bench.sh [--seconds 20] [--clients 4] [--batch 100]
Prints one result line and writes bench/results/push_api-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO / "tools")]

import devenv  # noqa: E402
from prodops.status import tokens  # noqa: E402
from prodops.status.registry import load_registry, sync_registry  # noqa: E402
from prodops.store.db import connect  # noqa: E402

SERVICES = [s.name for s in load_registry().services]
REQUEST_TIMEOUT_S = 30
MAX_SECONDS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WITHOUT_DERIVE = (
    "from prodops.status import derive;"
    "derive.store = lambda conn, insert, params, sent: len(conn.execute(insert, params).fetchall()) if sent else 0;"
)
"""What ``--without-derive`` runs in the server first: the store step is the insert alone (the figure the
derived writes are measured against; the board's rows are not written)."""


def serve(db_url: str, port: int, workers: int, derived: bool = True) -> subprocess.Popen:
    code = (
        "import sys, uvicorn; sys.path.insert(0, 'plugins');"
        + ("" if derived else WITHOUT_DERIVE)
        + "from prodops.web.app import create_app;"
        f"uvicorn.run(create_app({db_url!r}), host='127.0.0.1', port={port}, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the push API did not start within 60 s")


def client(url: str, token: str, worker: int, batch: int, until: float, acked: list[int], errors: list[str],
           sample: list[dict], clock: tuple[datetime, float] | None = None) -> None:
    """Posts batches until ``until``. Every event flips its service's state (down, up, degraded, ...), a
    few microseconds apart: one long flapping outage per service, extended by every batch.

    ``clock`` (a time and the monotonic instant it stands for): each batch is stamped with that clock
    when it is made, as a feeder stamps its reports, so the clients' batches are late to one another
    only by the requests in flight. None: each client counts its own microseconds from one day ago,
    so the clients' times drift apart without bound and most batches land far inside the others'."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    base = datetime.now(timezone.utc) - timedelta(days=1)
    n = 0
    while time.monotonic() < until:
        if clock is not None:
            base = clock[0] + timedelta(seconds=time.monotonic() - clock[1]) - timedelta(microseconds=n)
        events = [
            {"service": SERVICES[(n + i) % len(SERVICES)], "state": ("up", "degraded", "down")[(n + i) % 3],
             "time": (base + timedelta(microseconds=n + i)).isoformat(), "id": f"w{worker}-{n + i}"}
            for i in range(batch)
        ]
        try:
            r = http.post(f"{url}/api/v1/events", json={"events": events}, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as err:
            errors.append(str(err))
            continue
        if r.status_code != 200 or r.json().get("stored") != batch:
            errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
            continue
        acked[worker] += batch
        if not sample:
            sample.append({"events": events})
        n += batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--stamps", choices=["clock", "counter"], default="clock",
                        help="clock: each batch stamped when made, from one clock (default); counter: each client's"
                             " own microsecond counter (their times drift apart: most batches late)")
    parser.add_argument("--without-derive", action="store_true",
                        help="store events without the derived board rows (the figure to compare against)")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, MAX_SECONDS)

    server = os.environ.get("PRODOPS_PG_URL") or devenv.server_url(REPO)
    name = f"prodops_bench_{os.getpid()}"
    db_url = devenv.ensure_database(server, name)
    proc = None
    try:
        devenv.migrate_prodops(db_url)
        with connect(db_url) as conn:
            sync_registry(conn, load_registry())
            _, token = tokens.issue(conn, "bench", services=SERVICES)
            conn.commit()
        port = free_port()
        proc = serve(db_url, port, args.clients, derived=not args.without_derive)
        url = f"http://127.0.0.1:{port}"
        acked = [0] * args.clients
        errors: list[str] = []
        sample: list[dict] = []
        until = time.monotonic() + seconds
        started = time.monotonic()
        clock = (datetime.now(timezone.utc) - timedelta(days=1), time.monotonic()) if args.stamps == "clock" else None
        threads = [threading.Thread(target=client, args=(url, token, w, args.batch, until, acked, errors, sample, clock))
                   for w in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + REQUEST_TIMEOUT_S + 5)
        elapsed = time.monotonic() - started
        resent = requests.post(f"{url}/api/v1/events", json=sample[0], timeout=REQUEST_TIMEOUT_S,
                               headers={"Authorization": f"Bearer {token}"}).json() if sample else {}
        with connect(db_url) as conn:
            stored = conn.execute("SELECT count(*) AS n FROM status_events").fetchone()["n"]
        sent = sum(acked)
        result = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(elapsed, 1), "clients": args.clients, "batch": args.batch,
            "events_acknowledged": sent, "events_stored": stored, "lost_or_extra": stored - sent,
            "events_per_s": round(sent / elapsed, 1), "requests_failed": len(errors),
            "resent_batch_stored": resent.get("stored"), "cpus": os.cpu_count(),
            "derived_writes": not args.without_derive, "stamps": args.stamps, "load_1min": round(os.getloadavg()[0], 2),
        }
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        devenv.drop_database(server, name)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"push_api-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    ok = result["lost_or_extra"] == 0 and result["requests_failed"] == 0 and result["resent_batch_stored"] == 0
    print(f"push API ({'with' if result['derived_writes'] else 'WITHOUT'} the derived writes, {args.stamps} stamps, load"
          f" {result['load_1min']}): {result['events_per_s']} events/s sustained over {result['seconds']} s "
          f"({args.clients} clients x {args.batch} events/request); acknowledged {sent}, stored {stored}, "
          f"failed requests {len(errors)}, resent batch stored {result['resent_batch_stored']}: "
          f"{'nothing lost, nothing doubled' if ok else 'MISMATCH'}")
    if errors:
        print("first error:", errors[0])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
