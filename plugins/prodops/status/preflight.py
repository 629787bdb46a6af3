"""Preflight: may a request start now? Its services up, no maintenance window over its run.

The decision is a plain function over the database (:func:`preflight`); the Airflow sensor and
trigger (prodops.sensors.preflight, prodops.triggers.preflight) only ask it again and again.
A workflow template's ``services:`` names what every stage needs, a stage's own ``services:``
what that stage needs besides (:meth:`prodops.workflows.WorkflowTemplate.stage_services`);
``preflight: {allow_degraded: true}`` in the template lets it start while a service is degraded.
A service in state ``unknown`` (nobody reports it) holds work only where
:func:`prodops.config.preflight_waits_for_unknown` says so (a real pool, not the embedded default). An outage prodops inferred from
failed jobs is a ``degraded`` state like a monitored one (:mod:`prodops.status.inferred`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import yaml

from prodops.status import records
from prodops.status.board import current_states
from prodops.status.maintenance import blocking_windows
from prodops.status.states import ServiceState
from prodops.store.db import Conn
from prodops.workflows import WorkflowTemplate


@dataclass
class PreflightResult:
    """Whether a request may be submitted now, and if not, what blocks it and until when."""

    ok: bool
    blockers: list[dict[str, Any]] = field(default_factory=list)
    unmonitored: list[str] = field(default_factory=list)
    """Needed services in state ``unknown`` that were not waited for (PRODOPS_PREFLIGHT_UNKNOWN=pass)."""

    def summary(self) -> str:
        if self.ok:
            passed = (f"; not waited for, as nobody reports them: {', '.join(self.unmonitored)}"
                      if self.unmonitored else "")
            return f"all needed services are up and no maintenance window overlaps the run{passed}"
        parts = []
        for b in self.blockers:
            until = f" until {b['until']}" if b.get("until") else " (no end known: waiting for a report that it is up)"
            parts.append(f"{b['service']}: {b['reason']}{until}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "blockers": self.blockers, "unmonitored": self.unmonitored, "summary": self.summary()}


def gated(workflow: str, stage: str | None = None) -> str:
    """What a preflight gates, in its log lines and errors: a workflow's start or one of its stages."""
    return f"stage {stage} of workflow {workflow}" if stage else f"workflow {workflow}"


@dataclass(frozen=True)
class Policy:
    """What a workflow needs before it may start."""

    services: tuple[str, ...] = ()
    allow_degraded: bool = False


def workflow_policy(template: WorkflowTemplate, stage: str | None = None) -> Policy:
    """The template's ``services:`` (with ``stage``: that stage's, the workflow's included) and its
    ``preflight:`` options (read from its file)."""
    allow = False
    if template.path is not None:
        raw = yaml.safe_load(template.path.read_text()) or {}
        options = raw.get("preflight") or {}
        if not isinstance(options, dict) or not isinstance(options.get("allow_degraded", False), bool):
            raise ValueError(f"{template.path}: preflight.allow_degraded must be true or false")
        allow = bool(options.get("allow_degraded", False))
    try:
        services = template.stage_services(stage) if stage else tuple(template.services)
    except KeyError as err:
        raise ValueError(err.args[0]) from None
    return Policy(services=services, allow_degraded=allow)


def preflight(conn: Conn, services: Sequence[str], *, now: datetime, run_for: timedelta,
              allow_degraded: bool = False, wait_for_unknown: bool = True) -> PreflightResult:
    """May a request needing ``services`` start now and run for ``run_for``?

    It may when every service is up (or degraded, if allowed) and no maintenance window for
    them, nor a global one, overlaps [now, now + run_for). Without ``wait_for_unknown`` a
    service in state ``unknown`` is passed (and listed as unmonitored) unless prodops inferred
    an outage of it from failed jobs.
    """
    blockers: list[dict[str, Any]] = []
    wanted = sorted(set(services))
    states = current_states(conn, now, wanted, lookback=timedelta(days=2)) if wanted else {}
    ok_states = {ServiceState.UP} | ({ServiceState.DEGRADED} if allow_degraded else set())
    window_blockers = []
    covered: set[str] = set()
    for service, w in blocking_windows(records.windows_overlapping(conn, now, now + run_for), wanted, now, now + run_for):
        covered.update(wanted if service == "*" else [service])
        window_blockers.append({
            "service": service if service != "*" else "all services",
            "state": ServiceState.MAINTENANCE.value,
            "until": w.ends_at.isoformat(),
            "reason": f"maintenance window {w.id} {w.starts_at.isoformat()} - {w.ends_at.isoformat()} ({w.reason})",
        })
    inferred = records.open_inferred(conn) if wanted else {}
    unmonitored: list[str] = []
    for name in wanted:
        if name not in states:
            blockers.append({"service": name, "state": None, "until": None,
                             "reason": "is not a registered service; add it to include/services.yaml"
                                       " or fix the workflow's services"})
            continue
        st = states[name]
        if st.state in ok_states or (st.state is ServiceState.MAINTENANCE and name in covered):
            continue
        if st.state is ServiceState.UNKNOWN and not wait_for_unknown and name not in inferred:
            unmonitored.append(name)
            continue
        since = f" since {st.since.isoformat()}" if st.since else ""
        why = ""
        if name in inferred:
            o = inferred[name]
            why = (f" (inferred from {o.count} failed jobs, {o.rule}; it clears when jobs needing it"
                   f" succeed again, or close it on the service board)")
        blockers.append({"service": name, "state": st.state.value, "until": None,
                         "reason": f"is {st.state.value}{since}{why}"})
    blockers.extend(window_blockers)
    return PreflightResult(ok=not blockers, blockers=blockers, unmonitored=unmonitored)


def check_workflow(db_url: str, workflow: str, *, run_for: timedelta, now: datetime,
                   services: Sequence[str] = (), stage: str | None = None) -> PreflightResult:
    """Preflight for a workflow template by name (what the sensors, their trigger and retry rounds call).

    ``stage``: check that stage's services (its own and the workflow's) instead of the
    workflow's alone: each stage is gated before it is submitted. ``services``: more services
    that must be up (a retry waits for the services its failures implicated, when the board
    knows them).
    """
    from prodops import config
    from prodops.store.db import connect
    from prodops.workflows import load_templates

    templates = load_templates()
    if workflow not in templates:
        raise ValueError(f"workflow {workflow!r} has no template in include/workflows; known: {sorted(templates)}")
    policy = workflow_policy(templates[workflow], stage)
    with connect(db_url) as conn:
        active = {s["name"] for s in records.active_services(conn)}
        if not set(policy.services) <= active:
            # the registry file may be newer than the database (first run, or a service just added)
            from prodops.status.registry import load_registry, sync_registry

            sync_registry(conn, load_registry())
            conn.commit()
        wanted = (*policy.services, *(s for s in services if s in active))
        return preflight(conn, wanted, now=now, run_for=run_for, allow_degraded=policy.allow_degraded,
                         wait_for_unknown=config.preflight_waits_for_unknown())
