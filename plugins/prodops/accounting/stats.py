"""What the stats page shows: the daily rollup summed by site, CPU model, time window and stage.

One query (``accounting_stats``) reads the filtered days of the daily rollup, which keeps each
dimension apart; the page and its JSON twin show the same :class:`Breakdown` figures, defined
in docs/accounting.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any


from prodops.accounting.definitions import WasteCause, cpu_efficiency
from prodops.constants import TimeWindow
from prodops.store.db import Conn, q

DIMENSIONS = ("site", "cpu_model", "time_window", "stage")
"""The breakdowns, in the order the page shows them."""

_WINDOW_ORDER = {w.value: i for i, w in enumerate(TimeWindow)}


@dataclass(frozen=True)
class StatsFilter:
    """Which accounted attempts count: an experiment, a campaign (None: any) and the days they ended (UTC, inclusive)."""

    day_from: date
    day_to: date
    experiment: str | None = None
    campaign: str | None = None


@dataclass(frozen=True)
class Breakdown:
    """Summed figures of one site, CPU model, time window or stage (or all of them)."""

    value: str
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    killed: int = 0
    held: int = 0
    removed: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    memory_measured: int = 0
    memory_used_mb: float = 0.0
    memory_requested_mb: float = 0.0
    memory_over: int = 0
    disk_measured: int = 0
    disk_used_kb: float = 0.0
    disk_requested_kb: float = 0.0
    disk_over: int = 0
    files_in: int = 0
    bytes_in: float = 0.0
    files_out: int = 0
    bytes_out: float = 0.0
    wasted_failed_s: float = 0.0
    wasted_killed_s: float = 0.0
    wasted_held_s: float = 0.0
    wasted_removed_s: float = 0.0
    wasted_retried_away_s: float = 0.0
    wasted_debug_rerun_s: float = 0.0
    wasted_evicted_s: float = 0.0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Breakdown:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def failure_rate(self) -> float | None:
        """Attempts that ended without success (failed, killed, held, removed) over attempts ended."""
        return (self.attempts - self.succeeded) / self.attempts if self.attempts else None

    @property
    def cpu_efficiency(self) -> float | None:
        return cpu_efficiency(self.cpu_s, self.wall_s)

    @property
    def wasted_by_cause(self) -> dict[str, float]:
        return {c.value: getattr(self, f"wasted_{c.value}_s") for c in WasteCause}

    @property
    def wasted_s(self) -> float:
        return sum(self.wasted_by_cause.values())

    @property
    def memory_use(self) -> float | None:
        """Memory used over memory requested, over the attempts that reported both."""
        return self.memory_used_mb / self.memory_requested_mb if self.memory_requested_mb else None

    @property
    def disk_use(self) -> float | None:
        return self.disk_used_kb / self.disk_requested_kb if self.disk_requested_kb else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "failure_rate": self.failure_rate,
            "cpu_efficiency": self.cpu_efficiency,
            "wasted_s": self.wasted_s,
            "wasted_by_cause": self.wasted_by_cause,
            "memory_use": self.memory_use,
            "disk_use": self.disk_use,
            "wall_hours": self.wall_s / 3600,
            "cpu_hours": self.cpu_s / 3600,
            "wasted_hours": self.wasted_s / 3600,
        }


@dataclass(frozen=True)
class PhaseFigures:
    """What the jobs of one stage said of one of their phases (job_phases), summed."""

    stage: str
    phase: str
    attempts: int = 0
    """Ended attempts that reported the phase."""
    finished: int = 0
    failed: int = 0
    """Finished with a status code other than 0."""
    unfinished: int = 0
    """Started, never finished, and the attempt ended: where a job stopped."""
    cpu_s: float = 0.0
    wall_s: float = 0.0
    events: int = 0

    @property
    def cpu_efficiency(self) -> float | None:
        return cpu_efficiency(self.cpu_s, self.wall_s)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_efficiency": self.cpu_efficiency,
                "wall_hours": self.wall_s / 3600, "cpu_hours": self.cpu_s / 3600}


@dataclass(frozen=True)
class Stats:
    filters: StatsFilter
    total: Breakdown
    by: dict[str, list[Breakdown]]
    phases: list[PhaseFigures] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self.filters).items()},
            "total": self.total.to_dict(),
            **{f"by_{name}": [b.to_dict() for b in rows] for name, rows in self.by.items()},
            "by_phase": [p.to_dict() for p in self.phases],
        }


def _order(dimension: str, rows: list[Breakdown]) -> list[Breakdown]:
    if dimension == "time_window":  # the day's order, unknown last
        return sorted(rows, key=lambda b: (_WINDOW_ORDER.get(b.value, len(_WINDOW_ORDER)), b.value))
    return sorted(rows, key=lambda b: (-b.wall_s, b.value))  # where the hours went first


def stats(conn: Conn, filters: StatsFilter) -> Stats:
    """The filtered days' figures in all and by each of :data:`DIMENSIONS`."""
    by: dict[str, list[Breakdown]] = {d: [] for d in DIMENSIONS}
    for row in conn.execute(q("accounting_stats"), asdict(filters)):
        by[row["dimension"]].append(Breakdown.from_row(row))
    phases = [PhaseFigures(**row) for row in conn.execute(q("accounting_phase_stats"), asdict(filters))]
    return Stats(filters, total_of(by["stage"]), {d: _order(d, rows) for d, rows in by.items()}, phases)


def total_of(rows: list[Breakdown]) -> Breakdown:
    """The sum of one dimension's rows (every attempt is in exactly one stage, one site...)."""
    numbers = [f.name for f in fields(Breakdown) if f.name != "value"]
    return Breakdown("all", **{name: sum(getattr(b, name) for b in rows) for name in numbers})
