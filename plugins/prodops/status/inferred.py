"""Inferred outages on the service board: posted from failed jobs, cleared by succeeded ones, reviewed by people.

The rules are :mod:`prodops.status.inference` (pure); this module reads what they need and
writes what they decide, through the board's own event store (:func:`records.insert_events`):

* :func:`run` (one transaction, the caller commits) first ends the open inferred outages that
  are due (:func:`~prodops.status.inference.clearing`), then posts a ``degraded`` event
  (source and stream ``inferred``) for each service :func:`~prodops.status.inference.detect`
  finds while the board shows it up or unknown and none is open for it. The event's time is
  the first failure of the evidence; its id is stable (service, signature, first failure), so
  the same detection posted twice is stored once; an advisory lock keeps two runs apart.
* :func:`infer_outages` is what ``triage_stage`` calls after writing its verdicts and what the
  ``service_status`` DAG runs every 5 minutes (so an outage clears while no triage runs);
  ``python -m prodops.status.inferred`` runs it once.
* :func:`review`: a person closes an inferred outage (it works again) or marks it false (it
  never was down; optionally raising its signature's threshold); recorded with who and when.

Preflight and retries need nothing of this: they read the board's state, in which an open
inferred outage is one more stream (:mod:`prodops.status.timeline`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any


from prodops import config
from prodops.status import records
from prodops.status.board import timelines
from prodops.status.events import PayloadInvalid, StatusEvent, natural_id
from prodops.status.inference import ClearReason, Detection, Failure, InferredOutage, clearing, detect
from prodops.status.states import Convention, EventSource, ServiceState
from prodops.status.timeline import INFERRED_STREAM, Segment
from prodops.store.db import Conn, connect

if TYPE_CHECKING:
    from prodops.triage.settings import TriageSettings

log = logging.getLogger(__name__)

FEED = "prodops"
"""The ``feed`` of every inferred event (the sender: prodops itself)."""
QUIET_STATES = (ServiceState.UP, ServiceState.UNKNOWN)
"""States in which the board does not explain failures: an inferred outage may be posted."""
_AFTER = timedelta(microseconds=1)

StageServices = Callable[[str, str], Iterable[str]]
"""(workflow, stage) -> the board services that stage needs."""


def template_stage_services() -> StageServices:
    """The services each workflow stage needs, from the workflow templates (include/workflows)."""
    from prodops.workflows import load_templates

    templates = load_templates()

    def needs(workflow: str, stage: str) -> tuple[str, ...]:
        template = templates.get(workflow)
        if template is None:
            return ()
        try:
            return template.stage_services(stage)
        except KeyError:  # a combined stage's name: the workflow's own services
            return tuple(template.services)

    return needs


def opening_event(d: Detection, *, at: datetime) -> StatusEvent:
    """The ``degraded`` event of a detection; its id is stable for the same evidence."""
    return StatusEvent(
        service=d.service, state=ServiceState.DEGRADED, observed_at=at, source=EventSource.INFERRED.value,
        feed=FEED, stream=INFERRED_STREAM, convention=Convention.NATIVE.value,
        external_id=f"inferred:{natural_id(d.service, d.signature, d.first_failure.isoformat())}",
        code="inferred", message=d.describe()[:4000], details=d.to_dict(),
    )


def closing_event(outage: InferredOutage, *, at: datetime, reason: ClearReason, message: str,
                  details: Mapping[str, Any] | None = None) -> StatusEvent:
    """The ``up`` event that ends an inferred outage (never before it opened)."""
    return StatusEvent(
        service=outage.service, state=ServiceState.UP, observed_at=max(at, outage.opened_at + _AFTER),
        source=EventSource.INFERRED.value, feed=FEED, stream=INFERRED_STREAM, convention=Convention.NATIVE.value,
        external_id=f"inferred-end:{outage.event_id}", code=reason.value, message=message[:4000],
        details={"opening_event_id": outage.event_id, "reason": reason.value, **(details or {})},
    )


@dataclass
class InferenceResult:
    """What one run did: outages opened, outages cleared, and detections left alone (and why)."""

    opened: list[dict[str, Any]] = field(default_factory=list)
    cleared: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"opened": self.opened, "cleared": self.cleared, "held": self.held}

    def lines(self) -> list[str]:
        """For the task log."""
        out = [f"Inferred outage: {o['service']} degraded ({o['message']})" for o in self.opened]
        out += [f"Inferred outage of {c['service']} cleared: {c['message']}" for c in self.cleared]
        out += [f"Not posted for {h['service']}: {h['why']}" for h in self.held]
        return out


def _quiet_since(segs: Sequence[Segment]) -> tuple[ServiceState, datetime | None]:
    """The state now, and when the trailing stretch of up/unknown began (None: before the segments)."""
    if not segs:
        return ServiceState.UNKNOWN, None
    start: datetime | None = None
    for seg in reversed(segs):
        if seg.state not in QUIET_STATES:
            break
        start = seg.start
    if start is not None and start <= segs[0].start:
        start = None
    elif start is None:
        start = segs[-1].end  # not quiet now: nothing counts yet
    return segs[-1].state, start


def _last_failure(outage: InferredOutage, failures: Iterable[Failure],
                  board_services: Callable[[str], Iterable[str]]) -> datetime | None:
    times = [f.ended for f in failures if outage.service in board_services(f.service)]
    if outage.last_failure is not None:
        times.append(outage.last_failure)
    return max(times, default=None)


def _clear_due(conn: Conn, failures: Sequence[Failure], *, now: datetime, settings: TriageSettings,
               stage_services: StageServices, result: InferenceResult) -> None:
    inference = settings.inferred_outages
    for outage in records.open_inferred(conn).values():
        last = _last_failure(outage, failures, settings.board_services)
        since = max(outage.opened_at, last or outage.opened_at)
        rows = records.succeeded_attempts(conn, since, now, inference.clear_successes)
        successes = [r["completion_date"] for r in rows if outage.service in stage_services(r["workflow"], r["stage"])]
        found = clearing(opened_at=outage.opened_at, last_failure=last, successes=successes, now=now,
                         settings=inference)
        if found is None:
            continue
        message = f"cleared: {found.describe()}"
        event = closing_event(outage, at=found.at, reason=found.reason, message=message,
                              details={"since": found.since.isoformat(), "successes": found.successes})
        records.insert_events(conn, [event])
        log.info("Inferred outage %d of %s %s", outage.event_id, outage.service, message)
        result.cleared.append({"service": outage.service, "event_id": outage.event_id, "reason": found.reason.value,
                               "at": event.observed_at.isoformat(), "message": message})


def run(conn: Conn, *, now: datetime, settings: TriageSettings,
        stage_services: StageServices) -> InferenceResult:
    """Clear what is due, then post what is detected (see the module); the caller commits.

    ``settings`` is the :class:`~prodops.triage.settings.TriageSettings` (its ``inferred_outages``
    thresholds and its ``board_services`` aliases).
    """
    inference = settings.inferred_outages
    records.lock_inferred(conn)
    since = now - timedelta(minutes=inference.lookback_min)
    failures = records.service_failures(conn, since, now)
    result = InferenceResult()
    _clear_due(conn, failures, now=now, settings=settings, stage_services=stage_services, result=result)
    if not inference.enabled:
        return result
    services = records.active_services(conn)
    windows = records.windows_overlapping(conn, since, now + timedelta(seconds=1))
    quiet = {name: _quiet_since(segs) for name, (segs, _) in timelines(conn, services, since, now, windows).items()}
    found = detect(failures, running=records.running_jobs(conn), settings=inference, now=now,
                   board_services=settings.board_services, known=quiet.keys(),
                   not_before={name: start for name, (_, start) in quiet.items()},
                   overrides=records.inferred_thresholds(conn))
    already = records.open_inferred(conn)
    for d in found:
        state = quiet[d.service][0]
        if d.service in already:
            result.held.append({"service": d.service, "why": f"inferred outage {already[d.service].event_id}"
                                                              " is already open"})
            continue
        if state not in QUIET_STATES:
            result.held.append({"service": d.service, "why": f"the board already shows it {state.value}"})
            continue
        event = opening_event(d, at=d.first_failure)
        stored = records.insert_events(conn, [event]).stored
        log.warning("Service %s looks down: %s", d.service, event.message)
        result.opened.append({"service": d.service, "stored": bool(stored), "message": event.message,
                              "evidence": d.to_dict()})
    return result


def infer_outages(db_url: str, *, now: datetime | None = None, settings: TriageSettings | None = None,
                  stage_services: StageServices | None = None) -> InferenceResult:
    """One run in its own transaction: what triage_stage, the service_status DAG and the CLI call."""
    from prodops.triage.settings import load_settings

    now = now or datetime.now(timezone.utc)
    settings = settings or load_settings()
    stage_services = stage_services or template_stage_services()
    with connect(db_url) as conn:
        result = run(conn, now=now, settings=settings, stage_services=stage_services)
        conn.commit()
    return result


def review(conn: Conn, event_id: int, *, action: ClearReason, by: str, now: datetime,
           note: str = "", min_jobs: int | None = None) -> dict[str, Any] | None:
    """A person closes an inferred outage or marks it false; the caller commits. None: no such outage.

    An open outage ends now (an inferred ``up`` naming who). Closing one that already ended
    changes nothing; marking one false is recorded whenever it is said, and ``min_jobs`` (more
    than the failed jobs it was inferred from) becomes its signature's own threshold. Raises
    PayloadInvalid naming ``min_jobs`` when it would not have stopped this outage.
    """
    if action not in (ClearReason.CLOSED, ClearReason.FALSE):
        raise ValueError(f"a person closes an inferred outage or marks it false, not {action.value!r}")
    records.lock_inferred(conn)
    outage = records.inferred_opening(conn, event_id)
    if outage is None:
        return None
    if min_jobs is not None and min_jobs <= outage.count:
        raise PayloadInvalid([(("min_jobs",), f"{min_jobs} would not have stopped this inferred outage"
                                              f" ({outage.count} failed jobs); give more than {outage.count}")])
    current = records.open_inferred(conn).get(outage.service)
    is_open = current is not None and current.event_id == event_id
    verb = "closed" if action is ClearReason.CLOSED else "marked false"
    answer: dict[str, Any] = {"event_id": event_id, "service": outage.service, "signature": outage.signature,
                              "action": action.value, "by": by, "at": now.isoformat(), "ended": is_open,
                              "min_jobs": min_jobs}
    if not is_open and action is ClearReason.CLOSED:
        return answer  # it already ended: nothing to close
    if is_open:
        message = f"{verb} by {by}" + (f": {note}" if note else "")
        records.insert_events(conn, [closing_event(outage, at=now, reason=action, message=message,
                                                   details={"by": by, "note": note})])
    records.upsert_inferred_review(conn, event_id=event_id, action=action.value, service=outage.service,
                                   signature=outage.signature, by=by, at=now, note=note, min_jobs=min_jobs)
    if min_jobs is not None:
        records.upsert_inferred_threshold(conn, signature=outage.signature, min_jobs=min_jobs, by=by, at=now,
                                          event_id=event_id, note=note)
    log.info("Inferred outage %d of %s %s by %s%s", event_id, outage.service, verb, by,
             f" (threshold of its signature now {min_jobs})" if min_jobs else "")
    return answer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Post and clear inferred outages once (what triage does after each stage).")
    parser.add_argument("--url", default=config.db_url(), help="libpq URL of the prodops database")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no database: pass --url postgresql://... or set PRODOPS_DB_URL")
    print(json.dumps(infer_outages(args.url).to_dict(), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
