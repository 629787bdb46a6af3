"""Status events per second through the api-server while the Celery topology runs a request.

The deployment's shape on one machine (devenv.celery_stack): Redis, the api-server with two
worker processes, scheduler, dag-processor, triggerer and two Celery workers. A production
request of the demo workflow is triggered and approved; while its stage runs (jobs on the
local pool, tracking in the triggerer), feeder clients POST batches of status events to
``/prodops/api/v1/events`` through the api-server for a bounded time. At the end: events
acknowledged must equal events stored, a resent batch must add nothing, and the request's run
must succeed. Prints the figures with the machine's load and writes
bench/results/celery_ingest-<time>.json.

Usage (from the repository root; make bench-celery sets up the venv and PostgreSQL):
    .venv/bin/python bench/celery_ingest.py [--seconds 20] [--clients 4] [--batch 100] [--jobs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO / "tools"), str(REPO), str(REPO / "bench")]

import devenv  # noqa: E402
from devenv.celery_stack import celery_stack  # noqa: E402
from prodops.status import tokens  # noqa: E402
from prodops.status.registry import load_registry, sync_registry  # noqa: E402
from prodops.store.db import connect  # noqa: E402
from push_api import MAX_SECONDS, REQUEST_TIMEOUT_S, SERVICES, client  # noqa: E402
from tests.e2e.airflow_client import AirflowStack  # noqa: E402

DAG = "production_request"
API_WORKERS = 2


def request_form(jobs: int) -> dict:
    return {
        "experiment": "nova",
        "campaign": "bench-celery",
        "workflow": "demo",
        "n_jobs": jobs,
        "request_memory_mb": 100,
        "request_disk_mb": 100,
        "max_wall_time_min": 10,
        "priority": 40,
        "justification": "bench: status ingest while the Celery stack runs a request",
        "contact": "bench@example.org",
        "workflow_options": {"records": 50, "sleep_s": 3},
    }


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the clients post (at most 300)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--jobs", type=int, default=40, help="jobs of the request running meanwhile")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, MAX_SECONDS)

    server = os.environ.get("PRODOPS_PG_URL") or devenv.server_url(REPO)
    names = [f"prodops_bench_celery_{os.getpid()}", f"prodops_bench_celery_af_{os.getpid()}"]
    prodops_url, metadata_url = (devenv.ensure_database(server, name) for name in names)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    loads = {"before": load()}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="prodops-bench-celery-") as workdir,
            celery_stack(
                metadata_url=metadata_url,
                prodops_url=prodops_url,
                workdir=Path(workdir),
                log_dir=REPO / "bench" / "results" / f"celery_ingest-{stamp}-logs",
                api_workers=API_WORKERS,
            ) as stack,
        ):
            with connect(prodops_url) as conn:
                sync_registry(conn, load_registry())
                _, token = tokens.issue(conn, "bench", services=SERVICES)
                conn.commit()
            airflow = AirflowStack(
                base_url=stack.base_url,
                password=stack.password(),
                env=stack.env,
                process=stack.processes["api-server"],
                log_path=stack.log_file("scheduler"),
                prodops_db_url=prodops_url,
                metadata_db_url=metadata_url,
            )
            airflow.wait_for_dag(DAG, timeout=180)
            airflow.unpause(DAG)
            run_started = time.monotonic()
            run_id = airflow.trigger(DAG, request_form(args.jobs))
            airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=180)
            airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 50, "note": "bench"})
            airflow.wait_for_task_state(DAG, run_id, "demo.run.track_stage", ["deferred"], timeout=180)

            url = f"{stack.base_url}/prodops"
            acked = [0] * args.clients
            errors: list[str] = []
            sample: list[dict] = []
            started = time.monotonic()
            until = started + seconds
            threads = [
                threading.Thread(target=client, args=(url, token, w, args.batch, until, acked, errors, sample))
                for w in range(args.clients)
            ]
            for t in threads:
                t.start()
            loads["during"] = load()
            for t in threads:
                t.join(timeout=seconds + REQUEST_TIMEOUT_S + 5)
            elapsed = time.monotonic() - started
            track_state = airflow.task_instance(DAG, run_id, "demo.run.track_stage")["state"]
            resent = (
                requests.post(
                    f"{url}/api/v1/events",
                    json=sample[0],
                    timeout=REQUEST_TIMEOUT_S,
                    headers={"Authorization": f"Bearer {token}"},
                ).json()
                if sample
                else {}
            )
            run_state = airflow.wait_for_run(DAG, run_id, timeout=600)
            run_seconds = time.monotonic() - run_started
            loads["after"] = load()
            with connect(prodops_url) as conn:
                stored = conn.execute("SELECT count(*) AS n FROM status_events").fetchone()["n"]
                jobs = conn.execute(
                    "SELECT count(DISTINCT (s.request_id, j.proc_id)) AS n FROM job_attempts j"
                    " JOIN submissions s ON s.id = j.submission_id WHERE s.attempt = 1"
                ).fetchone()["n"]
    finally:
        for name in names:
            devenv.drop_database(server, name)
    sent = sum(acked)
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "clients": args.clients,
        "batch": args.batch,
        "api_workers": API_WORKERS,
        "celery_workers": len(stack.workers),
        "events_acknowledged": sent,
        "events_stored": stored,
        "lost_or_extra": stored - sent,
        "events_per_s": round(sent / elapsed, 1),
        "requests_failed": len(errors),
        "resent_batch_stored": resent.get("stored"),
        "request_jobs": args.jobs,
        "jobs_recorded": jobs,
        "track_stage_while_posting": track_state,
        "run_state": run_state,
        "run_seconds": round(run_seconds),
        "load_1_5_15": loads,
        "cpus": os.cpu_count(),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"celery_ingest-{stamp}.json").write_text(json.dumps(result, indent=2))
    ok = (
        result["lost_or_extra"] == 0
        and not errors
        and result["resent_batch_stored"] == 0
        and run_state == "success"
        and jobs == args.jobs
    )
    print(
        f"status ingest on the Celery stack ({API_WORKERS} api-server workers, {len(stack.workers)} Celery "
        f"workers, a {args.jobs}-job request running: track_stage {track_state} at the end of the posting): "
        f"{result['events_per_s']} events/s over {result['seconds']} s ({args.clients} clients x {args.batch} "
        f"events/request); acknowledged {sent}, stored {stored}, failed requests {len(errors)}, resent batch "
        f"stored {result['resent_batch_stored']}; run {run_state} in {result['run_seconds']} s with {jobs} jobs "
        f"recorded; load (1/5/15 min) before {loads['before']}, during {loads['during']}, after {loads['after']}: "
        f"{'nothing lost, nothing doubled' if ok else 'MISMATCH'}"
    )
    if errors:
        print("first error:", errors[0])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
