"""Service-board rows in PostgreSQL: every statement by name from include/sql/queries/status.sql.

Callers own the transaction (commit or roll back), so a payload is stored whole or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


from prodops.status import derive
from prodops.status.events import StatusEvent
from prodops.status.inference import Failure, InferredOutage
from prodops.status.maintenance import Announcement, MaintenanceWindow
from prodops.status.timeline import EventPoint
from prodops.store.db import Conn, one_row, q

_EVENT_COLUMNS = ("service", "state", "observed_at", "source", "feed", "external_id", "stream",
                  "valid_until", "convention", "code", "message", "details")


@dataclass(frozen=True)
class StoreResult:
    received: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.received - self.stored

    def to_dict(self) -> dict[str, int]:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates}


def active_services(conn: Conn) -> list[dict[str, Any]]:
    return list(conn.execute(q("active_services")))


def insert_events(conn: Conn, events: Sequence[StatusEvent]) -> StoreResult:
    """Store events in one statement and derive what they change; repeats (same service, feed, id and time) are skipped."""
    if not events:
        return StoreResult(0, 0)
    rows = [e.row() for e in events]
    params = {col: [r[col] for r in rows] for col in _EVENT_COLUMNS}
    sent: dict[str, datetime] = {}
    for r in rows:
        if r["service"] not in sent or r["observed_at"] < sent[r["service"]]:
            sent[r["service"]] = r["observed_at"]
    stored = derive.store(conn, q("insert_status_events"), params, sent)
    return StoreResult(received=len(events), stored=stored)


def event_points(conn: Conn, services: Sequence[str], start: datetime,
                 end: datetime) -> dict[str, list[EventPoint]]:
    """Per service: the events of [start, end) and each stream's last event before start."""
    found: dict[str, list[EventPoint]] = defaultdict(list)
    rows = conn.execute(q("status_events_for_range"), {"services": list(services), "start": start, "end": end})
    for r in rows:
        found[r["service"]].append(EventPoint.from_row(r))
    return found


def recent_events(conn: Conn, services: Sequence[str], end: datetime, limit: int = 50) -> list[dict]:
    return list(conn.execute(q("recent_status_events"), {"services": list(services), "end": end, "limit": limit}))


def last_reports(conn: Conn) -> list[dict[str, Any]]:
    return list(conn.execute(q("last_report_per_service")))


def count_events(conn: Conn) -> int:
    return int(one_row(conn.execute(q("count_status_events")))["n"])


def upsert_window(conn: Conn, window: MaintenanceWindow) -> tuple[int, bool]:
    before = conn.execute(q("window_by_key"), {"feed": window.feed, "external_id": window.external_id,
                                               "id": -1}).fetchone()
    row = one_row(conn.execute(q("upsert_maintenance_window"), window.row()))
    _window_changed(conn, [before, {"services": list(window.services), "starts_at": window.starts_at}])
    return int(row["id"]), bool(row["created"])


def cancel_window(conn: Conn, window_id: int) -> bool:
    before = conn.execute(q("window_by_key"), {"feed": None, "external_id": None, "id": window_id}).fetchone()
    found = conn.execute(q("cancel_maintenance_window"), {"id": window_id}).fetchone() is not None
    _window_changed(conn, [before])
    return found


def _window_changed(conn: Conn, windows: Sequence[dict[str, Any] | None]) -> None:
    """Re-derive the services a window (as it was and as it is now) covers, from its start."""
    changed: dict[str, datetime] = {}
    everyone: list[str] | None = None
    for w in windows:
        if w is None:
            continue
        names = list(w["services"])
        if not names:
            everyone = everyone or [r["service"] for r in conn.execute(q("derived_service_names"))]
            names = everyone
        for name in names:
            changed[name] = min(changed.get(name, w["starts_at"]), w["starts_at"])
    derive.refresh(conn, changed)


def windows_overlapping(conn: Conn, start: datetime, end: datetime) -> list[MaintenanceWindow]:
    return [
        MaintenanceWindow(
            starts_at=r["starts_at"], ends_at=r["ends_at"], reason=r["reason"], services=tuple(r["services"]),
            feed=r["feed"], external_id=r["external_id"], source=r["source"], created_by=r["created_by"], id=r["id"],
        )
        for r in conn.execute(q("maintenance_windows_overlapping"), {"start": start, "end": end})
    ]


def upsert_announcement(conn: Conn, announcement: Announcement) -> tuple[int, bool]:
    row = one_row(conn.execute(q("upsert_announcement"), announcement.row()))
    return int(row["id"]), bool(row["created"])


def end_announcement(conn: Conn, announcement_id: int, now: datetime) -> bool:
    return conn.execute(q("end_announcement"), {"id": announcement_id, "now": now}).fetchone() is not None


def active_announcements(conn: Conn, now: datetime) -> list[Announcement]:
    return [
        Announcement(text=r["text"], severity=r["severity"], starts_at=r["starts_at"], ends_at=r["ends_at"],
                     author=r["author"], feed=r["feed"], external_id=r["external_id"], id=r["id"])
        for r in conn.execute(q("active_announcements"), {"now": now})
    ]


# Inferred outages (include/sql/queries/inferred.sql; rules in prodops.status.inference)

def lock_inferred(conn: Conn) -> None:
    """Serialize inference and reviews until the transaction ends."""
    conn.execute(q("lock_inferred_outages"))


def _inferred(row: dict[str, Any]) -> InferredOutage:
    return InferredOutage(event_id=row["id"], service=row["service"], opened_at=row["observed_at"],
                          message=row["message"], details=row["details"] or {})


def open_inferred(conn: Conn) -> dict[str, InferredOutage]:
    """Per service, the inferred outage open now (its last inferred event is not ``up``)."""
    return {r["service"]: _inferred(r) for r in conn.execute(q("last_inferred_events")) if r["state"] != "up"}


def inferred_opening(conn: Conn, event_id: int) -> InferredOutage | None:
    """The inferred outage that event ``event_id`` opened (None: no such inferred ``degraded`` event)."""
    row = conn.execute(q("inferred_event"), {"id": event_id}).fetchone()
    return None if row is None or row["state"] == "up" else _inferred(row)


def inferred_events(conn: Conn, services: Sequence[str], start: datetime,
                    end: datetime) -> list[dict[str, Any]]:
    """Inferred events of [start, end) with the reviews of each (board history)."""
    return list(conn.execute(q("inferred_events_for_range"), {"services": list(services), "start": start, "end": end}))


def service_failures(conn: Conn, since: datetime, now: datetime) -> list[Failure]:
    """Failed attempts with a service verdict from their logs that ended in [since, now], every request."""
    return [
        Failure(service=r["service"], signature=r["signature"], ended=r["ended"],
                job=f"{r['cluster_id']}.{r['proc_id']}", rule=r["rule"], request_id=r["request_id"], stage=r["stage"])
        for r in conn.execute(q("recent_service_failures"), {"since": since, "now": now})
    ]


def running_jobs(conn: Conn) -> int:
    return int(one_row(conn.execute(q("running_job_count")))["n"])


def succeeded_attempts(conn: Conn, since: datetime, now: datetime, per_stage: int) -> list[dict[str, Any]]:
    """(workflow, stage, completion_date) of attempts that succeeded in (since, now], at most ``per_stage`` each."""
    return list(conn.execute(q("succeeded_attempts_since"), {"since": since, "now": now, "n": per_stage}))


def inferred_thresholds(conn: Conn) -> dict[str, int]:
    """Per signature, the threshold a person raised it to."""
    return {r["signature"]: int(r["min_jobs"]) for r in conn.execute(q("inferred_thresholds"))}


def upsert_inferred_review(conn: Conn, *, event_id: int, action: str, service: str, signature: str,
                           by: str, at: datetime, note: str, min_jobs: int | None) -> None:
    conn.execute(q("upsert_inferred_review"), {
        "event_id": event_id, "action": action, "service": service, "signature": signature, "reviewed_by": by,
        "reviewed_at": at, "note": note, "min_jobs": min_jobs})


def upsert_inferred_threshold(conn: Conn, *, signature: str, min_jobs: int, by: str, at: datetime,
                              event_id: int, note: str) -> None:
    conn.execute(q("upsert_inferred_threshold"), {
        "signature": signature, "min_jobs": min_jobs, "set_by": by, "set_at": at, "event_id": event_id,
        "note": note})
