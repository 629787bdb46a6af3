"""What the board shows and what preflight asks: states, since when, uptime, outages, windows.

Read from the rows derived on ingest (:mod:`prodops.status.derive`, the rules of
:mod:`prodops.status.timeline`): a handful of indexed queries, whatever the length of the history.
An outage carries its event count and first and last event; its events are paged apart
(:func:`outage_events`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote


from prodops.status import derive, records
from prodops.status.maintenance import MaintenanceWindow
from prodops.status.states import ServiceState
from prodops.status.timeline import INFERRED_STREAM, EventPoint, Segment, Uptime, Window, current, segments
from prodops.steering import open_and_recent
from prodops.store.db import Conn, q

HISTORY_DAYS = 30
BAR_DAYS = 30
UPCOMING_DAYS = 14
BOARD_OUTAGES = 5
"""Outages per service on the board (newest first); ``outages_more`` pages through the rest."""
UPTIME_PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
_US = timedelta(microseconds=1)
_KNOWN_AT = {st: k for k, st in enumerate(derive.KNOWN)}
_DAY = timedelta(days=1)


def _windows_for(service: str, windows: Iterable[MaintenanceWindow]) -> list[Window]:
    return [Window(w.starts_at, w.ends_at, w.id, w.reason) for w in windows if w.applies_to(service)]


def _midnight(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class ServiceNow:
    name: str
    state: ServiceState
    since: datetime | None
    last_report: datetime | None


def timelines(conn: Conn, services: Sequence[dict[str, Any]], start: datetime, end: datetime,
              windows: Sequence[MaintenanceWindow]) -> dict[str, tuple[list[Segment], list]]:
    """Per service name: (segments over [start, end), the event points behind them), from the events.

    For short spans (inference's last hour); the board reads the derived rows instead."""
    points = records.event_points(conn, [s["name"] for s in services], start, end)
    out = {}
    for s in services:
        evs = points.get(s["name"], [])
        segs = segments(evs, start, end, stale_after_s=s["stale_after_s"], windows=_windows_for(s["name"], windows))
        out[s["name"]] = (segs, evs)
    return out


def _now_rows(conn: Conn, names: Sequence[str], now: datetime) -> dict[str, dict[str, Any]]:
    return {r["service"]: r for r in conn.execute(q("derived_now"), {"services": list(names), "now": now})}


def _service_now(name: str, row: dict[str, Any] | None, since_after: datetime) -> ServiceNow:
    if row is None or row["state"] is None:
        return ServiceNow(name=name, state=ServiceState.UNKNOWN, since=None,
                          last_report=None if row is None else row["last_report"])
    since = row["start_at"] if row["start_at"] > since_after else None
    return ServiceNow(name=name, state=ServiceState(row["state"]), since=since, last_report=row["last_report"])


def current_states(conn: Conn, now: datetime, names: Sequence[str] | None = None,
                   lookback: timedelta = timedelta(days=HISTORY_DAYS)) -> dict[str, ServiceNow]:
    """The state of (some) active services at ``now``, with staleness and maintenance applied.

    ``since`` is None when the state began ``lookback`` or more before ``now``."""
    services = [s["name"] for s in records.active_services(conn) if names is None or s["name"] in names]
    rows = _now_rows(conn, services, now)
    return {n: _service_now(n, rows.get(n), now - lookback) for n in services}


def monitored_state(conn: Conn, service: str, stale_after_s: int | None, now: datetime,
                    windows: Sequence[MaintenanceWindow]) -> ServiceState:
    """What monitoring alone says at ``now`` (the inferred stream left out): each stream's last event."""
    rows = conn.execute(q("derive_carried_events"), {"services": [service], "t": [now]})
    evs = [EventPoint.from_row(r) for r in rows if r["stream"] != INFERRED_STREAM]
    state, _ = current(segments(evs, now - _US, now, stale_after_s=stale_after_s,
                                windows=_windows_for(service, windows)))
    return state


class _Clock:
    """Seconds per state of many services over many periods, from derived days and segments."""

    def __init__(self, conn: Conn, names: Sequence[str], now: datetime, now_rows: dict[str, dict],
                 periods: Sequence[tuple[datetime, datetime]]) -> None:
        self.now = now
        self.open = {n: (r["start_at"], ServiceState(r["state"])) for n, r in now_rows.items()
                     if r["state"] is not None and r["end_at"] >= derive.HORIZON}
        self.partials: list[tuple[datetime, datetime]] = []
        first: date | None = None
        last: date | None = None
        for a, b in periods:
            fa, lb = _midnight(a) + (_DAY if _midnight(a) < a else timedelta(0)), _midnight(b)
            if fa > lb:  # inside one day
                self.partials.append((a, b))
                continue
            self.partials += [p for p in ((a, fa), (lb, b)) if p[0] < p[1]]
            first = fa.date() if first is None else min(first, fa.date())
            last = lb.date() if last is None else max(last, lb.date())
        self.partials = sorted(set(self.partials))
        self.partial_k = {piece: k for k, piece in enumerate(self.partials)}
        self.days: dict[tuple[str, date], tuple[float, ...]] = {}
        if first is not None and last is not None and first < last:
            for r in conn.execute(q("derived_days"), {"services": list(names), "first": first, "last": last}):
                self.days[(r["service"], r["day"])] = (r["up_s"], r["degraded_s"], r["down_s"], r["maintenance_s"])
        self._pieces: dict[tuple[str, datetime, datetime], tuple[float, ...]] = {}
        self.spans: dict[tuple[str, int], list[tuple[datetime, datetime, ServiceState]]] = defaultdict(list)
        if self.partials and names:
            keys = [(n, k) for n in names for k in range(len(self.partials))]
            rows = conn.execute(q("derived_spans"), {
                "services": [n for n, _ in keys], "k": [k for _, k in keys],
                "a": [self.partials[k][0] for _, k in keys], "b": [self.partials[k][1] for _, k in keys]})
            for r in rows:
                self.spans[(r["service"], r["k"])].append((r["start_at"], r["end_at"], ServiceState(r["state"])))

    def uptime(self, name: str, a: datetime, b: datetime) -> Uptime:
        up = degraded = down = maintenance = 0.0
        day = _midnight(a)
        while day < b:
            u, g, d, m = self._piece(name, max(a, day), min(b, day + _DAY), day)
            up, degraded, down, maintenance = up + u, degraded + g, down + d, maintenance + m
            day += _DAY
        known = up + degraded + down + maintenance
        return Uptime(start=a, end=b, up_s=up, degraded_s=degraded, down_s=down, maintenance_s=maintenance,
                      unknown_s=max(0.0, (b - a).total_seconds() - known))

    def _piece(self, name: str, lo: datetime, hi: datetime, day: datetime) -> tuple[float, ...]:
        """Seconds up, degraded, down, in maintenance of one service over a day or part of one (once:
        the bars and the 24 h / 7 d / 30 d figures share their days)."""
        got = self._pieces.get((name, lo, hi))
        if got is not None:
            return got
        acc = [0.0, 0.0, 0.0, 0.0]
        if (lo, hi) != (day, day + _DAY):  # part of a day: from its segments
            for s, e, st in self.spans.get((name, self.partial_k[(lo, hi)]), []):
                x, y = max(s, lo), min(e, hi)
                if y > x and st in _KNOWN_AT:
                    acc[_KNOWN_AT[st]] += (y - x).total_seconds()
        else:  # a whole day: its derived row, and the open last segment (in no day's row)
            row = self.days.get((name, day.date()))
            if row is not None:
                acc = list(row)
            if name in self.open:
                s, st = self.open[name]
                if s < hi and st in _KNOWN_AT:
                    acc[_KNOWN_AT[st]] += (hi - max(s, lo)).total_seconds()
        got = self._pieces[(name, lo, hi)] = tuple(acc)
        return got


def _bar_periods(now: datetime) -> list[tuple[datetime, datetime]]:
    day_end = _midnight(now) + _DAY
    return [(day_end - timedelta(days=k), min(day_end - timedelta(days=k - 1), now)) for k in range(BAR_DAYS, 0, -1)]


def uptime(conn: Conn, names: Sequence[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Per service: uptime over the last 24 h, 7 d and 30 d."""
    rows = _now_rows(conn, names, now)
    periods = [(now - d, now) for d in UPTIME_PERIODS.values()]
    clock = _Clock(conn, names, now, rows, periods)
    return {n: {k: clock.uptime(n, now - d, now).to_dict() for k, d in UPTIME_PERIODS.items()} for n in names}


def _outage(row: dict[str, Any], now: datetime, range_start: datetime) -> dict[str, Any]:
    start = max(row["start_at"], range_start)
    is_open = row["end_at"] is None or row["end_at"] >= now
    stop = now if is_open else row["end_at"]
    ids = [i for i in (row["first_event_id"], row["last_event_id"]) if i]
    return {
        "service": row["service"], "start": start.isoformat(), "end": None if is_open else stop.isoformat(),
        "open": is_open, "worst": row["worst"], "duration_s": round((stop - start).total_seconds(), 1),
        "flapping": row["flapping"], "episodes": row["episodes"],
        "started_before_range": row["start_at"] <= range_start,
        "event_count": row["event_count"], "first_event_id": row["first_event_id"],
        "last_event_id": row["last_event_id"],
        "event_ids": list(dict.fromkeys(ids)),
        "events_url": f"/api/v1/services/{row['service']}/outages/{row['start_at'].isoformat()}/events",
    }


def outage_history(conn: Conn, service: str, now: datetime, *, before: datetime | None = None,
                   limit: int = 50) -> list[dict[str, Any]]:
    """A service's outages that started before ``before`` (default ``now``), newest first."""
    rows = conn.execute(q("derived_outages_recent"), {"services": [service], "start": derive.EPOCH,
                                                      "end": before or now, "limit": limit})
    return [_outage(r, now, derive.EPOCH) for r in rows]


def outage_events(conn: Conn, service: str, start: datetime, now: datetime, *,
                  after: tuple[datetime, int] | None = None, limit: int = 100) -> dict[str, Any] | None:
    """One page of the events of the outage of ``service`` that started at ``start`` (None: no such outage)."""
    o = conn.execute(q("derived_outage"), {"service": service, "start": start}).fetchone()
    if o is None:
        return None
    after_at, after_id = after or (derive.EPOCH, 0)
    rows = conn.execute(q("outage_events_page"), {
        "service": service, "start": o["start_at"], "end": o["end_at"] or max(now, o["start_at"]),
        "after_at": after_at, "after_id": after_id, "limit": limit}).fetchall()
    events = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
    more = len(rows) == limit
    return {"outage": _outage(o, now, derive.EPOCH), "events": events,
            "next": {"after": rows[-1]["observed_at"].isoformat(), "after_id": rows[-1]["id"]} if more else None}


def board(conn: Conn, now: datetime, templates: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Everything the board page shows, as plain JSON-able data."""
    services = records.active_services(conn)
    names = [s["name"] for s in services]
    start = now - timedelta(days=HISTORY_DAYS)
    windows = records.windows_overlapping(conn, start, now + timedelta(days=UPCOMING_DAYS))
    rows = _now_rows(conn, names, now)
    bars = _bar_periods(now)
    clock = _Clock(conn, names, now, rows, [*bars, *((now - d, now) for d in UPTIME_PERIODS.values())])
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counts: dict[str, int] = {}
    for r in conn.execute(q("derived_outages_recent"), {"services": names, "start": start, "end": now,
                                                        "limit": BOARD_OUTAGES}):
        history[r["service"]].append(_outage(r, now, start))
        counts[r["service"]] = r["in_range"]
    open_inferred = records.open_inferred(conn)
    inferred_rows = records.inferred_events(conn, names, start, now + timedelta(seconds=1))
    needed_by: dict[str, set[str]] = {}
    for wf, svcs in (templates or {}).items():
        for name in svcs:
            needed_by.setdefault(name, set()).add(wf)
    out_services = []
    for s in services:
        here = _service_now(s["name"], rows.get(s["name"]), start)
        inferred = open_inferred.get(s["name"])
        monitored = here.state
        if inferred is not None:  # what monitoring alone says, shown beside the inferred outage
            monitored = monitored_state(conn, s["name"], s["stale_after_s"], now, windows)
        outages = history.get(s["name"], [])
        _mark_inferred(outages, [r for r in inferred_rows if r["service"] == s["name"]], now)
        out_services.append({
            "name": s["name"],
            "description": s["description"],
            "group": s["grp"],
            "feed": s["feed"],
            "stale_after_s": s["stale_after_s"],
            "workflows": sorted(set(s["workflows"]) | needed_by.get(s["name"], set())),
            "state": here.state.value,
            "since": here.since.isoformat() if here.since else None,
            "last_report": here.last_report.isoformat() if here.last_report else None,
            "monitored_state": monitored.value,
            "inferred": None if inferred is None else inferred.to_dict(),
            "uptime": {k: clock.uptime(s["name"], now - d, now).to_dict() for k, d in UPTIME_PERIODS.items()},
            "bars": [_bar(clock.uptime(s["name"], a, b)) for a, b in bars],
            "outages": outages,
            "outage_count": counts.get(s["name"], 0),
            "outages_more": (f"/api/v1/services/{s['name']}/outages?before={quote(outages[-1]['start'])}"
                             if counts.get(s["name"], 0) > len(outages) else None),
        })
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
        "site_steering": [_avoidance(r) for r in open_and_recent(conn, now=now)],
    }


def _avoidance(row: dict[str, Any]) -> dict[str, Any]:
    """A site avoided by site steering (:mod:`prodops.steering`), with the figures that decided it."""
    return {
        "id": row["id"], "workflow": row["workflow"], "site": row["site"], "open": row["open"],
        "since": row["since"].isoformat(), "until": row["until"].isoformat(),
        "attempts": row["attempts"], "failures": row["failures"], "failure_rate": row["failure_rate"],
        "threshold": row["threshold"], "window_start": row["window_start"].isoformat(),
        "lifted_by": row["lifted_by"], "lifted_at": row["lifted_at"].isoformat() if row["lifted_at"] else None,
        "lift_note": row["lift_note"],
    }


def _bar(u: Uptime) -> dict[str, Any]:
    """One day of a service's uptime bar: its day, ratio, colour and the time it was not up (to 0.1 s).

    Up and unknown time, and the day's end, are left out: 1,500 bars make most of the board's answer."""
    pct = u.percent
    return {"start": u.start.date().isoformat(), "percent": None if pct is None else round(pct, 3),
            "worst": u.worst.value, "down_s": round(u.down_s, 1), "degraded_s": round(u.degraded_s, 1),
            "maintenance_s": round(u.maintenance_s, 1)}


def _mark_inferred(history: list[dict[str, Any]], rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Give each outage of the history the inferred outage in it, if any: evidence, how it ended, reviews.

    The inferred outage in an outage is the first inferred opening event within its time."""
    ends = {r["details"].get("opening_event_id"): r for r in rows if r["state"] == ServiceState.UP.value}
    opening = [r for r in rows if r["state"] != ServiceState.UP.value]  # in time order
    for o in history:
        o["inferred"] = None
        start = datetime.fromisoformat(o["start"])
        stop = now if o["end"] is None else datetime.fromisoformat(o["end"])
        found = next((r for r in opening if start <= r["observed_at"] <= stop), None)
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
