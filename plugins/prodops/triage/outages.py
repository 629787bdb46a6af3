"""Failed attempts joined with the service board: the outages and maintenance windows they ran into.

Outages are the service board's own, derived on ingest (:mod:`prodops.status.derive`), read
once per triage for the services and the time span of the whole batch (one indexed query);
each attempt is then joined in memory against that short list. An attempt's
run window is [start, end] widened by the margin on both sides.

Rules (:func:`apply`): an overlap with an outage of the service the verdict names (or one
of its aliases) raises a ``service`` verdict's confidence; an ``unknown`` verdict with an
overlap becomes ``service`` (the outage is the only evidence, medium confidence); a
``code`` verdict with an overlap keeps its category and is flagged *possibly service*.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


from prodops.constants import Category
from prodops.status import records
from prodops.status.board import HISTORY_DAYS
from prodops.store.db import Conn, q
from prodops.triage.settings import TriageSettings
from prodops.triage.verdict import OUTAGE, JobFacts, Verdict

OVERLAP_CONFIDENCE = 0.95
OUTAGE_ONLY_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Interval:
    """An outage (down/degraded) or a maintenance window of one service."""

    service: str
    kind: str
    """outage | maintenance"""
    start: datetime
    end: datetime | None
    """None: still going on at the end of the looked-at span."""
    state: str
    detail: str = ""
    id: int = 0

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and (self.end is None or start < self.end)

    def to_dict(self) -> dict:
        return {"service": self.service, "kind": self.kind, "state": self.state, "start": self.start.isoformat(),
                "end": None if self.end is None else self.end.isoformat(), "detail": self.detail, "id": self.id}

    def describe(self) -> str:
        end = self.end.strftime("%Y-%m-%d %H:%M") if self.end else "still open"
        what = f"maintenance ({self.detail})" if self.kind == "maintenance" else self.state
        return f"{self.service} {what} {self.start.strftime('%Y-%m-%d %H:%M')} - {end} UTC"


def load_intervals(conn: Conn, services: Iterable[str], start: datetime, end: datetime) -> list[Interval]:
    """Outages and maintenance windows of the registered ``services`` that touch [start, end).

    The board's history is read from before ``start`` so an outage that began earlier keeps its
    real start ("dCache down since 03:10"), not the start of the looked-at span."""
    wanted = set(services)
    rows = [s for s in records.active_services(conn) if s["name"] in wanted]
    if not rows:
        return []
    since = start - timedelta(days=HISTORY_DAYS)
    windows = records.windows_overlapping(conn, start, end)
    found: list[Interval] = []
    for o in conn.execute(q("derived_outages_overlapping"), {"services": [s["name"] for s in rows],
                                                             "start": start, "end": end}):
        is_open = o["end_at"] is None or o["end_at"] >= end  # still going on at the end of the span
        found.append(Interval(o["service"], "outage", max(o["start_at"], since), None if is_open else o["end_at"],
                              o["worst"], "flapping" if o["flapping"] else "", o["first_event_id"] or 0))
    names = [s["name"] for s in rows]
    for w in windows:
        for name in names:
            if w.applies_to(name):
                found.append(Interval(name, "maintenance", w.starts_at, w.ends_at, "maintenance", w.reason, w.id))
    return sorted(found, key=lambda i: (i.start, i.service))


def run_window(facts: JobFacts, margin: timedelta, now: datetime) -> tuple[datetime, datetime]:
    end = facts.ended or now
    start = facts.started or (end - timedelta(seconds=facts.wall_s) if facts.wall_s else end)
    return start - margin, end + margin


def span(items: Sequence[JobFacts], margin: timedelta, now: datetime) -> tuple[datetime, datetime] | None:
    """The time span all the attempts' run windows cover (one query for the batch)."""
    if not items:
        return None
    windows = [run_window(f, margin, now) for f in items]
    return min(a for a, _ in windows), max(b for _, b in windows)


def overlapping(facts: JobFacts, intervals: Sequence[Interval], services: set[str], margin: timedelta,
                now: datetime) -> list[Interval]:
    start, end = run_window(facts, margin, now)
    return [i for i in intervals if i.service in services and i.overlaps(start, end)]


def apply(verdict: Verdict, hits: Sequence[Interval], settings: TriageSettings) -> Verdict:
    """Let the overlapping outages speak (see the module's rules); returns the same verdict, changed."""
    if not hits:
        return verdict
    verdict.outages = [i.to_dict() for i in hits]
    implicated = set(settings.board_services(verdict.service))
    same = [i for i in hits if i.service in implicated]
    if verdict.category in (Category.SERVICE, Category.INFRASTRUCTURE) and not verdict.is_guess:
        if same:
            verdict.confidence = max(verdict.confidence, OVERLAP_CONFIDENCE)
    elif verdict.category is Category.UNKNOWN or verdict.is_guess:  # an outage outweighs a guess
        first = next((i for i in hits if i.kind == "outage"), hits[0])
        verdict.category = Category.SERVICE
        verdict.service = first.service
        verdict.rule = f"outage:{first.service}"
        verdict.source = OUTAGE
        verdict.retryable = True
        verdict.confidence = OUTAGE_ONLY_CONFIDENCE
        verdict.explain = f"No known error in its logs, but it ran during {first.describe()}. {verdict.explain}"
    elif verdict.category is Category.CODE:
        verdict.possibly_service = True
    return verdict
