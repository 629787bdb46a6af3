"""Retries of a stage, carried out while it runs: the rounds triage planned, as soon as they may go.

A round is one submission (attempt N+1 of the stage) of every job with a planned ``retry``
or ``retry_more_resources`` at that moment: the job's own arguments again, under its job
index, with what its last attempt requested raised by the action's parameters. Triage
streams while jobs run (:class:`~prodops.triggers.stage.StageTrigger`), so a round starts
while other jobs of the stage still run, and rounds overlap. A service retry waits until
preflight passes for the services its failure implicated; the others go at once
(:func:`stage_retries`). Budgets are per job (:mod:`prodops.triage.policy`), so the rounds end.

Idempotent: the submission key (request, stage, attempt) and the backend's submit make
submitting a round twice impossible, and a planned action whose job already runs in a later
submission (a crash between submitting and recording) is recorded against that submission
instead of being submitted again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from prodops.batch.base import Backend, JobAction, SubmissionSpec
from prodops.exceptions import ProdopsError
from prodops.stage import submit_stage
from prodops.store import records
from prodops.store.db import Conn, connect, q
from prodops.tracking import SubmissionTracker
from prodops.triage import store
from prodops.triage.settings import TriageSettings, load_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryRound:
    """The next retry submission of a stage: which attempt, which planned actions, which services."""

    request_id: int
    stage: str
    workflow: str
    attempt: int
    actions: tuple[Mapping[str, Any], ...]
    services: tuple[str, ...]
    """Board services the ``service`` failures implicated; preflight waits for them too."""
    run_for_min: float
    priority: int
    submissions: tuple[Mapping[str, Any], ...]
    """The stage's submission rows when the round was planned (specs included)."""
    resumed: Mapping[str, Any] | None = None
    """The submission row of this round when an earlier run submitted it already."""

    @property
    def job_indexes(self) -> list[int]:
        return sorted({int(a["job_index"]) for a in self.actions})


def _submissions(conn: Conn, request_id: int, stage: str) -> list[dict[str, Any]]:
    return conn.execute(q("submissions_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()


def plan_round(db_url: str, request_id: int, stage: str, settings: TriageSettings | None = None) -> RetryRound | None:
    """The next round of retries of a stage, or None when nothing is planned."""
    with connect(db_url) as conn:
        return _plan(conn, request_id, stage, settings or load_settings())


def _plan(conn: Conn, request_id: int, stage: str, settings: TriageSettings) -> RetryRound | None:
    planned = store.planned_actions(conn, request_id, stage)
    if not planned:
        return None
    request = records.get_request(conn, request_id)
    if request is None:
        raise LookupError(f"request {request_id} is not in the prodops database; check the request id")
    submissions = _submissions(conn, request_id, stage)
    newest = max(int(a["attempt"]) for a in planned)
    resumed, actions = None, planned
    for row in submissions:
        if int(row["attempt"]) <= newest or row["kind"] != "production":  # a debug rerun is no retry round
            continue
        indexes = set(row["spec"].get("job_indexes") or ())
        covered = [a for a in planned if int(a["job_index"]) in indexes]
        if covered:
            resumed, actions = row, covered
            break
    attempt = int(resumed["attempt"]) if resumed else max(int(r["attempt"]) for r in submissions) + 1
    # a service failure waits for its service; a node's or a limit's failure has nothing to wait for
    services = tuple(dict.fromkeys(s for a in actions if a["category"] == "service"
                                   for s in settings.board_services(a["service"])))
    return RetryRound(request_id=request_id, stage=stage, workflow=request["workflow"], attempt=attempt,
                      actions=tuple(actions), services=services, run_for_min=float(request["max_wall_time_min"]),
                      priority=int(request["priority"]), submissions=tuple(submissions), resumed=resumed)


@dataclass(frozen=True)
class StageRetries:
    """Where a stage stands while it runs: the round that may be submitted now, the planned
    retries that wait for their services, the submissions still tracked and those whose failures
    still lack a verdict. The stage is complete when there is none of these."""

    ready: RetryRound | None
    waiting: RetryRound | None
    blockers: str
    running: tuple[int, ...]
    """Submissions of the stage still tracked (the first one and retry rounds), with a cluster id."""
    untriaged: tuple[int, ...]
    """Finished submissions with failed attempts that have no verdict yet."""
    rounds: int
    resubmitted: int
    last_round_at: datetime | None

    @property
    def complete(self) -> bool:
        return not (self.ready or self.waiting or self.running or self.untriaged)


def stage_retries(db_url: str, request_id: int, stage: str, *, now: datetime | None = None,
                  settings: TriageSettings | None = None) -> StageRetries:
    """The stage's retry state now: preflight decides, per planned round, what goes at once.

    A round whose services pass preflight is ready as a whole. When a service it implicated is
    down, its other retries (a resource limit, a node's failure) are ready on their own if the
    stage's own services (the workflow's and the stage's ``services:``) pass, and the service retries wait: no job waits for a service
    that did not fail it.
    """
    from prodops.status.preflight import check_workflow

    now = now or datetime.now(timezone.utc)
    with connect(db_url) as conn:  # one connection a poll: the trigger asks every few seconds
        progress = conn.execute(q("stage_progress"), {"request_id": request_id, "stage": stage}).fetchall()
        plan = _plan(conn, request_id, stage, settings or load_settings())
    ready = waiting = None
    blockers = ""
    if plan is not None:
        run_for = timedelta(minutes=plan.run_for_min)
        check = check_workflow(db_url, plan.workflow, run_for=run_for, now=now, services=plan.services, stage=stage)
        if plan.resumed is not None or check.ok:
            ready = plan
        else:
            blockers = check.summary()
            free = tuple(a for a in plan.actions if a["category"] != "service")
            held = tuple(a for a in plan.actions if a["category"] == "service")
            if free and held and check_workflow(db_url, plan.workflow, run_for=run_for, now=now, stage=stage).ok:
                ready, waiting = replace(plan, actions=free, services=()), replace(plan, actions=held)
            else:
                waiting = plan
    rounds = [r for r in progress if int(r["attempt"]) > 1 and r["kind"] == "production"]
    return StageRetries(
        ready=ready, waiting=waiting, blockers=blockers,
        running=tuple(int(r["id"]) for r in progress if r["state"] != "done" and r["cluster_id"] is not None),
        untriaged=tuple(int(r["id"]) for r in progress if r["state"] == "done" and r["untriaged"]),
        rounds=len(rounds), resubmitted=sum(int(r["num_jobs"]) for r in rounds),
        last_round_at=max((r["submitted_at"] for r in rounds if r["submitted_at"]), default=None),
    )


def latest_items(submissions: Sequence[Mapping[str, Any]]) -> dict[int, tuple[SubmissionSpec, int]]:
    """Each job index's newest production item: the spec that last ran it and its place in that
    spec (a debug rerun's item is never run again as production: :mod:`prodops.rerun`)."""
    latest: dict[int, tuple[SubmissionSpec, int]] = {}
    for row in submissions:
        spec = SubmissionSpec.from_dict(row["spec"])
        if spec.debug:
            continue
        for item in range(len(spec.items)):
            latest[spec.job_index(item)] = (spec, item)
    return latest


_PARAM_TO_RESOURCE = {
    "request_memory_mb": ("request_memory_mb", 1),
    "request_disk_mb": ("request_disk_mb", 1),
    "max_wall_time_min": ("max_wall_time_s", 60),
}


def round_spec(plan: RetryRound) -> SubmissionSpec:
    """The submission of a round: each job's last item again, with more of what its action asks for."""
    latest = latest_items(plan.submissions)
    first = SubmissionSpec.from_dict(plan.submissions[0]["spec"])
    params = {int(a["job_index"]): a["action_params"] or {} for a in plan.actions}
    items, resources = [], []
    for index in plan.job_indexes:
        if index not in latest:
            raise LookupError(f"job {index} of stage {plan.stage} is in no submission of request {plan.request_id};"
                              " its planned retry cannot be rebuilt")
        spec, item = latest[index]
        wants = spec.resources(item)
        for name, value in params[index].items():
            if name in _PARAM_TO_RESOURCE:
                key, unit = _PARAM_TO_RESOURCE[name]
                wants[key] = max(wants[key], int(value) * unit)
        items.append(spec.items[item])
        resources.append(wants)
    return replace(first, attempt=plan.attempt, items=items, job_indexes=plan.job_indexes, job_resources=resources,
                   workdir=str(Path(first.workdir).parent / f"attempt-{plan.attempt}"), priority=plan.priority)


def submit_round(db_url: str, backend: Backend, plan: RetryRound) -> int:
    """Submit a round (or find the one submitted before) and record the actions as done; returns its submission id."""
    spec = SubmissionSpec.from_dict(plan.resumed["spec"]) if plan.resumed is not None else round_spec(plan)
    submission_id = submit_stage(db_url=db_url, backend=backend, spec=spec)
    note = f"resubmitted as attempt {plan.attempt} (submission {submission_id})"
    removed = _remove_held(db_url, backend, plan, f"prodops: {note}")
    with connect(db_url) as conn:
        for old, procs in _by_submission(plan.actions).items():
            gone = set(removed.get(old, ()))
            for chosen, more in (([p for p in procs if p in gone], "; the held job was removed from the queue"),
                                 ([p for p in procs if p not in gone], "")):
                if chosen:
                    store.record_action(conn, old, chosen, state="done", retry_submission_id=submission_id,
                                        note=note + more)
        conn.commit()
    log.info("Retry round: attempt %d of stage %s (request %d): %d jobs resubmitted as submission %d",
             plan.attempt, plan.stage, plan.request_id, len(spec.items), submission_id)
    return submission_id


def _remove_held(db_url: str, backend: Backend, plan: RetryRound, reason: str) -> dict[int, list[int]]:
    """Remove the retried attempts that are held: a held job stays in the schedd's queue (and
    counts against the user's limits) until someone removes it. Returns what was removed; a
    schedd that cannot be reached leaves them held, with a warning, and the retry stands."""
    held = _by_submission([a for a in plan.actions if a.get("state") == "held"])
    if not held:
        return {}
    rows = {r["id"]: r for r in plan.submissions}
    removed: dict[int, list[int]] = {}
    for submission_id, procs in held.items():
        row = rows.get(submission_id)
        if row is None or row["cluster_id"] is None or row["backend"] != backend.name:
            continue
        try:
            backend.act(records.submission_handle(row), JobAction.REMOVE, reason, procs)
            # record it now, so the attempt's row says what the queue says from here on
            SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id).cycle()
        except ProdopsError as err:
            log.warning("Could not remove the held jobs %s of submission %d (retried anyway): %s",
                        procs, submission_id, err)
            continue
        removed[submission_id] = procs
    return removed


def give_up(db_url: str, plan: RetryRound, why: str) -> int:
    """Record the round's planned actions as skipped, with why (e.g. preflight never passed)."""
    with connect(db_url) as conn:
        skipped = sum(store.record_action(conn, old, procs, state="skipped", note=why)
                      for old, procs in _by_submission(plan.actions).items())
        conn.commit()
    log.warning("Not retrying %d jobs of stage %s (request %d): %s", skipped, plan.stage, plan.request_id, why)
    return skipped


def _by_submission(actions: Sequence[Mapping[str, Any]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for a in actions:
        grouped.setdefault(int(a["submission_id"]), []).append(int(a["proc_id"]))
    return grouped
