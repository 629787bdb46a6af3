"""Retry a stage's failed jobs as triage planned: wait for preflight, resubmit, track, triage, again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from prodops import config
from prodops.triggers.preflight import PreflightTrigger
from prodops.triggers.submission import SubmissionTrigger

if TYPE_CHECKING:
    from prodops.triage.retry import RetryRound


class RetryFailuresOperator(BaseOperator):
    """Carries out the stage's planned retries in rounds, waiting in the triggerer between steps.

    Each round: preflight for the workflow's services and the ones the failures implicated
    (deferred to :class:`PreflightTrigger` while one is down), one submission of every job to
    retry (:func:`prodops.triage.retry.submit_round`), tracking (deferred to
    :class:`SubmissionTrigger`), then triage of that submission, which plans the next round
    within the policy's budgets. No worker slot is held while waiting. When preflight does
    not pass within ``preflight_timeout`` the planned retries are recorded as skipped and the
    stage goes on with the jobs it has.
    """

    template_fields: Sequence[str] = ("request_id",)
    ui_color = "#fde7c9"

    def __init__(
        self,
        *,
        request_id: int | str,
        stage: str,
        backend: str = "local",
        conn_id: str = config.DB_CONN_ID,
        poll_interval: float | None = None,
        preflight_poll_interval: float | None = None,
        preflight_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
        self.stage = stage
        self.backend = backend
        self.conn_id = conn_id
        self.poll_interval = config.track_poll_interval_s() if poll_interval is None else poll_interval
        self.preflight_poll_interval = (config.preflight_poll_interval_s() if preflight_poll_interval is None
                                        else preflight_poll_interval)
        self.preflight_timeout = (config.preflight_timeout_hours() * 3600 if preflight_timeout is None
                                  else preflight_timeout)

    def _db(self) -> str:
        from prodops.store.db import url_from_connection

        return url_from_connection(self.conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from prodops.triage import retry

        unfinished = retry.unfinished_round(self._db(), int(self.request_id), self.stage)
        if unfinished is not None:  # this task was restarted while a round ran
            submission_id, tracked = unfinished
            if tracked:
                return self.after_tracking(context, {"status": "success"}, 0, 0, submission_id)
            self._track(submission_id, rounds=0, resubmitted=0)
        return self._next_round(rounds=0, resubmitted=0)

    def _next_round(self, rounds: int, resubmitted: int) -> dict[str, Any]:
        from prodops.status.preflight import check_workflow
        from prodops.triage import retry

        db = self._db()
        plan = retry.plan_round(db, int(self.request_id), self.stage)
        done = {"rounds": rounds, "resubmitted": resubmitted}
        if plan is None:
            self.log.info("Stage %s: no retries planned%s", self.stage, f" after {rounds} rounds" if rounds else "")
            return done
        if rounds >= retry.max_rounds():
            retry.give_up(db, plan, f"{rounds} retry rounds ran, as many as the policy's budgets allow")
            return done
        run_for = timedelta(minutes=plan.run_for_min)
        check = check_workflow(db, plan.workflow, run_for=run_for, now=datetime.now(timezone.utc),
                               services=plan.services)
        if check.ok:
            return self._submit(rounds, resubmitted, plan)
        self.log.info("Stage %s: %d jobs to retry wait for preflight: %s", self.stage, len(plan.actions),
                      check.summary())
        deadline = datetime.now(timezone.utc) + timedelta(seconds=float(self.preflight_timeout))
        self.defer(
            trigger=PreflightTrigger(workflow=plan.workflow, run_for_s=run_for.total_seconds(),
                                     deadline=deadline.isoformat(), conn_id=self.conn_id,
                                     poll_interval=float(self.preflight_poll_interval), services=list(plan.services)),
            method_name="after_preflight",
            kwargs={"rounds": rounds, "resubmitted": resubmitted},
            timeout=timedelta(seconds=float(self.preflight_timeout) + 300),
        )

    def after_preflight(self, context: Context, event: dict[str, Any], rounds: int, resubmitted: int) -> dict[str, Any]:
        from prodops.triage import retry

        status = event.get("status")
        if status == "timeout":
            db = self._db()
            plan = retry.plan_round(db, int(self.request_id), self.stage)
            if plan is not None:
                retry.give_up(db, plan, f"preflight did not pass within {self.preflight_timeout:.0f} s:"
                                                f" {event.get('blockers')}")
            return {"rounds": rounds, "resubmitted": resubmitted, "gave_up": "preflight timeout"}
        if status != "success":
            raise AirflowException(f"Preflight before retrying stage {self.stage} could not check: {event.get('message')}")
        return self._submit(rounds, resubmitted)

    def _submit(self, rounds: int, resubmitted: int, plan: RetryRound | None = None) -> dict[str, Any] | None:
        """Submit the round (planned again after a wait in the triggerer: things may have changed)."""
        from prodops.batch.registry import get_backend
        from prodops.triage import retry

        db = self._db()
        plan = plan or retry.plan_round(db, int(self.request_id), self.stage)
        if plan is None:
            return {"rounds": rounds, "resubmitted": resubmitted}
        submission_id = retry.submit_round(db, get_backend(self.backend), plan)
        self._track(submission_id, rounds, resubmitted + len(plan.job_indexes))

    def _track(self, submission_id: int, rounds: int, resubmitted: int) -> None:
        self.defer(
            trigger=SubmissionTrigger(submission_id=submission_id, backend=self.backend, conn_id=self.conn_id,
                                      poll_interval=self.poll_interval),
            method_name="after_tracking",
            kwargs={"rounds": rounds, "resubmitted": resubmitted, "submission_id": submission_id},
        )

    def after_tracking(self, context: Context, event: dict[str, Any], rounds: int, resubmitted: int,
                       submission_id: int) -> dict[str, Any]:
        from prodops.triage.service import format_summary, triage_stage

        if event.get("status") != "success":
            raise AirflowException(f"Tracking retry submission {submission_id} failed: {event.get('message')}")
        self.log.info("Retry submission %s finished: %s", submission_id, event.get("states"))
        summary = triage_stage(self._db(), int(self.request_id), self.stage, submission_id=submission_id)
        self.log.info("\n%s", format_summary(summary))
        return self._next_round(rounds + 1, resubmitted)
