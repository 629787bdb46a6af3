"""
### Service status

Keeps the service board fed from the monitoring systems that pull rather than push: loads the
service registry (include/services.yaml), reads each configured feed (`feeds:` in that file; the
address is the feed's Airflow connection) with timeouts and retries, maps it through the same
code as the push API, and marks a service `unknown` when its reports stop coming. Then it
posts the outages prodops infers from failed jobs and clears those whose service works again
(jobs needing it succeeded), so an inferred outage ends even while no triage runs.

`load_registry` -> `pull_feed` (one per feed) -> `mark_stale` -> `infer_outages`
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task

from prodops.status.registry import load_registry

log = logging.getLogger(__name__)


def _feed_names() -> list[str]:
    """Feed names for task mapping (a file read at parse time; no database, no network)."""
    try:
        return [f.name for f in load_registry().feeds]
    except Exception:  # noqa: BLE001 - a broken file must not break parsing; load_registry reports it
        return []


@dag(
    dag_id="service_status",
    schedule=timedelta(minutes=5),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["prodops", "service-board"],
    default_args={"owner": "prodops", "retries": 1, "retry_delay": timedelta(minutes=1)},
    dagrun_timeout=timedelta(minutes=15),
)
def service_status() -> None:
    @task
    def load_registry_task() -> int:
        """Load include/services.yaml into the database (an upsert; removed services go inactive)."""
        from prodops.status.registry import sync_file
        from prodops.store.db import url_from_connection

        return len(sync_file(url_from_connection()).services)

    @task(retries=0)
    def pull_feed(name: str) -> dict:
        """Read one feed and store its events; a feed that cannot be read fails this task only."""
        from airflow.sdk import BaseHook

        from prodops.status.feeds import feed_url, pull_feed as pull
        from prodops.store.db import url_from_connection

        feed = next(f for f in load_registry().feeds if f.name == name)
        url = feed_url(BaseHook.get_connection(feed.conn_id), feed.path)
        result = pull(url_from_connection(), feed, url, now=datetime.now(timezone.utc))
        log.info("Feed %s (%s): %s", name, url, result.to_dict())
        return result.to_dict()

    @task(trigger_rule="all_done")
    def mark_stale() -> list[str]:
        """Services whose feed fell silent longer than their stale_after show `unknown`."""
        from prodops.status.feeds import mark_stale as mark
        from prodops.store.db import url_from_connection

        return [s.service for s in mark(url_from_connection(), now=datetime.now(timezone.utc))]

    @task(trigger_rule="all_done")
    def infer_outages() -> dict:
        """Post outages inferred from failed jobs (many with one service's signature) and clear the recovered."""
        from prodops.status.inferred import infer_outages as infer
        from prodops.store.db import url_from_connection

        result = infer(url_from_connection(), now=datetime.now(timezone.utc))
        for line in result.lines():
            log.info("%s", line)
        return result.to_dict()

    loaded = load_registry_task.override(task_id="load_registry")()
    pulled = pull_feed.expand(name=_feed_names())
    loaded >> pulled >> mark_stale() >> infer_outages()


service_status()
