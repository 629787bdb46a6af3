"""A service's state over time, its outages and its uptime, derived from its status events.

Plain functions over plain values (no database, no Airflow), so each rule is tested directly.

Rules
-----
* Each event sets the state of its *stream* (a feed, one Alertmanager alert, one check source)
  from its time on; an event on stream ``*`` (manual override, staleness) replaces all streams.
* Several streams overlap: the service is in the **worst** of their states
  (down > degraded > unknown > maintenance > up).
* A stream whose event had a ``ttl`` (``valid_until``) counts as ``unknown`` after it; a service
  with ``stale_after`` and no event for that long is ``unknown``; before any event: ``unknown``.
* A scheduled maintenance window covering the service (or every service) makes it
  ``maintenance`` for the window, whatever the feeds say.
* The stream ``inferred`` holds what prodops inferred from failed jobs
  (:mod:`prodops.status.inference`), not a monitor's report: it counts in "worst" like any stream,
  but an event on ``*`` (a person's override, staleness) does not clear it (only its own ``up``
  does: jobs succeeded again, or a person closed it), it does not reset the ``stale_after``
  clock, and a stale or never-reported service with an open inferred outage is in the worse of
  ``unknown`` and the inferred state.
* An **outage** is a maximal stretch of ``down``/``degraded``; stretches separated by less than
  ``flap_gap_s`` of ``up`` are one outage marked *flapping*. ``unknown`` and ``maintenance``
  end an outage (they are not evidence that it is still broken, nor that it works).
* **Uptime** over a period = (up + DEGRADED_WEIGHT x degraded) / (up + degraded + down).
  Maintenance and unknown time are left out of the ratio and reported beside it; a period with
  no known time has no uptime (None), not 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from prodops.status.states import ServiceState, worst

DEGRADED_WEIGHT = 0.5
FLAP_GAP_S = 300.0
OUTAGE_STATES = frozenset({ServiceState.DOWN, ServiceState.DEGRADED})
ALL_STREAMS = "*"
INFERRED_STREAM = "inferred"
"""The stream of outages prodops inferred from failed jobs (see the module's rules)."""
_RANK = {s: s.severity for s in ServiceState}
_STATES = {s.value: s for s in ServiceState}


class EventPoint(NamedTuple):
    """What the derivation needs of a stored status event.

    A named tuple, not a frozen dataclass: ingest makes one per stored event (a thousand a
    batch), and a tuple is made three times faster."""

    observed_at: datetime
    state: ServiceState
    stream: str
    id: int = 0
    valid_until: datetime | None = None

    @classmethod
    def from_row(cls, r: Mapping[str, Any]) -> EventPoint:
        """From a ``status_events`` row (or a ``status_streams`` one read as such)."""
        return cls(r["observed_at"], _STATES.get(r["state"]) or ServiceState(r["state"]), r["stream"], r["id"],
                   r["valid_until"])

    @classmethod
    def from_values(cls, observed_at: datetime, state: str, stream: str, id: int,
                    valid_until: datetime | None) -> EventPoint:
        """From a row's values (the state as stored, text)."""
        return cls(observed_at, _STATES.get(state) or ServiceState(state), stream, id, valid_until)


@dataclass(frozen=True)
class Window:
    """A maintenance window as it applies to one service."""

    starts_at: datetime
    ends_at: datetime
    id: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    state: ServiceState

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Outage:
    """When a service stopped working, how badly, for how long, and the events behind it."""

    service: str
    start: datetime
    end: datetime | None
    """None while it is still going on."""
    worst: ServiceState
    duration_s: float
    flapping: bool = False
    episodes: int = 1
    started_before_range: bool = False
    event_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "service": self.service,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "open": self.end is None,
            "worst": self.worst.value,
            "duration_s": round(self.duration_s, 1),
            "flapping": self.flapping,
            "episodes": self.episodes,
            "started_before_range": self.started_before_range,
            "event_ids": self.event_ids,
        }


@dataclass(frozen=True)
class Uptime:
    start: datetime
    end: datetime
    up_s: float
    degraded_s: float
    down_s: float
    maintenance_s: float
    unknown_s: float

    @property
    def percent(self) -> float | None:
        known = self.up_s + self.degraded_s + self.down_s
        if known <= 0:
            return None
        return 100.0 * (self.up_s + DEGRADED_WEIGHT * self.degraded_s) / known

    @property
    def worst(self) -> ServiceState:
        """The worst state seen in the period (for colouring a bar)."""
        for state, seconds in ((ServiceState.DOWN, self.down_s), (ServiceState.DEGRADED, self.degraded_s),
                               (ServiceState.MAINTENANCE, self.maintenance_s), (ServiceState.UP, self.up_s)):
            if seconds > 0:
                return state
        return ServiceState.UNKNOWN

    def to_dict(self) -> dict:
        pct = self.percent
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "percent": None if pct is None else round(pct, 3),
            "worst": self.worst.value,
            "up_s": self.up_s, "degraded_s": self.degraded_s, "down_s": self.down_s,
            "maintenance_s": self.maintenance_s, "unknown_s": self.unknown_s,
        }


def segments(
    events: Sequence[EventPoint],
    start: datetime,
    end: datetime,
    *,
    stale_after_s: float | None = None,
    windows: Sequence[Window] = (),
) -> list[Segment]:
    """The piecewise-constant state of one service over [start, end), adjacent equal states merged.

    ``events`` must include, per stream, the last event before ``start`` (the state carried in).
    """
    if end <= start:
        return []
    ordered = sorted(events, key=lambda e: (e.observed_at, e.id))
    stale = timedelta(seconds=stale_after_s) if stale_after_s else None
    cuts = {start, end}
    for e in _changes(ordered, stale):
        if start < e.observed_at < end:
            cuts.add(e.observed_at)
    for t in _expiries(ordered, stale):
        if start < t < end:
            cuts.add(t)
    for w in windows:
        for t in (w.starts_at, w.ends_at):
            if start < t < end:
                cuts.add(t)
    points = sorted(cuts)

    streams: dict[str, EventPoint] = {}
    last_time: datetime | None = None
    applied = 0
    out: list[Segment] = []
    for a, b in zip(points, points[1:]):
        while applied < len(ordered) and ordered[applied].observed_at <= a:
            e = ordered[applied]
            if e.stream == ALL_STREAMS:
                inferred = streams.get(INFERRED_STREAM)
                streams.clear()
                if inferred is not None:  # evidence from jobs outlives overrides and staleness
                    streams[INFERRED_STREAM] = inferred
            elif e.stream != INFERRED_STREAM:
                streams.pop(ALL_STREAMS, None)  # an override lasts until the next report
            streams[e.stream] = e
            # an up stream without expiry adds nothing to "worst": forget it (bounded memory)
            if e.state is ServiceState.UP and e.valid_until is None and e.stream != ALL_STREAMS:
                del streams[e.stream]
            if e.stream != INFERRED_STREAM:  # a report from monitoring (the stale clock)
                last_time = e.observed_at
            applied += 1
        state = _state_at(a, streams, last_time, stale, windows)
        if out and out[-1].state is state:
            out[-1] = Segment(out[-1].start, b, state)
        else:
            out.append(Segment(a, b, state))
    return out


def _changes(ordered: Sequence[EventPoint], stale: timedelta | None) -> list[EventPoint]:
    """The events that can change the state, less repeats: a report of the state its stream already
    holds (still valid, the service not stale) cuts nothing; it only moves the expiry and stale
    clocks, whose deadlines :func:`_expiries` gives. Overrides and inferred events always count."""
    out: list[EventPoint] = []
    holding: dict[str, EventPoint] = {}  # each monitoring stream's last event since the last override
    last_report: datetime | None = None
    for e in ordered:
        if e.stream in (ALL_STREAMS, INFERRED_STREAM):
            out.append(e)
            if e.stream == ALL_STREAMS:
                holding.clear()
        else:
            p = holding.get(e.stream)
            if not (p is not None and p.state is e.state and (p.valid_until is None or p.valid_until > e.observed_at)
                    and (e.valid_until is None or e.valid_until > e.observed_at)
                    and (stale is None or (last_report is not None and last_report + stale > e.observed_at))):
                out.append(e)
            holding[e.stream] = e
        if e.stream != INFERRED_STREAM:
            last_report = e.observed_at
    return out


def _expiries(ordered: Sequence[EventPoint], stale: timedelta | None) -> list[datetime]:
    """The ttl and staleness deadlines that can change the state: an event's ``valid_until`` unless a
    later event of its stream comes by then (it replaces the event), and a report's staleness unless
    a later report comes by then (it moves the clock). The others would only cut a segment in two
    equal halves, merged again (most of them: a feed reports well within its ttl)."""
    out: list[datetime] = []
    next_on: dict[str, datetime] = {}  # the next event's time, per stream
    next_report: datetime | None = None  # the next report from monitoring (not inferred)
    for e in reversed(ordered):
        if e.valid_until is not None:
            nxt = next_on.get(e.stream)
            if nxt is None or nxt > e.valid_until:
                out.append(e.valid_until)
        if stale is not None:
            deadline = e.observed_at + stale
            if next_report is None or next_report > deadline:
                out.append(deadline)
        next_on[e.stream] = e.observed_at
        if e.stream != INFERRED_STREAM:
            next_report = e.observed_at
    return out


def _state_at(t: datetime, streams: dict[str, EventPoint], last_time: datetime | None,
              stale: timedelta | None, windows: Sequence[Window]) -> ServiceState:
    for w in windows:
        if w.starts_at <= t < w.ends_at:
            return ServiceState.MAINTENANCE
    if last_time is None or (stale is not None and t >= last_time + stale):
        inferred = streams.get(INFERRED_STREAM)
        return worst([ServiceState.UNKNOWN, *([inferred.state] if inferred is not None else [])])
    found, rank = ServiceState.UP, -1  # the worst stream (a ttl passed: unknown); none: up
    for e in streams.values():
        state = ServiceState.UNKNOWN if e.valid_until is not None and t >= e.valid_until else e.state
        if _RANK[state] > rank:
            found, rank = state, _RANK[state]
    return found


def outages(
    service: str,
    segs: Sequence[Segment],
    events: Iterable[EventPoint] = (),
    *,
    range_end: datetime | None = None,
    flap_gap_s: float = FLAP_GAP_S,
) -> list[Outage]:
    """Outages from a timeline; one that reaches ``range_end`` (the present) is open."""
    if not segs:
        return []
    range_start, range_end = segs[0].start, range_end or segs[-1].end
    found: list[Outage] = []
    i = 0
    while i < len(segs):
        seg = segs[i]
        if seg.state not in OUTAGE_STATES:
            i += 1
            continue
        run = [seg]
        episodes = 1
        j = i + 1
        while j < len(segs):
            nxt = segs[j]
            if nxt.state in OUTAGE_STATES:
                run.append(nxt)
                j += 1
            elif (nxt.state is ServiceState.UP and nxt.seconds < flap_gap_s and j + 1 < len(segs)
                  and segs[j + 1].state in OUTAGE_STATES):
                run.extend([nxt, segs[j + 1]])
                episodes += 1
                j += 2
            else:
                break
        start, stop = run[0].start, run[-1].end
        is_open = stop >= range_end
        found.append(
            Outage(
                service=service,
                start=start,
                end=None if is_open else stop,
                worst=worst([s.state for s in run]),
                duration_s=(stop - start).total_seconds(),
                flapping=episodes > 1,
                episodes=episodes,
                started_before_range=start <= range_start,
            )
        )
        i = j
    ids = sorted(events, key=lambda e: (e.observed_at, e.id))
    for outage in found:
        stop = outage.end or range_end
        outage.event_ids = [e.id for e in ids if outage.start <= e.observed_at <= stop and e.id]
    return found


def uptime(segs: Sequence[Segment], start: datetime, end: datetime) -> Uptime:
    """Seconds per state within [start, end) and the uptime ratio (see the module's rules)."""
    totals = dict.fromkeys(ServiceState, 0.0)
    for s in segs:
        a, b = max(s.start, start), min(s.end, end)
        if b > a:
            totals[s.state] += (b - a).total_seconds()
    return Uptime(
        start=start, end=end,
        up_s=totals[ServiceState.UP], degraded_s=totals[ServiceState.DEGRADED], down_s=totals[ServiceState.DOWN],
        maintenance_s=totals[ServiceState.MAINTENANCE], unknown_s=totals[ServiceState.UNKNOWN],
    )


def current(segs: Sequence[Segment]) -> tuple[ServiceState, datetime | None]:
    """The state at the end of the timeline and since when (None: since before the timeline)."""
    if not segs:
        return ServiceState.UNKNOWN, None
    last = segs[-1]
    return last.state, (None if last.start <= segs[0].start else last.start)


def daily_bars(segs: Sequence[Segment], end: datetime, days: int) -> list[Uptime]:
    """One uptime per day for the last ``days`` days, oldest first (UTC day boundaries)."""
    day_end = end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    bars = []
    for k in range(days, 0, -1):
        a = day_end - timedelta(days=k)
        bars.append(uptime(segs, a, min(a + timedelta(days=1), end)))
    return bars
