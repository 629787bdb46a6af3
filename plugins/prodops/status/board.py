"""What the board shows and what preflight asks: states, since when, uptime, outages, windows.

Everything is derived at read time from the stored events (see :mod:`prodops.status.timeline`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from prodops.status import records
from prodops.status.maintenance import MaintenanceWindow
from prodops.status.states import ServiceState
from prodops.status.timeline import (
    INFERRED_STREAM, EventPoint, Segment, Window, current, daily_bars, outages, segments, uptime,
)

HISTORY_DAYS = 30
BAR_DAYS = 30
UPCOMING_DAYS = 14
UPTIME_PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _windows_for(service: str, windows: Iterable[MaintenanceWindow]) -> list[Window]:
    return [Window(w.starts_at, w.ends_at, w.id, w.reason) for w in windows if w.applies_to(service)]


def _last_report(evs: Iterable[EventPoint]) -> datetime | None:
    """Monitoring's last word on a service (an inferred outage is prodops' own, not a report)."""
    return max((e.observed_at for e in evs if e.stream != INFERRED_STREAM), default=None)


@dataclass(frozen=True)
class ServiceNow:
    name: str
    state: ServiceState
    since: datetime | None
    last_report: datetime | None


def timelines(conn: psycopg.Connection, services: Sequence[dict[str, Any]], start: datetime, end: datetime,
              windows: Sequence[MaintenanceWindow]) -> dict[str, tuple[list[Segment], list]]:
    """Per service name: (segments over [start, end), the event points behind them)."""
    points = records.event_points(conn, [s["name"] for s in services], start, end)
    out = {}
    for s in services:
        evs = points.get(s["name"], [])
        segs = segments(evs, start, end, stale_after_s=s["stale_after_s"], windows=_windows_for(s["name"], windows))
        out[s["name"]] = (segs, evs)
    return out


def current_states(conn: psycopg.Connection, now: datetime, names: Sequence[str] | None = None,
                   lookback: timedelta = timedelta(days=HISTORY_DAYS)) -> dict[str, ServiceNow]:
    """The state of (some) active services at ``now``, with staleness and maintenance applied."""
    services = [s for s in records.active_services(conn) if names is None or s["name"] in names]
    start = now - lookback
    windows = records.windows_overlapping(conn, start, now + timedelta(seconds=1))
    result = {}
    for name, (segs, evs) in timelines(conn, services, start, now, windows).items():
        state, since = current(segs)
        result[name] = ServiceNow(name=name, state=state, since=since, last_report=_last_report(evs))
    return result


def board(conn: psycopg.Connection, now: datetime, templates: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Everything the board page shows, as plain JSON-able data."""
    services = records.active_services(conn)
    start = now - timedelta(days=HISTORY_DAYS)
    windows = records.windows_overlapping(conn, start, now + timedelta(days=UPCOMING_DAYS))
    lines = timelines(conn, services, start, now, windows)
    names = [s["name"] for s in services]
    open_inferred = records.open_inferred(conn)
    inferred_rows = records.inferred_events(conn, names, start, now + timedelta(seconds=1))
    needed_by: dict[str, set[str]] = {}
    for wf, svcs in (templates or {}).items():
        for s in svcs:
            needed_by.setdefault(s, set()).add(wf)
    out_services = []
    for s in services:
        segs, evs = lines[s["name"]]
        state, since = current(segs)
        inferred = open_inferred.get(s["name"])
        monitored = state
        if inferred is not None:  # what monitoring alone says, shown beside the inferred outage
            monitored, _ = current(segments([e for e in evs if e.stream != INFERRED_STREAM], start, now,
                                            stale_after_s=s["stale_after_s"],
                                            windows=_windows_for(s["name"], windows)))
        history = [o.to_dict() for o in reversed(outages(s["name"], segs, evs, range_end=now))]
        _mark_inferred(history, [r for r in inferred_rows if r["service"] == s["name"]])
        out_services.append({
            "name": s["name"],
            "description": s["description"],
            "group": s["grp"],
            "feed": s["feed"],
            "stale_after_s": s["stale_after_s"],
            "workflows": sorted(set(s["workflows"]) | needed_by.get(s["name"], set())),
            "state": state.value,
            "since": since.isoformat() if since else None,
            "last_report": _last_report(evs),
            "monitored_state": monitored.value,
            "inferred": None if inferred is None else inferred.to_dict(),
            "uptime": {k: uptime(segs, now - d, now).to_dict() for k, d in UPTIME_PERIODS.items()},
            "bars": [b.to_dict() for b in daily_bars(segs, now, BAR_DAYS)],
            "outages": history,
        })
    for s in out_services:
        if s["last_report"] is not None:
            s["last_report"] = s["last_report"].isoformat()
    return {
        "now": now.isoformat(),
        "services": out_services,
        "announcements": [
            {"id": a.id, "text": a.text, "severity": a.severity, "author": a.author,
             "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat() if a.ends_at else None}
            for a in records.active_announcements(conn, now)
        ],
        "maintenance": [
            {"id": w.id, "services": list(w.services) or ["all services"], "starts_at": w.starts_at.isoformat(),
             "ends_at": w.ends_at.isoformat(), "reason": w.reason, "created_by": w.created_by,
             "active": w.starts_at <= now < w.ends_at}
            for w in windows if w.ends_at > now
        ],
    }


def _mark_inferred(history: list[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> None:
    """Give each outage of the history the inferred outage in it, if any: evidence, how it ended, reviews."""
    ends = {r["details"].get("opening_event_id"): r for r in rows if r["state"] == ServiceState.UP.value}
    opening = {r["id"]: r for r in rows if r["state"] != ServiceState.UP.value}
    for o in history:
        o["inferred"] = None
        found = next((opening[i] for i in o["event_ids"] if i in opening), None)
        if found is None:
            continue
        end = ends.get(found["id"])
        d = found["details"]
        o["inferred"] = {
            "event_id": found["id"], "count": d.get("count"), "signature": d.get("signature"), "rule": d.get("rule"),
            "verdict_service": d.get("verdict_service"), "sample_jobs": d.get("sample_jobs", []),
            "first_failure": d.get("first_failure"), "last_failure": d.get("last_failure"),
            "message": found["message"], "reviews": found["reviews"],
            "ended": None if end is None else {"at": end["observed_at"].isoformat(), "reason": end["code"],
                                               "message": end["message"]},
        }
