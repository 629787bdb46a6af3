"""The service board at a lab's scale (issue 17): reads over derived rows, ingest with derived writes.

Per size (events over 30 days, 50 services, the issue's mix: two Icinga check streams with a ttl,
a status page, Alertmanager alerts; about 1.5 outages a day per service, a fifth of them flapping;
five maintenance windows), in a fresh database:

* load: COPY the events, then derive every service's rows from them (``derive.rebuild``), then
  VACUUM ANALYZE and CHECKPOINT (a steady database: autovacuum and the checkpointer would otherwise
  work through the load during the timed reads);
* board p50/p95 (``status.board.board``), uptime p95 and outage-history p95 (one service),
  preflight p95 (three services);
* ingest: events/s of ``records.insert_events`` (the push API's store step) with the derived
  writes, beside the same batches stored without them (the insert statement alone) and by the
  insert as it was before issue 17 (the same statement with its arrays in text format);
* database size.

Usage (from the repository root): ``make bench-board`` or
    .venv/bin/python bench/board.py [--sizes 10000,100000,1000000,5000000] [--repeat 30]
Prints one line per size and writes bench/results/board-<time>.json. Targets: board p95 < 100 ms
at 1M and < 200 ms at 5M; ingest with derived writes >= 80 % of without (printed against both).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO / "tools")]

import devenv  # noqa: E402
from prodops.status import board, derive, records  # noqa: E402
from prodops.status.events import StatusEvent  # noqa: E402
from prodops.status.maintenance import MaintenanceWindow  # noqa: E402
from prodops.status.preflight import preflight  # noqa: E402
from prodops.status.registry import Registry, Service, sync_registry  # noqa: E402
from prodops.status.states import ServiceState  # noqa: E402
from prodops.store.db import connect, q  # noqa: E402

SERVICES = [f"svc{i:02d}" for i in range(50)]
DAYS = 30
NOW = datetime.now(timezone.utc).replace(microsecond=0)
START = NOW - timedelta(days=DAYS)
OUTAGES_PER_DAY = 1.5
FLAPPING_SHARE = 0.2
COLUMNS = ("service", "state", "observed_at", "source", "feed", "external_id", "stream", "valid_until",
           "convention", "code", "message", "details")


def outage_plan(rng: random.Random) -> list[tuple[datetime, datetime, str]]:
    """(start, end, state) of the down/degraded episodes of one service (a flapping outage: three)."""
    out = []
    for _ in range(int(OUTAGES_PER_DAY * DAYS)):
        t = START + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 7200))
        state = rng.choice(["down", "degraded"])
        if rng.random() < FLAPPING_SHARE:
            for _ in range(3):
                d = timedelta(seconds=rng.uniform(120, 600))
                out.append((t, t + d, state))
                t += d + timedelta(seconds=rng.uniform(30, 240))
        else:
            d = timedelta(seconds=rng.uniform(300, 5400))
            out.append((t, t + d, state))
    return sorted(out)


def state_at(plan: list[tuple[datetime, datetime, str]], t: datetime, cursor: list[int]) -> str:
    while cursor[0] < len(plan) and plan[cursor[0]][1] <= t:
        cursor[0] += 1
    if cursor[0] < len(plan) and plan[cursor[0]][0] <= t:
        return plan[cursor[0]][2]
    return "up"


def service_events(name: str, n: int, rng: random.Random) -> list[tuple]:
    """About ``n`` events of one service over the 30 days, as COPY rows."""
    plan = outage_plan(rng)
    alerts = []
    for k, (a, b, st) in enumerate(plan):
        fp = f"{name}-{k}"
        alerts.append((name, st, a, "feed", "alertmanager", fp, f"alertmanager:{fp}", None, "alertmanager",
                       "firing", "", "{}"))
        alerts.append((name, "up", b, "feed", "alertmanager", fp, f"alertmanager:{fp}", None, "alertmanager",
                       "resolved", "", "{}"))
    checks = max(n - len(alerts), 10)
    # two check streams (90 %) and the status page (10 %)
    interval = DAYS * 86400 * 2 / (checks * 0.9)
    rows = list(alerts)
    for stream in ("icinga:a", "icinga:b"):
        t, cur = START + timedelta(seconds=rng.uniform(0, interval)), [0]
        ttl = timedelta(seconds=3 * interval)
        while t < NOW:
            st = state_at(plan, t, cur)
            rows.append((name, st, t, "feed", "icinga", stream, stream, t + ttl, "nagios",
                         {"up": "0", "degraded": "1", "down": "2"}[st], "check", "{}"))
            t += timedelta(seconds=interval * rng.uniform(0.9, 1.1))
    t, cur = START, [0]
    while t < NOW:
        st = state_at(plan, t, cur)
        rows.append((name, "degraded" if st != "up" else "up", t, "feed", "statuspage", "page", "statuspage:page",
                     None, "statuspage", st, "", "{}"))
        t += timedelta(seconds=interval * 20 * rng.uniform(0.9, 1.1))
    return [r for r in rows if r[2] < NOW]


def load(url: str, size: int, rng: random.Random) -> tuple[int, float, float]:
    """COPY ``size`` events, then derive; returns (events, copy seconds, derive seconds)."""
    per = size // len(SERVICES)
    total = 0
    t0 = time.perf_counter()
    with connect(url) as conn:
        sync_registry(conn, Registry(services=tuple(
            Service(name=s, stale_after_s=1800 if i % 2 else None, position=i) for i, s in enumerate(SERVICES))))
        with conn.cursor().copy(f"COPY status_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for s in SERVICES:
                for row in service_events(s, per, rng):
                    copy.write_row(row)
                    total += 1
        for k in range(5):  # five maintenance windows, one global
            a = START + timedelta(days=rng.uniform(1, DAYS - 1))
            records.upsert_window(conn, MaintenanceWindow(
                starts_at=a, ends_at=a + timedelta(hours=rng.uniform(1, 6)), reason="bench",
                services=() if k == 0 else tuple(rng.sample(SERVICES, 3)), feed="bench", external_id=f"w{k}"))
        conn.commit()
        conn.execute("ANALYZE")
        t1 = time.perf_counter()
        for i in range(0, len(SERVICES), 10):
            derive.rebuild(conn, SERVICES[i:i + 10])
            conn.commit()
        t2 = time.perf_counter()
    with connect(url, autocommit=True) as conn:  # as autovacuum and a checkpoint would leave it, before the reads
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")  # the load's dirty pages written now, not during the timed reads
    return total, t1 - t0, t2 - t1


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def _batch(rng: random.Random, seq: int, batch: int, offset: timedelta) -> list[StatusEvent]:
    """``batch`` in-order check results across every service, one a second from ``offset`` after NOW."""
    events = []
    for k in range(seq + 1, seq + batch + 1):
        at = NOW + offset + timedelta(seconds=k)
        state = ServiceState.DEGRADED if rng.random() < 0.002 else ServiceState.UP
        events.append(StatusEvent(service=SERVICES[k % len(SERVICES)], state=state, observed_at=at, source="feed",
                                  feed="bench", stream="icinga:a", convention="nagios", external_id=f"i{k}",
                                  valid_until=at + timedelta(minutes=3), code="0", message="check"))
    return events


VARIANTS = ("plain", "derived", "before")
"""Ingest variants: the insert statement alone; ``records.insert_events`` (insert + derived writes);
the insert alone as the push API sent it before issue 17 (arrays in text format)."""


def ingest_rates(url: str, rng: random.Random, batches: int, batch: int, rounds: int = 3) -> dict[str, float]:
    """Events/s of in-order batches (one transaction each): the insert alone, with the derived writes,
    and the insert as it was before issue 17.

    The three alternate batch by batch, so all see the same load of a shared machine. Figures: the
    best of ``rounds`` runs of ``batches`` for each, and the ratios of the median batch times over
    all rounds (a load spike during one batch moves it little).

    Plain: the insert statement alone (the push API's store step without the derivation); derived:
    ``records.insert_events``; before: the same statement with its arrays sent in text format, as
    the store step was before issue 17 (binary arrays came with the derived writes, and make the
    statement itself cheaper). Each has its own span after NOW (one event a second), so no batch is
    late to another variant's events."""
    best = dict.fromkeys(VARIANTS, 0.0)
    seq = dict.fromkeys(VARIANTS, 0)
    took: dict[str, list[float]] = {v: [] for v in VARIANTS}
    span = timedelta(seconds=rounds * batches * batch + 3600)
    insert = q("insert_status_events")
    as_text = insert.replace(")b::", ")s::")  # the same statement, text arrays
    with connect(url) as conn:
        for _ in range(rounds):
            elapsed = dict.fromkeys(VARIANTS, 0.0)
            for _ in range(batches):
                for k, variant in enumerate(VARIANTS):
                    events = _batch(rng, seq[variant], batch, timedelta(hours=1) + k * span)
                    seq[variant] += batch
                    t = time.perf_counter()
                    if variant == "derived":
                        records.insert_events(conn, events)
                    else:
                        rows = [e.row() for e in events]
                        conn.execute(insert if variant == "plain" else as_text,
                                     {c: [r[c] for r in rows] for c in COLUMNS}).fetchall()
                    conn.commit()
                    took[variant].append(time.perf_counter() - t)
                    elapsed[variant] += took[variant][-1]
            for variant in VARIANTS:
                best[variant] = max(best[variant], batches * batch / elapsed[variant])
    median = {v: statistics.median(took[v]) for v in VARIANTS}
    return {**best, "median_ratio": median["plain"] / median["derived"],
            "median_ratio_before": median["before"] / median["derived"]}


def run_size(pg: str, size: int, repeat: int, keep: bool) -> dict:
    rng = random.Random(size)
    name = f"prodops_bench_board_{size}"
    try:
        devenv.drop_database(pg, name)
    except Exception:  # not there yet
        pass
    url = devenv.ensure_database(pg, name)
    devenv.migrate_prodops(url)
    try:
        events, copy_s, derive_s = load(url, size, rng)
        read_load = os.getloadavg()[0]
        with connect(url) as conn:
            board.board(conn, NOW)  # warm
            b = timed(lambda: board.board(conn, NOW), repeat)
            u = timed(lambda: board.uptime(conn, ["svc07"], NOW), repeat)
            h = timed(lambda: board.outage_history(conn, "svc07", NOW), repeat)
            p = timed(lambda: preflight(conn, ["svc01", "svc02", "svc03"], now=NOW, run_for=timedelta(hours=6)),
                      repeat)
            answer = len(json.dumps(board.board(conn, NOW), default=str, separators=(",", ":")))  # as the API sends it
            conn.rollback()
        load_before = os.getloadavg()[0]
        rates = ingest_rates(url, rng, 20, 1000)
        plain, with_derived, before = rates["plain"], rates["derived"], rates["before"]
        machine_load = max(read_load, load_before, os.getloadavg()[0])
        with connect(url) as conn:
            db_bytes = conn.execute("SELECT pg_database_size(current_database()) AS n").fetchone()["n"]
            derived_rows = {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]
                            for t in ("status_segments", "status_outages", "status_daily")}
    finally:
        if not keep:
            devenv.drop_database(pg, name)
    return {
        "size": size, "events": events, "copy_s": round(copy_s, 1), "derive_s": round(derive_s, 1),
        "board_p50_ms": round(1000 * statistics.median(b), 1), "board_p95_ms": round(1000 * p95(b), 1),
        "board_answer_kb": round(answer / 1024, 1),
        "uptime_p95_ms": round(1000 * p95(u), 2), "outage_history_p95_ms": round(1000 * p95(h), 2),
        "preflight_p95_ms": round(1000 * p95(p), 2),
        "ingest_events_s_with_derived": round(with_derived), "ingest_events_s_without": round(plain),
        "ingest_ratio": round(with_derived / plain, 3), "ingest_median_batch_ratio": round(rates["median_ratio"], 3),
        "ingest_events_s_before_issue17": round(before), "ingest_ratio_before_issue17": round(with_derived / before, 3),
        "ingest_median_batch_ratio_before_issue17": round(rates["median_ratio_before"], 3),
        "db_mb": round(db_bytes / 2**20, 1),
        "derived_rows": derived_rows, "load_1min": round(machine_load, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,5000000", help="comma-separated event counts")
    parser.add_argument("--repeat", type=int, default=30, help="timed reads per figure")
    parser.add_argument("--keep", action="store_true", help="keep the databases (prodops_bench_board_SIZE)")
    args = parser.parse_args(argv)
    explicit = os.environ.get("PRODOPS_PG_URL")
    pg = devenv.libpq_url(explicit) if explicit else devenv.server_url(REPO)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = run_size(pg, size, args.repeat, args.keep)
        results.append(r)
        print(f"{r['events']:>9,} events: board p50 {r['board_p50_ms']} ms p95 {r['board_p95_ms']} ms"
              f" ({r['board_answer_kb']} KB); uptime p95 {r['uptime_p95_ms']} ms; outage history p95"
              f" {r['outage_history_p95_ms']} ms; preflight p95 {r['preflight_p95_ms']} ms; ingest"
              f" {r['ingest_events_s_with_derived']:,} ev/s with derived writes vs {r['ingest_events_s_without']:,}"
              f" without ({100 * r['ingest_ratio']:.0f} %, best of 3; median batch"
              f" {100 * r['ingest_median_batch_ratio']:.0f} %), {r['ingest_events_s_before_issue17']:,} the insert as"
              f" before issue 17 ({100 * r['ingest_ratio_before_issue17']:.0f} %; median batch"
              f" {100 * r['ingest_median_batch_ratio_before_issue17']:.0f} %); db {r['db_mb']} MB; load: copy {r['copy_s']} s,"
              f" derive {r['derive_s']} s; machine load (1 min) {r['load_1min']} on {os.cpu_count()} CPUs", flush=True)
    out = REPO / "bench" / "results" / f"board-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"now": NOW.isoformat(), "results": results}, indent=2))
    print(f"written {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
