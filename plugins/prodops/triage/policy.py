"""What to do about a verdict: a pure function of the verdict, the job's facts and its retry history.

* ``service`` and retryable ``infrastructure`` failures are retried after preflight passes
  again, within a budget of their own (``max_service_retries``) that does not touch the
  experiment's retry budget: an outage must not use up a job's retries;
* resource limits (memory, disk, time) are retried with more of that resource, by factor and
  up to a ceiling, within ``max_resource_retries``;
* ``code`` failures are not retried: they are listed for a debug rerun;
* a *guess* (``guess:<category>``: no rule matched, the category only read from the probable
  cause lines' words) is never retried by itself: at most ``max_guess_retries`` times (0 by
  default) from the service budget, else left for a person;
* ``unknown`` failures use the experiment's own budget (``experiment_retries``, 0 by default:
  left for the experiment), and so does anything not retryable (e.g. an expired proxy).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prodops.constants import Category
from prodops.sections import checked, number
from prodops.triage.verdict import JobFacts, Verdict


class Action(str, enum.Enum):
    """What triage decided for an attempt; the lead's retry step carries it out and records it."""

    RETRY = "retry"
    """Resubmit the job once preflight passes again (service / transient infrastructure)."""
    RETRY_MORE_RESOURCES = "retry_more_resources"
    """Resubmit with the memory / disk / wall time in ``params``."""
    DEBUG_RERUN = "debug_rerun"
    """Not retried: listed for a rerun with debug turned up (the debug_rerun DAG)."""
    LEAVE = "leave"
    """Nothing automatic: left for a person or the experiment (``reason`` says why)."""


class Budget(str, enum.Enum):
    """Which retry budget an action uses."""

    SERVICE = "service"
    RESOURCE = "resource"
    EXPERIMENT = "experiment"


@dataclass(frozen=True)
class Policy:
    max_service_retries: int = number(3, at_least=0)
    max_resource_retries: int = number(2, at_least=0)
    experiment_retries: int = number(0, at_least=0)
    max_guess_retries: int = number(0, at_least=0)
    memory_factor: float = number(1.5, at_least=1, why="it multiplies the request")
    max_memory_mb: int = number(16000, at_least=0)
    disk_factor: float = number(1.5, at_least=1, why="it multiplies the request")
    max_disk_mb: int = number(102400, at_least=0)
    time_factor: float = number(1.5, at_least=1, why="it multiplies the request")
    max_wall_time_min: int = number(2880, at_least=0)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], source: str = "policy") -> Policy:
        """Checked settings; ValueError naming the key, the bad value and what it must be."""
        return checked(cls, raw, source, what="a policy setting",
                       example="{max_service_retries: 3, memory_factor: 1.5}")


@dataclass(frozen=True)
class History:
    """Retries this job (same request, stage and job index) already had, per budget."""

    service: int = 0
    resource: int = 0
    experiment: int = 0


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    budget: Budget | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "reason": self.reason,
                "budget": None if self.budget is None else self.budget.value, "params": self.params}


_RESOURCE = {
    # resource: (request key, factor, ceiling, usage in the same unit)
    "memory": ("request_memory_mb", "memory_factor", "max_memory_mb"),
    "disk": ("request_disk_mb", "disk_factor", "max_disk_mb"),
    "time": ("max_wall_time_min", "time_factor", "max_wall_time_min"),
}


def _more(resource: str, facts: JobFacts, limits: Mapping[str, Any], policy: Policy) -> tuple[str, int, int] | None:
    key, factor_name, ceiling_name = _RESOURCE[resource]
    # what this attempt asked for (an earlier retry may have raised it), else the request's form
    current = None
    if resource == "memory":
        current = facts.request_memory_mb
    elif resource == "disk" and facts.request_disk_kb:
        current = math.ceil(facts.request_disk_kb / 1024)
    current = current or limits.get(key)
    if not current:
        return None
    wanted = float(current) * getattr(policy, factor_name)
    if resource == "memory" and facts.memory_usage_mb:
        wanted = max(wanted, facts.memory_usage_mb * 1.2)
    if resource == "disk" and facts.disk_usage_kb:
        wanted = max(wanted, facts.disk_usage_kb / 1024 * 1.2)
    ceiling = int(getattr(policy, ceiling_name))
    return key, int(current), min(ceiling, math.ceil(wanted))


def decide(verdict: Verdict, facts: JobFacts, history: History = History(), policy: Policy = Policy(),
           limits: Mapping[str, Any] | None = None) -> Decision:
    """The action for one failed attempt. ``limits``: the request's request_memory_mb, request_disk_mb, max_wall_time_min."""
    limits = limits or {}
    cat = verdict.category
    if cat is Category.CODE:
        why = "code failure: not retried; listed for a debug rerun"
        if verdict.is_guess:
            why = "a guess (code, from the words of the probable cause lines; no rule matched): " + why
        if verdict.possibly_service:
            why += " (a service it needs was down meanwhile: a person should look)"
        return Decision(Action.DEBUG_RERUN, why)
    if cat in (Category.SERVICE, Category.INFRASTRUCTURE):
        if verdict.is_guess and (not verdict.retryable or history.service >= policy.max_guess_retries):
            return Decision(Action.LEAVE, f"a guess ({cat.value}, from the words of the probable cause lines; no"
                            f" rule matched): not retried automatically (policy max_guess_retries ="
                            f" {policy.max_guess_retries}); read the evidence")
        if not verdict.retryable:
            return Decision(Action.LEAVE, f"{cat.value} failure that a retry cannot fix as it is: {verdict.explain}")
        if verdict.resource:
            if history.resource >= policy.max_resource_retries:
                return Decision(Action.LEAVE, f"{verdict.resource} limit again: resource retries used up"
                                f" ({history.resource}/{policy.max_resource_retries})")
            more = _more(verdict.resource, facts, limits, policy)
            if more is None:
                return Decision(Action.LEAVE, f"{verdict.resource} limit, but the request does not say how much it asked for")
            key, current, new = more
            if new <= current:
                return Decision(Action.LEAVE, f"{verdict.resource} limit, and {key} = {current} is already at the"
                                f" policy's ceiling")
            return Decision(Action.RETRY_MORE_RESOURCES,
                            f"{verdict.resource} limit: retry {history.resource + 1}/{policy.max_resource_retries}"
                            f" with {key} {current} -> {new}", Budget.RESOURCE, {key: new})
        if history.service >= policy.max_service_retries:
            return Decision(Action.LEAVE, f"{cat.value} failure, service retries used up"
                            f" ({history.service}/{policy.max_service_retries})")
        what = f"{verdict.service} " if verdict.service else ""
        return Decision(Action.RETRY, f"{cat.value} failure ({what}{verdict.rule}): retry"
                        f" {history.service + 1}/{policy.max_service_retries} after preflight passes;"
                        " not counted against the experiment's retries", Budget.SERVICE, {"after_preflight": True})
    if history.experiment < policy.experiment_retries:
        return Decision(Action.RETRY, f"unknown failure: retry {history.experiment + 1}/{policy.experiment_retries}"
                        " of the experiment's own budget", Budget.EXPERIMENT, {"after_preflight": True})
    return Decision(Action.LEAVE, "unknown failure: left for the experiment (no known error, no outage)")
