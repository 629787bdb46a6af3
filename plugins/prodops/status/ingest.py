"""Ingest: one entry point that reads a payload in any convention and stores it whole or not at all.

The push API and the pull feeds (service_status DAG) both call :func:`ingest`, so a payload
means the same thing whichever way it arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any


from prodops.status import records
from prodops.status.events import from_alertmanager, from_nagios, from_native, from_statuspage
from prodops.status.records import StoreResult
from prodops.store.db import Conn

log = logging.getLogger(__name__)

KINDS = ("native", "alertmanager", "nagios", "statuspage")


def ingest(conn: Conn, kind: str, payload: Any, *, feed: str, now: datetime,
           components: Mapping[str, str] | None = None) -> StoreResult:
    """Validate against the registry, then store every event in one statement; the caller commits.

    Raises PayloadInvalid (nothing stored) when any field is wrong.
    """
    known = {s["name"] for s in records.active_services(conn)}.__contains__
    if kind == "native":
        events = from_native(payload, feed=feed, now=now, known=known)
    elif kind == "alertmanager":
        events = from_alertmanager(payload, feed=feed, now=now, known=known)
    elif kind == "nagios":
        events = from_nagios(payload, feed=feed, now=now, known=known)
    elif kind == "statuspage":
        events = from_statuspage(payload, feed=feed, now=now, components=components or {}, known=known)
    else:
        raise ValueError(f"payload kind {kind!r} is not one of {KINDS}")
    result = records.insert_events(conn, events)
    log.info("Feed %s sent %d %s event(s): %d stored, %d repeated", feed, result.received, kind, result.stored,
             result.duplicates)
    return result
