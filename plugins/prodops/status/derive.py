"""Derived board rows, kept up to date when events (or maintenance windows) arrive.

What the events of a service mean (:mod:`prodops.status.timeline`'s rules, unchanged) is written
in the transaction that stores them, so reads never replay history:

* ``status_streams``: each stream's last event (the current report per stream);
* ``status_segments``: the service's state over time, contiguous from :data:`EPOCH` to
  :data:`HORIZON` (the last one is what the events so far say from then on: a ttl that will
  expire, a window that will open);
* ``status_outages``: outages with flapping merged, their event count and first and last event;
* ``status_daily``: seconds per known state per UTC day, from the closed segments.

A change at time ``t`` re-derives the service from ``t`` on: the state each stream carries into
``t`` (its last event before it) plus the events from ``t``, through :func:`timeline.segments`,
stitched onto the segment holding ``t``. Nothing before that segment is read back: the segment
before it carries the outage run :func:`timeline.outages` is in at its end (start, worst,
episodes; migration 025), so outages are scanned on from there; an outage's events are counted
from its stored row (count, first and last event) and the events from ``t``; a day's seconds from
its stored row, less the segments written again, plus the new ones. So a batch that extends a
long flapping outage costs the batch, not the outage. Events in order cost only themselves: when every
stream's head is older than ``t`` (the heads move only after the derivation read them), the state
carried in is the heads and the events from ``t`` are the batch's own, so nothing is read back
from ``status_events``; the lock and every read go to the server in one pipeline, the writes in
one statement. A late event costs the span since it. Repeated events are not stored, so they change
nothing. A service never
derived (or derived with another ``stale_after_s``) is derived from its first event:
:func:`rebuild` is that, on request, and the incremental rows must equal it (the property test).

``python -m prodops.status.derive rebuild [--service NAME ...]`` repairs services from their events.
"""

from __future__ import annotations

import argparse
from bisect import bisect_left, bisect_right
import logging
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any


from prodops import config
from prodops.status.states import ServiceState, worst
from prodops.status.timeline import (
    ALL_STREAMS, FLAP_GAP_S, INFERRED_STREAM, OUTAGE_STATES, EventPoint, Segment, Window, segments,
)
from prodops.store.db import Conn, q

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""Where a service's derived timeline starts (unknown until its first event or window)."""
HORIZON = datetime(2200, 1, 1, tzinfo=timezone.utc)
"""Where it ends: the last segment reaches it (still going on)."""
DAY = timedelta(days=1)
KNOWN = (ServiceState.UP, ServiceState.DEGRADED, ServiceState.DOWN, ServiceState.MAINTENANCE)
"""The states counted per day; unknown is the rest of the day."""


Run = tuple[datetime, ServiceState, int]
"""An outage run as the scan of :func:`timeline.outages` holds it at a segment's end: start, worst, episodes."""
_NO_DAY = (0, 0, 0, 0)


@dataclass(frozen=True)
class _OldOutage:
    end: datetime | None
    n: int
    first: int | None
    last: int | None


@dataclass(frozen=True)
class _Plan:
    service: str
    t: datetime
    """Re-derive segments from here."""
    r: datetime
    """Outages are written again from here: the start of the run the segment before ``since`` is in
    (it may go on), else ``since``."""
    stale_after_s: int | None
    since: datetime
    """Segments are written again from here: the last one starting before ``t`` (or ``t``)."""
    fresh: bool
    """No stored event at or after ``t`` but the batch's own (every stream's head is older): an
    in-order batch, derived from the heads and the new events without reading events back."""
    stored: tuple[tuple[Segment, Run | None], ...] = ()
    """The stored segments from the one ending at ``since`` on, each with its run (migration 025)."""
    day: tuple[int, int, int, int] = _NO_DAY
    """The stored row of ``since``'s day, in microseconds per known state."""
    old_outages: Mapping[datetime, _OldOutage] | None = None
    """The stored outages from ``r`` on, by start."""

    @property
    def first_day(self) -> date:
        return self.since.astimezone(timezone.utc).date()


Stored = tuple[str, EventPoint]
"""A newly stored event: its service and what the derivation needs of it."""
_STORED_COLUMNS = ["id", "service", "stream", "observed_at", "state", "valid_until"]
"""What an event insert given to :func:`store` returns, in this order."""


def _stored_row(cursor: Any) -> Any:
    """Row factory for the insert's RETURNING: (service, EventPoint), made straight from the values
    (no dict per row, then a point from it: a batch stores a thousand)."""
    names = [c.name for c in cursor.description or ()]
    if names != _STORED_COLUMNS:
        raise ValueError(f"an event insert must return {', '.join(_STORED_COLUMNS)} (in this order), not {names}")

    def make(v: Sequence[Any]) -> Stored:
        return v[1], EventPoint.from_values(v[3], v[4], v[2], v[0], v[5])

    return make


def _stream_heads(stored: Sequence[Stored]) -> dict[tuple[str, str], EventPoint]:
    """Each stream's last newly stored event (by time, then id): what ``write_derived`` moves its head to.

    A batch of a thousand events holds a few dozen streams; only their last events are sent."""
    last: dict[tuple[str, str], EventPoint] = {}
    for service, e in stored:
        k = (service, e.stream)
        had = last.get(k)
        if had is None or e.observed_at > had.observed_at or (e.observed_at == had.observed_at and e.id > had.id):
            last[k] = e
    return last


def refresh(conn: Conn, changed: Mapping[str, datetime]) -> None:
    """Re-derive each service from the time it changed (a maintenance window's edge; events: :func:`store`).

    Runs in the caller's transaction, under each service's advisory lock (taken here, in name order).
    """
    if not changed:
        return
    names = sorted(changed)
    _derive(conn, names, [changed[n] for n in names])


def store(conn: Conn, insert: str, params: Mapping[str, Any], sent: Mapping[str, datetime]) -> int:
    """Run ``insert`` (a batch of events, RETURNING the rows stored) and derive what it changed.

    The insert goes to the server in the same round trip as the derivation's lock and reads (the
    stream heads move after the derivation read them: a head older than ``t`` is the state its
    stream carries in, with no lookup), which
    start from each service's earliest event ``sent`` (stored, or a repeat that is not: a re-derivation
    from earlier than needed comes out the same). Services none of whose events were stored are left
    as they are. Returns how many events were stored."""
    if not sent:
        return 0
    names = sorted(sent)
    return len(_derive(conn, names, [sent[n] for n in names], insert=(insert, params)))


def rebuild(conn: Conn, services: Iterable[str]) -> int:
    """Derive services again from all their events (the repair job); returns how many."""
    names = sorted(set(services))
    if not names:
        return 0
    conn.execute(q("lock_derived_services"), {"services": names})
    conn.execute(q("clear_derived_marks"), {"services": names})
    conn.execute(q("delete_stream_heads"), {"services": names})
    conn.execute(q("rebuild_stream_heads"), {"services": names})
    _derive(conn, names, [EPOCH] * len(names))
    return len(names)


def ensure_derived(conn: Conn) -> list[str]:
    """Derive the services never derived, or derived with another staleness limit (registry sync)."""
    missing = [r["service"] for r in conn.execute(q("services_not_derived"))]
    if missing:
        log.info("Deriving board rows of %d service(s) from their events: %s", len(missing), ", ".join(missing))
        rebuild(conn, missing)
    return missing


def _plan(row: Mapping[str, Any]) -> _Plan:
    t, since = row["t"], row["since"]
    if (not row["derived"] or row["derived_stale_s"] != row["stale_after_s"] or row["holding_start"] is None
            or since is None):  # never derived, derived with another staleness, or nothing before t
        return _Plan(row["service"], EPOCH, EPOCH, row["stale_after_s"], EPOCH, False, old_outages={})
    stored = tuple(
        (Segment(a, b, ServiceState(st)), None if rs is None else (rs, ServiceState(rw), re))
        for a, b, st, rs, rw, re in zip(row["seg_start"] or (), row["seg_end"] or (), row["seg_state"] or (),
                                        row["seg_run_start"] or (), row["seg_run_worst"] or (),
                                        row["seg_run_episodes"] or ()))
    day = tuple(0 if row[k] is None else round(row[k] * 1e6)
                for k in ("day_up_s", "day_degraded_s", "day_down_s", "day_maintenance_s"))
    old = {a: _OldOutage(b, n, f, last) for a, b, n, f, last in zip(
        row["out_start"] or (), row["out_end"] or (), row["out_n"] or (), row["out_first"] or (), row["out_last"] or ())}
    fresh = row["last_head"] is None or row["last_head"] < t
    return _Plan(row["service"], t, row["r"], row["stale_after_s"], since, fresh, stored, day, old)  # type: ignore[arg-type]


def _derive(conn: Conn, names: list[str], times: list[datetime],
            insert: tuple[str, Mapping[str, Any]] | None = None) -> list[Stored]:
    """(Store,) lock, read what the services carry into their change, derive from it, write: two round trips.

    The insert, the lock and every read go in one pipeline (the lock before the reads, so they see
    what the previous writer of these services committed), the writes in one statement. A service to
    derive from its start instead (never derived, or derived with another staleness) is read again.
    Returns the events ``insert`` stored."""
    asked = dict(zip(names, times))
    with conn.pipeline():
        inserted = conn.cursor(row_factory=_stored_row).execute(insert[0], insert[1]) if insert is not None else None
        conn.execute(q("lock_derived_services"), {"services": names})
        plan_rows = conn.execute(q("derive_plan"), {"services": names, "times": times})
        carried_rows = conn.execute(q("derive_carried_events"), {"services": names, "t": times})
        later_rows = conn.execute(q("derive_events_after_heads"), {"services": names, "t": times})
        window_rows = conn.execute(q("maintenance_windows_overlapping"), {"start": min(times), "end": HORIZON})
    plans = [_plan(r) for r in plan_rows.fetchall()]
    stored: list[Stored] = []
    if inserted is not None:
        stored = inserted.fetchall()
        touched = {service for service, _ in stored}
        plans = [p for p in plans if p.service in touched]
        if not plans:
            return stored
    carried: dict[str, list[EventPoint]] = defaultdict(list)
    for r in carried_rows.fetchall():
        carried[r["service"]].append(EventPoint.from_row(r))
    events: dict[str, list[EventPoint]] = {p.service: _carried(carried[p.service]) if p.service in carried else []
                                           for p in plans}
    fresh = {p.service for p in plans if p.fresh}
    for service, e in stored:  # a fresh service's events from t are the batch's own
        if service in fresh:
            events[service].append(e)
    for r in later_rows.fetchall():
        events[r["service"]].append(EventPoint.from_row(r))
    windows = window_rows.fetchall()
    restart = [p for p in plans if p.t != asked[p.service]]
    if restart:  # from the start: nothing carried or kept, every event read
        for p in restart:
            events[p.service] = []
        with conn.pipeline():
            from_rows = conn.execute(q("derive_events_from"), {"services": [p.service for p in restart],
                                                                "t": [p.t for p in restart]})
            window_rows = conn.execute(q("maintenance_windows_overlapping"), {"start": EPOCH, "end": HORIZON})
        for r in from_rows.fetchall():
            events[r["service"]].append(EventPoint.from_row(r))
        windows = window_rows.fetchall()
    batch_ids = {e.id for _, e in stored}

    seg_rows: list[tuple] = []
    outage_rows: list[tuple] = []
    day_rows: list[tuple[str, date, float, float, float, float]] = []
    rewritten: list[_Plan] = []  # segments and days written again
    recounted: list[_Plan] = []  # outages written again
    for p in plans:
        mine = [Window(w["starts_at"], w["ends_at"], w["id"], w["reason"]) for w in windows
                if (not w["services"] or p.service in w["services"]) and w["ends_at"] > p.t]
        tail = segments(events.get(p.service, []), p.t, HORIZON, stale_after_s=p.stale_after_s, windows=mine)
        before = [(s, run) for s, run in p.stored if s.end <= p.since]  # the segment ending at since
        kept = [s for s, _ in p.stored if p.since <= s.start < p.t]  # the one holding t, cut there
        stitched, first_new = _stitch(kept, tail, p.t)
        new = stitched[first_new:]
        # the usual batch: reports that change nothing (the open last segment comes out as stored)
        same = bool(kept) and kept[-1].end >= HORIZON and new == kept[-1:]
        marks, found = _runs(before[-1] if before else None, new)
        after = sorted((e for e in events.get(p.service, []) if e.observed_at >= p.t),
                       key=lambda e: (e.observed_at, e.id))
        if not same or any(o[0] <= e.observed_at <= (o[3] or HORIZON) for o in found for e in after):
            recounted.append(p)  # counts change
            outage_rows.extend((p.service, start, end, w.value, episodes > 1, episodes,
                                *_counts(p, start, end, after, batch_ids))
                               for start, w, episodes, end in found)
        if same:
            continue
        rewritten.append(p)
        seg_rows.extend((p.service, s.start, s.end, s.state.value, *(mark or (None, None, None)))
                        for s, mark in zip(new, marks))
        day_rows.extend((p.service, day, *secs) for day, secs in _days(p, new).items())

    _write(conn, rewritten, recounted, seg_rows, outage_rows, day_rows, _stream_heads(stored))
    return stored


def _runs(before: tuple[Segment, Run | None] | None,
          segs: Sequence[Segment]) -> tuple[list[tuple[datetime, str, int] | None], list[tuple]]:
    """The outage scan of :func:`timeline.outages` over ``segs``, carried on from the segment before them.

    Returns each segment's run (what :func:`timeline.outages` holds at its end, stored with it) and
    the runs the segments reach, the one ``before`` is in first: (start, worst, episodes, end or
    None while open). The segment before holds its run's summary, so an outage extended batch by
    batch costs its new segments, not all of its own."""
    prev: Segment | None = None if before is None else before[0]
    cur: list | None = None
    found: list[list] = []
    if before is not None and before[1] is not None:
        start, w, episodes = before[1]
        cur = [start, w, episodes, before[0].end if before[0].state in OUTAGE_STATES else before[0].start]
        found.append(cur)
    marks: list[tuple[datetime, str, int] | None] = []
    for s in segs:
        if s.state in OUTAGE_STATES:
            if cur is not None and prev is not None and (
                    prev.state in OUTAGE_STATES or (prev.state is ServiceState.UP and prev.seconds < FLAP_GAP_S)):
                if prev.state is ServiceState.UP:  # a short gap between two episodes: flapping
                    cur[2] += 1
                cur[1] = worst([cur[1], s.state])
                cur[3] = s.end
            else:
                cur = [s.start, s.state, 1, s.end]
                found.append(cur)
            marks.append((cur[0], cur[1].value, cur[2]))
        elif s.state is ServiceState.UP and cur is not None and prev is not None and prev.state in OUTAGE_STATES:
            marks.append((cur[0], cur[1].value, cur[2]))  # a gap the run may still cross
        else:
            cur = None
            marks.append(None)
        prev = s
    return marks, [(start, w, episodes, None if end >= HORIZON else end) for start, w, episodes, end in found]


def _counts(p: _Plan, start: datetime, end: datetime | None, after: Sequence[EventPoint],
            batch: set[int]) -> tuple:
    """(n, a_first, a_last, c_first, c_last, b_from, b_to, probe_to) of an outage for
    ``insert_derived_outages``: its events counted from its stored row and the events at or after
    ``t`` (``after``: all of them, sorted), never by counting a long outage's events again.

    All None (counted in SQL from the events) where the stored row does not say enough: an outage
    that starts before ``t`` and was not stored with this start, or that now ends before ``t``
    where it did not."""
    stop = end or HORIZON
    times = [e.observed_at for e in after]
    c = after[bisect_left(times, start):bisect_right(times, stop)]
    c_first, c_last = (c[0].id, c[-1].id) if c else (None, None)
    if start >= p.t:  # every event in it is at or after t
        return len(c), None, None, c_first, c_last, None, None, None
    old = (p.old_outages or {}).get(start)
    if old is None:
        return (None,) * 8
    old_stop = old.end or HORIZON
    if old_stop >= p.t and stop >= p.t:  # [start, t) as stored, less the stored events from t
        gone = [e for e in after[bisect_left(times, start):bisect_right(times, old_stop)] if e.id not in batch]
        base = old.n - len(gone)
        if base < 0:
            return (None,) * 8
        probe = p.t if base and gone else None  # its last event before t: looked up
        return (base + len(c), old.first if base else None, old.last if base and not gone else None,
                c_first, c_last, None, None, probe)
    if old_stop < p.t and stop == old_stop:  # before t, as stored
        return old.n, old.first, old.last, None, None, None, None, None
    if old_stop < p.t <= stop:  # reaches across the gap (old end, t) now: counted there in SQL
        return old.n + len(c), old.first, old.last, c_first, c_last, old_stop, p.t, None
    return (None,) * 8


_US = timedelta(microseconds=1)
_US_A_DAY = DAY // _US
_KNOWN_INDEX = {state: k for k, state in enumerate(KNOWN)}


def _day_us(segs: Sequence[Segment], since: date) -> dict[date, list[int]]:
    """Microseconds per known state per UTC day from ``since`` on, from the closed segments.

    Summed in integer microseconds since :data:`EPOCH` (a UTC day is a whole number of them), not in
    datetimes: a batch of flips closes one segment per event."""
    first = (since - EPOCH.date()).days * _US_A_DAY
    acc: dict[int, list[int]] = {}
    for s in segs:
        k = _KNOWN_INDEX.get(s.state)
        if k is None or s.end >= HORIZON:
            continue
        a, b = max((s.start - EPOCH) // _US, first), (s.end - EPOCH) // _US
        while a < b:
            day = a // _US_A_DAY
            cut = min((day + 1) * _US_A_DAY, b)
            acc.setdefault(day, [0, 0, 0, 0])[k] += cut - a
            a = cut
    return {EPOCH.date() + timedelta(days=day): us for day, us in acc.items()}


def _days(p: _Plan, new: Sequence[Segment]) -> dict[date, tuple[float, float, float, float]]:
    """Seconds per known state per day from ``since``'s day on: that day's stored row less the stored
    segments from ``since`` (written again) plus the new ones; later days from the new ones alone (no
    segment before ``since`` reaches past it). Kept in microseconds, so it adds up as a rebuild does."""
    first = p.first_day
    acc = _day_us(new, first)
    gone = _day_us([s for s, _ in p.stored if s.start >= p.since], first).get(first, [0, 0, 0, 0])
    acc[first] = [a + b - c for a, b, c in zip(p.day, acc.get(first, [0, 0, 0, 0]), gone)]
    return {d: (us[0] / 1e6, us[1] / 1e6, us[2] / 1e6, us[3] / 1e6) for d, us in sorted(acc.items()) if any(us)}


def _write(conn: Conn, rewritten: Sequence[_Plan], recounted: Sequence[_Plan], seg_rows: list[tuple],
           outage_rows: list[tuple], day_rows: list[tuple], heads: Mapping[tuple[str, str], EventPoint]) -> None:
    """Every write in one statement (``write_derived``): each statement costs the ingest process more
    to send than its rows do (a 100-event batch of flips sent eight)."""
    if not (rewritten or recounted or heads):
        return
    marked = [p for p in rewritten if p.t == EPOCH]  # the others' marks stand: derived with this staleness
    params: dict[str, list] = {
        "rewritten": [p.service for p in rewritten], "since": [p.since for p in rewritten],
        "first_day": [p.first_day for p in rewritten],
        "recounted": [p.service for p in recounted], "r": [p.r for p in recounted],
        "head_service": [k[0] for k in heads], "head_stream": [k[1] for k in heads],
        "head_id": [e.id for e in heads.values()], "head_observed_at": [e.observed_at for e in heads.values()],
        "head_state": [e.state.value for e in heads.values()], "head_valid_until": [e.valid_until for e in heads.values()],
        "marked": [p.service for p in marked], "stale_after_s": [p.stale_after_s for p in marked],
        "now": [datetime.now(timezone.utc)] * len(marked),
    }
    for prefix, cols, rows in (
            ("seg_", _SEGMENT_COLUMNS, seg_rows), ("out_", _OUTAGE_COLUMNS, outage_rows), ("", _DAY_COLUMNS, day_rows)):
        params.update({prefix + c: [r[i] for r in rows] for i, c in enumerate(cols)})
    conn.execute(q("write_derived"), params)


_SEGMENT_COLUMNS = ("service", "start", "end", "state", "run_start", "run_worst", "run_episodes")
_OUTAGE_COLUMNS = ("service", "start_at", "end_at", "worst", "flapping", "episodes", "n", "a_first", "a_last", "c_first",
                   "c_last", "b_from", "b_to", "probe_to")
_DAY_COLUMNS = ("day_service", "day", "up_s", "degraded_s", "down_s", "maintenance_s")


def _carried(heads: list[EventPoint]) -> list[EventPoint]:
    """The streams' last events before a time, less those that change nothing from then on.

    A stream whose last word was ``up`` with no expiry adds nothing to "worst"
    (:func:`timeline.segments` forgets it); it only clears an earlier override and moves the stale
    clock, which the latest report of all does too, so that one is kept."""
    monitored = [e for e in heads if e.stream != INFERRED_STREAM]
    latest = max(monitored, key=lambda e: (e.observed_at, e.id), default=None)
    return [e for e in heads if e is latest or e.stream == ALL_STREAMS or e.state is not ServiceState.UP
            or e.valid_until is not None]


def _stitch(kept: list[Segment], tail: list[Segment], t: datetime) -> tuple[list[Segment], int]:
    """Stored segments before ``t`` (the last cut at ``t``) + the new ones from ``t``, equal states merged.

    Returns the whole list and the index of the first segment to write (the stored ones before it
    end at or before ``t`` and stay as they are)."""
    out = list(kept)
    first_new = len(out)
    if out:  # the stored segment holding t (or ending at it): cut at t, written again
        out[-1] = Segment(out[-1].start, t, out[-1].state)
        first_new -= 1
    for s in tail:
        if out and out[-1].state is s.state:
            out[-1] = Segment(out[-1].start, s.end, s.state)
        else:
            out.append(s)
    return out, first_new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the service board's derived rows from the stored events")
    parser.add_argument("command", choices=["rebuild"])
    parser.add_argument("--url", default=config.db_url(), help="libpq URL of the prodops database")
    parser.add_argument("--service", action="append", default=[], help="a service to rebuild (default: every one)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no database: pass --url postgresql://... or set PRODOPS_DB_URL")
    from prodops.store.db import connect

    with connect(args.url) as conn:
        names = args.service or [r["name"] for r in conn.execute("SELECT name FROM services ORDER BY name")]
        n = rebuild(conn, names)
        conn.commit()
    print(f"derived board rows rebuilt for {n} service(s) from their events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
