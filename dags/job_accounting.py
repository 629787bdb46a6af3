"""
### Job accounting

Rolls up where the grid hours went: every attempt that ended since the last run, by request,
stage, site, CPU model, worker subnet, time-of-day window and day, with its cpu and wall hours,
memory and disk used against requested, files and bytes moved, and wasted hours by cause
(docs/accounting.md). Incremental and idempotent: a rerun, or two runs over the same
attempts, count nothing twice. The stats page (`/prodops/stats`) reads the result.

`roll_up`
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task


@dag(
    dag_id="job_accounting",
    schedule=timedelta(hours=1),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["prodops", "accounting"],
    default_args={"owner": "prodops", "retries": 2, "retry_delay": timedelta(minutes=5)},
    dagrun_timeout=timedelta(minutes=30),
)
def job_accounting() -> None:
    @task(execution_timeout=timedelta(minutes=20))
    def roll_up() -> dict:
        """Account the attempts written since the last run (prodops.accounting.rollup)."""
        from prodops.accounting.rollup import roll_up as run
        from prodops.store.db import connect, url_from_connection

        with connect(url_from_connection()) as conn:
            return run(conn).to_dict()

    roll_up()


job_accounting()
