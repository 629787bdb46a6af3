"""Pull ingest: read configured monitoring feeds over HTTP, and mark silent services ``unknown``.

What the ``service_status`` DAG runs. A feed's payload goes through the same adapters as the
push API (:func:`prodops.status.ingest.ingest`), so it is stored whole or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from prodops.exceptions import ProdopsError
from prodops.status import records
from prodops.status.events import stale_event
from prodops.status.ingest import ingest
from prodops.status.maintenance import windows_from_statuspage
from prodops.status.records import StoreResult
from prodops.status.registry import PullFeed
from prodops.store.db import connect

log = logging.getLogger(__name__)

RETRIES = 3
BACKOFF_S = 0.5
"""Waits between tries grow as 0.5 s, 1 s, 2 s (urllib3's backoff)."""
CONNECT_TIMEOUT_S = 5.0


class FeedUnavailable(ProdopsError):
    """A feed could not be read; nothing was stored from it (its services go stale, not down)."""


def session(retries: int = RETRIES, backoff_s: float = BACKOFF_S) -> requests.Session:
    """A session that retries connection errors and 429/5xx answers with exponential backoff."""
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff_s,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",), raise_on_status=False)
    s = requests.Session()
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    s.headers["Accept"] = "application/json"
    return s


def fetch(url: str, *, timeout_s: float, http: requests.Session | None = None) -> Any:
    """GET a JSON document, with retries and a bounded connect and read time."""
    http = http or session()
    try:
        resp = http.get(url, timeout=(min(CONNECT_TIMEOUT_S, timeout_s), timeout_s))
    except requests.RequestException as err:
        raise FeedUnavailable(f"{url}: {type(err).__name__}: {err}") from None
    if not resp.ok:
        raise FeedUnavailable(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]!r}")
    try:
        return resp.json()
    except ValueError:
        raise FeedUnavailable(f"{url} did not answer JSON (starts {resp.text[:80]!r}); check the feed's path") from None


def feed_url(conn: Any, path: str) -> str:
    """The address of a feed from its Airflow connection (host may carry the scheme) and path."""
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        scheme = conn.schema or "http"
        host = f"{scheme}://{host}"
    if conn.port:
        host = f"{host}:{conn.port}"
    return host + ("/" + path.lstrip("/") if path else "")


def pull_feed(db_url: str, feed: PullFeed, url: str, *, now: datetime,
              http: requests.Session | None = None) -> StoreResult:
    """Read one feed and store its events, and a Statuspage feed's scheduled maintenances as
    windows (one transaction); raises FeedUnavailable or PayloadInvalid (nothing stored)."""
    payload = fetch(url, timeout_s=feed.timeout_s, http=http)
    with connect(db_url) as conn:
        result = ingest(conn, feed.convention, payload, feed=feed.name, now=now, components=feed.components)
        if feed.convention == "statuspage":
            for window in windows_from_statuspage(payload, feed=feed.name, components=dict(feed.components)):
                records.upsert_window(conn, window)
        conn.commit()
    return result


@dataclass(frozen=True)
class Stale:
    service: str
    last_report: datetime
    stale_since: datetime


def mark_stale(db_url: str, *, now: datetime) -> list[Stale]:
    """Record a ``system`` ``unknown`` event for each service whose feed fell silent (idempotent)."""
    found: list[Stale] = []
    with connect(db_url) as conn:
        for row in records.last_reports(conn):
            last, limit = row["last_feed_report"], row["stale_after_s"]
            if last is None or limit is None or now < last + timedelta(seconds=limit):
                continue
            event = stale_event(row["service"], last, limit)
            if records.insert_events(conn, [event]).stored:
                log.warning("Service %s: no report since %s (limit %d s): marked unknown", row["service"], last, limit)
            found.append(Stale(row["service"], last, event.observed_at))
        conn.commit()
    return found
