"""The values triage passes around: the facts of a failed attempt and the verdict on it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prodops.constants import Category

FALLBACK = "fallback"
GUESS = "guess:"
"""Rule prefix of a fallback verdict whose category is only guessed from the probable cause lines'
words (``guess:service`` ...): low confidence, marked on the pages, never retried by itself unless
the policy's ``max_guess_retries`` says so."""
PLUGIN, FRAMEWORK, PATTERN, FACTS, OUTAGE = "plugin", "framework", "pattern", "facts", "outage"
"""Where a verdict came from (``framework``: a framework report's innermost exception;
``outage``: only the overlap spoke); the order of precedence is in :mod:`prodops.triage.classify`."""


@dataclass(frozen=True)
class JobFacts:
    """What the batch system recorded about one attempt (a ``job_attempts`` row, plus its request)."""

    submission_id: int
    proc_id: int
    cluster_id: int
    attempt: int = 1
    job_index: int | None = None
    """The job's index in its stage (its ProcId in the first submission)."""
    experiment: str = ""
    workflow: str = ""
    stage: str = ""
    state: str = "completed"
    exit_code: int | None = None
    exit_by_signal: bool | None = None
    exit_signal: int | None = None
    hold_reason: str | None = None
    hold_reason_code: int | None = None
    hold_reason_subcode: int | None = None
    remove_reason: str | None = None
    site: str | None = None
    host: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    memory_usage_mb: int | None = None
    request_memory_mb: int | None = None
    disk_usage_kb: int | None = None
    request_disk_kb: int | None = None
    wall_s: float | None = None
    num_job_starts: int | None = None

    @property
    def job(self) -> str:
        return f"{self.cluster_id}.{self.proc_id}"

    @functools.cached_property
    def reason_lines(self) -> list[str]:
        """HoldReason / RemoveReason as lines patterns can match (stream ``reason``); made once (triage
        asks for them for the library, the report scan and the probable cause lines)."""
        return [r.replace("\n", " ") for r in (self.hold_reason, self.remove_reason) if r]

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, experiment: str = "", workflow: str = "", stage: str = "") -> JobFacts:
        started = row.get("job_current_start_date") or row.get("job_start_date")
        ended = row.get("completion_date") or row.get("entered_current_status")
        return cls(
            submission_id=int(row["submission_id"]), proc_id=int(row["proc_id"]), cluster_id=int(row["cluster_id"]),
            attempt=int(row.get("attempt") or 1),
            job_index=int(row["job_index"]) if row.get("job_index") is not None else int(row["proc_id"]),
            experiment=experiment or row.get("experiment") or "", workflow=workflow or row.get("workflow") or "",
            stage=stage or row.get("stage") or "", state=row["state"], exit_code=row.get("exit_code"),
            exit_by_signal=row.get("exit_by_signal"), exit_signal=row.get("exit_signal"),
            hold_reason=row.get("hold_reason"), hold_reason_code=row.get("hold_reason_code"),
            hold_reason_subcode=row.get("hold_reason_subcode"), remove_reason=row.get("remove_reason"),
            site=row.get("site"), host=row.get("last_remote_host"), started=started, ended=ended,
            memory_usage_mb=row.get("memory_usage_mb"), request_memory_mb=row.get("request_memory_mb"),
            disk_usage_kb=row.get("disk_usage_kb"), request_disk_kb=row.get("request_disk_kb"),
            wall_s=row.get("remote_wall_clock_time"), num_job_starts=row.get("num_job_starts"),
        )


@dataclass
class Verdict:
    """One failed attempt's verdict: what failed, why we think so, and what to do."""

    category: Category
    rule: str
    """Pattern id, ``plugin:<id>``, a facts rule id (``hold-34`` ...) or ``fallback``."""
    source: str
    explain: str
    service: str | None = None
    retryable: bool = False
    confidence: float = 0.5
    resource: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    """Matching lines, best first: {stream, line (number in the file or None), from_end, text, rule}."""
    outages: list[dict[str, Any]] = field(default_factory=list)
    possibly_service: bool = False
    """A code verdict while a service the job needs was down: a person should look."""
    signature: str = ""
    """The failure's group key: its rule and its evidence line with numbers, paths and hosts masked."""
    decision: dict[str, Any] = field(default_factory=dict)
    """Why this verdict: ``{winner, why, candidates: [{source, rule, category, rank, why, line}]}``."""

    @property
    def is_guess(self) -> bool:
        return self.rule.startswith(GUESS)

    @property
    def confidence_word(self) -> str:
        return "high" if self.confidence >= 0.85 else "medium" if self.confidence >= 0.55 else "low"

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value, "rule": self.rule, "source": self.source, "explain": self.explain,
            "service": self.service, "retryable": self.retryable, "confidence": round(self.confidence, 3),
            "resource": self.resource, "evidence": self.evidence, "outages": self.outages,
            "possibly_service": self.possibly_service, "signature": self.signature, "decision": self.decision,
        }


@dataclass(frozen=True)
class PluginVerdict:
    """What an experiment's classifier returns (or a dict with these keys); ``None`` abstains.

    ``evidence`` names lines of the tail as ``(stream, index)`` pairs, index into that
    stream's ``Tail.lines`` (negative counts from the end), or as plain strings (the first
    line of any stream that contains the string).
    """

    category: str | Category
    explain: str
    service: str | None = None
    retryable: bool | None = None
    confidence: float = 0.9
    evidence: tuple[Any, ...] = ()
    rule: str | None = None
    resource: str | None = None
