"""Inferred outages: when many jobs fail with one service's signature, that service looks down.

Plain functions over plain values (no database, no Airflow), so each rule is tested directly;
:mod:`prodops.status.inferred` reads the failures from the verdicts and posts what these decide.
The thresholds are the ``inferred_outages:`` section of include/triage/triage.yaml.

Rules
-----
Evidence (:func:`detect`)
  * A failure is a failed attempt whose verdict is category ``service``, names a service, and
    came from the job itself (a pattern, plugin, framework report or HTCondor fact), never from
    an outage overlap (source ``outage``: that is the board speaking, not the job).
  * It counts for each *registered* board service its verdict's service maps to: the service
    itself and its ``service_aliases`` (``xrootd`` -> ``dcache``).
  * It counts only if it ended in the last ``lookback_min`` minutes and after
    ``not_before[service]``, the time the board last began to show that service up or unknown:
    failures during a known outage, or before an inferred outage ended, are already explained.
Threshold
  * Failures are grouped by board service and failure signature (a verdict without one: its rule).
  * A group fires when at least ``threshold`` failed jobs of it ended within one span of
    ``window_min`` minutes, where::

        threshold = max(floor_jobs, min(min_jobs, ceil(min_share x running jobs)))

    i.e. with the defaults 20 failed jobs in 10 minutes, or 5 % of the jobs running now when that
    is fewer, never fewer than 5. A signature whose threshold a person raised (marking an
    inferred outage false) needs its own ``min_jobs`` instead, whatever the running jobs.
  * A board service looks down when any of its groups fires; the evidence is the group with the
    most failed jobs in one window (ties: the earliest): its signature, that count, the
    threshold, sample jobs, and the first and last failure of that window.
Clearing (:func:`clearing`)
  * An open inferred outage clears when ``clear_successes`` attempts of stages that need the
    service succeeded after it opened and after the last failure naming the service; it ends
    when the last of them completed.
  * With ``expire_after_min`` > 0 it also clears when no failure named the service for that long
    (preflight holds new work while it is open, so no job may run to succeed; if the service is
    still broken, the next failures infer it again).
  * A person may close it or mark it false at any time (:mod:`prodops.status.inferred`).
"""

from __future__ import annotations

import enum
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prodops.sections import checked, fraction, number

SAMPLE_JOBS = 10


class ClearReason(str, enum.Enum):
    """Why an inferred outage ended (the ``code`` of its closing ``up`` event)."""

    JOBS_SUCCEEDED = "jobs_succeeded"
    """Jobs of stages that need the service succeeded again."""
    QUIET = "quiet"
    """No failure named the service for ``expire_after_min``."""
    CLOSED = "closed"
    """A person said the service works again."""
    FALSE = "false"
    """A person said the service was never down (a false inference)."""


@dataclass(frozen=True)
class InferenceSettings:
    """The ``inferred_outages:`` section of include/triage/triage.yaml (see the module's rules)."""

    enabled: bool = True
    min_jobs: int = number(20, above=0)
    min_share: float = fraction(0.05, of="the running jobs")
    floor_jobs: int = number(5, above=0)
    window_min: float = number(10.0, above=0)
    lookback_min: float = number(60.0, above=0)
    clear_successes: int = number(10, above=0)
    expire_after_min: float = number(120.0, at_least=0, why="0: never")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], source: str = "inferred_outages") -> InferenceSettings:
        """Checked settings; ValueError naming the key, the bad value and what it must be."""
        settings = checked(cls, raw, source, what="an inferred-outage setting",
                           example="{min_jobs: 20, min_share: 0.05, window_min: 10}")
        if settings.window_min > settings.lookback_min:
            raise ValueError(f"{source}: window_min = {settings.window_min:g} is longer than lookback_min ="
                             f" {settings.lookback_min:g}; the window must fit in what is looked at")
        return settings

    def threshold(self, running: int, override: int | None = None) -> int:
        """Failed jobs in one window that make a signature's service look down (module rules)."""
        if override is not None:
            return override
        share = math.ceil(self.min_share * max(running, 0))
        return max(self.floor_jobs, min(self.min_jobs, share))


@dataclass(frozen=True)
class Failure:
    """A failed attempt with a service verdict, as detection needs it."""

    service: str
    """The verdict's service (``xrootd``); board services come from it through the aliases."""
    signature: str
    ended: datetime
    job: str
    """``cluster.proc``: one attempt, one job of the batch system."""
    rule: str = ""
    request_id: int | None = None
    stage: str = ""

    @property
    def key(self) -> str:
        return self.signature or self.rule


@dataclass(frozen=True)
class Detection:
    """A board service that looks down, and the evidence: one signature's failures in one window."""

    service: str
    verdict_service: str
    signature: str
    rule: str
    count: int
    """Failed jobs in the densest window."""
    threshold: int
    running: int
    first_failure: datetime
    last_failure: datetime
    sample_jobs: tuple[str, ...]
    requests: tuple[int, ...]
    total: int
    """Failed jobs of the signature in the whole lookback."""
    window_min: float
    overridden: bool = False
    """The signature's own threshold (raised by a person) applied."""

    def describe(self) -> str:
        """The event's message: what failed, how many, how fast, against what threshold."""
        span = (self.last_failure - self.first_failure).total_seconds() / 60
        rule = "its own threshold" if self.overridden else f"threshold {self.threshold} ({self.running} running)"
        what = self.rule if self.signature in ("", self.rule) else f"{self.rule} (signature {self.signature})"
        return (f"inferred from {self.count} failed jobs: {self.verdict_service} failures {what}"
                f" in {span:.0f} min ({self.first_failure:%H:%M}-{self.last_failure:%H:%M} UTC;"
                f" {rule}, window {self.window_min:g} min); e.g. {', '.join(self.sample_jobs[:3])}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service, "verdict_service": self.verdict_service, "signature": self.signature,
            "rule": self.rule, "count": self.count, "threshold": self.threshold, "running": self.running,
            "first_failure": self.first_failure.isoformat(), "last_failure": self.last_failure.isoformat(),
            "sample_jobs": list(self.sample_jobs), "requests": list(self.requests), "total": self.total,
            "window_min": self.window_min, "overridden": self.overridden,
        }


def _densest(failures: Sequence[Failure], window: timedelta) -> tuple[int, int]:
    """[i, j) of the window of ``window`` holding most failures (earliest on ties); sorted input."""
    best = (0, 0)
    i = 0
    for j in range(len(failures)):
        while failures[j].ended - failures[i].ended > window:
            i += 1
        if j + 1 - i > best[1] - best[0]:
            best = (i, j + 1)
    return best


def detect(failures: Iterable[Failure], *, running: int, settings: InferenceSettings, now: datetime,
           board_services: Callable[[str], Iterable[str]], known: Collection[str],
           not_before: Mapping[str, datetime | None] | None = None,
           overrides: Mapping[str, int] | None = None) -> list[Detection]:
    """The board services that look down, one detection each (see the module's rules).

    ``board_services`` maps a verdict's service to the board services it implicates (the
    service and its aliases: ``TriageSettings.board_services``); ``known`` is the registry;
    ``overrides`` maps a signature to its own threshold.
    """
    if not settings.enabled:
        return []
    not_before = not_before or {}
    overrides = overrides or {}
    since = now - timedelta(minutes=settings.lookback_min)
    groups: dict[tuple[str, str], dict[str, Failure]] = defaultdict(dict)
    for f in failures:
        if not f.service or not since <= f.ended <= now:
            continue
        for board in dict.fromkeys(board_services(f.service)):
            start = not_before.get(board)
            if board in known and (start is None or f.ended > start):
                groups[(board, f.key)].setdefault(f.job, f)
    window = timedelta(minutes=settings.window_min)
    best: dict[str, Detection] = {}
    for (board, key), by_job in sorted(groups.items()):
        ordered = sorted(by_job.values(), key=lambda f: (f.ended, f.job))
        override = overrides.get(key)
        threshold = settings.threshold(running, override)
        i, j = _densest(ordered, window)
        if j - i < threshold:
            continue
        hit = ordered[i:j]
        found = Detection(
            service=board, verdict_service=hit[0].service, signature=key, rule=hit[0].rule, count=len(hit),
            threshold=threshold, running=running, first_failure=hit[0].ended, last_failure=hit[-1].ended,
            sample_jobs=tuple(f.job for f in hit[:SAMPLE_JOBS]),
            requests=tuple(sorted({f.request_id for f in hit if f.request_id is not None})),
            total=len(ordered), window_min=settings.window_min, overridden=override is not None,
        )
        held = best.get(board)
        if held is None or (found.count, -found.first_failure.timestamp()) > (held.count, -held.first_failure.timestamp()):
            best[board] = found
    return [best[s] for s in sorted(best)]


@dataclass(frozen=True)
class Clearing:
    """When and why an open inferred outage ends."""

    at: datetime
    reason: ClearReason
    since: datetime
    """Successes were counted after this (the outage's opening or its last failure, the later)."""
    successes: int = 0

    def describe(self) -> str:
        if self.reason is ClearReason.JOBS_SUCCEEDED:
            return f"{self.successes} jobs needing it succeeded after {self.since:%Y-%m-%d %H:%M} UTC"
        return f"no failure named it since {self.since:%Y-%m-%d %H:%M} UTC"


def clearing(*, opened_at: datetime, last_failure: datetime | None, successes: Sequence[datetime], now: datetime,
             settings: InferenceSettings) -> Clearing | None:
    """Whether an open inferred outage ends, and when (see the module's rules); None: it stays open.

    ``successes`` are completion times of succeeded attempts of stages that need the service.
    """
    since = max(opened_at, last_failure or opened_at)
    after = sorted(t for t in successes if since < t <= now)
    need = settings.clear_successes
    if len(after) >= need:
        return Clearing(at=after[need - 1], reason=ClearReason.JOBS_SUCCEEDED, since=since, successes=need)
    if settings.expire_after_min > 0:
        quiet_until = since + timedelta(minutes=settings.expire_after_min)
        if now >= quiet_until:
            return Clearing(at=quiet_until, reason=ClearReason.QUIET, since=since)
    return None


@dataclass(frozen=True)
class InferredOutage:
    """An inferred outage as stored: its opening event and the evidence in the event's details."""

    event_id: int
    service: str
    opened_at: datetime
    message: str
    details: Mapping[str, Any]

    @property
    def signature(self) -> str:
        return str(self.details.get("signature") or "")

    @property
    def rule(self) -> str:
        return str(self.details.get("rule") or self.signature)

    @property
    def count(self) -> int:
        return int(self.details.get("count") or 0)

    @property
    def last_failure(self) -> datetime | None:
        value = self.details.get("last_failure")
        return datetime.fromisoformat(value) if value else None

    def to_dict(self) -> dict[str, Any]:
        """What the board shows of it: the evidence and where it came from."""
        return {"event_id": self.event_id, "service": self.service, "opened_at": self.opened_at.isoformat(),
                "message": self.message, **{k: self.details.get(k) for k in _SHOWN}}


_SHOWN = ("verdict_service", "signature", "rule", "count", "threshold", "running", "first_failure", "last_failure",
          "sample_jobs", "requests", "total", "window_min", "overridden")
