"""The service board's active announcements as Airflow UI dashboard alerts.

Airflow reads ``DASHBOARD_UIALERTS`` from airflow_local_settings and iterates it on every
``/ui/config`` request, so a list whose iteration reads the database shows announcements as
they are posted. Imported in every Airflow process: it imports nothing heavy, never raises,
and gives up quickly when the database is slow (an empty list, logged once).

Airflow renders an alert's text as markdown: a feeder's announcement (and any author name) is
escaped to plain text, so a token cannot put links or images on everyone's dashboard; a
person's announcement keeps its markdown.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from prodops import config

log = logging.getLogger(__name__)

CACHE_S = 30.0
CONNECT_TIMEOUT_S = 3
CATEGORY = {"info": "info", "warning": "warning", "critical": "error"}
BOARD_ROUTE = "/plugin/service-board"
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>!#~|:@]|(?<=[wW]{3})\.)")
"""Characters that make markdown (links, images, emphasis, code, HTML, autolinks): each is escaped."""


def plain(text: str) -> str:
    """``text`` as markdown that shows exactly that text: no link, image, emphasis or autolink."""
    return _MARKDOWN.sub(r"\\\1", text)


class AnnouncementAlerts(list):
    """A list-like of UIAlert built from the active announcements (cached for ``CACHE_S``)."""

    def __init__(self, db_url: str | None = None) -> None:
        super().__init__()
        self._db_url = db_url
        self._cached: list[Any] = []
        self._at = 0.0
        self._lock = threading.Lock()
        self._warned = False

    def _url(self) -> str | None:
        return self._db_url or config.db_url()

    def _load(self) -> list[Any]:
        from airflow.api_fastapi.common.types import UIAlert

        from prodops.store.db import connect, q

        url = self._url()
        if not url:
            return []
        with connect(url) as conn:
            conn.execute("SET statement_timeout = 3000")
            found = conn.execute(q("dashboard_announcements"), {"now": datetime.now(timezone.utc)}).fetchall()
        return [
            UIAlert(text=f"{a['text'] if a['source'] == 'manual' else plain(a['text'])} ({plain(a['author'])},"
                         f" [service board]({BOARD_ROUTE}))", category=CATEGORY[a["severity"]])
            for a in found
        ]

    def alerts(self) -> list[Any]:
        with self._lock:
            if time.monotonic() - self._at > CACHE_S:
                try:
                    self._cached = self._load()
                    self._warned = False
                except Exception as err:  # noqa: BLE001 - the dashboard must open even without prodops
                    if not self._warned:
                        log.warning("Service board announcements not shown on the dashboard: %s", err)
                        self._warned = True
                    self._cached = []
                self._at = time.monotonic()
            return list(self._cached)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.alerts())

    def __len__(self) -> int:
        return len(self.alerts())
