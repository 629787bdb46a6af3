"""Track a stage until every job is final, submitting its retry rounds while it runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from prodops import config
from prodops.triggers.stage import StageTrigger


class StageRetriesOperator(BaseOperator):
    """Waits in the triggerer (:class:`StageTrigger`) while the stage runs; wakes up in a worker
    only to submit a retry round (:func:`prodops.triage.retry.submit_round`), to tell on-call
    that an outage holds service retries, to record those that waited past
    ``preflight_timeout`` as skipped, and to return at the end.

    Restart safe: what to do next is read from the database each time (planned actions, the
    submissions of the stage), and a round submitted before a crash is found, not submitted twice.
    """

    ui_color = "#fde7c9"

    def __init__(
        self,
        *,
        backend: str = "local",
        conn_id: str = config.DB_CONN_ID,
        poll_interval: float | None = None,
        preflight_timeout: float | None = None,
        retry_batch_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.conn_id = conn_id
        self.poll_interval = config.track_poll_interval_s() if poll_interval is None else poll_interval
        self.preflight_timeout = (config.preflight_timeout_hours() * 3600 if preflight_timeout is None
                                  else preflight_timeout)
        self.retry_batch_s = config.retry_batch_interval_s() if retry_batch_s is None else retry_batch_s

    def _db(self) -> str:
        from prodops.store.db import url_from_connection

        return url_from_connection(self.conn_id)

    def _go(self, request_id: int, stage: str, waiting_since: str | None = None) -> dict[str, Any] | None:
        from prodops.batch.registry import get_backend
        from prodops.triage import retry

        db = self._db()
        state = retry.stage_retries(db, request_id, stage)
        if state.ready is not None:
            submission_id = retry.submit_round(db, get_backend(self.backend), state.ready)
            self.log.info("Stage %s: retry round attempt %d, %d jobs, submission %d", stage, state.ready.attempt,
                          len(state.ready.job_indexes), submission_id)
        elif state.complete:
            self.log.info("Stage %s is complete: %d retry rounds, %d jobs resubmitted", stage, state.rounds,
                          state.resubmitted)
            return {"request_id": request_id, "stage": stage, "rounds": state.rounds,
                    "resubmitted": state.resubmitted}
        self.defer(
            trigger=StageTrigger(request_id=request_id, stage=stage, backend=self.backend, conn_id=self.conn_id,
                                 poll_interval=self.poll_interval, retry_batch_s=self.retry_batch_s,
                                 preflight_timeout_s=self.preflight_timeout,
                                 waiting_since=waiting_since),
            method_name="resume",
            kwargs={"request_id": request_id, "stage": stage},
        )
        return None

    def resume(self, context: Context, event: dict[str, Any], request_id: int | None = None,
               stage: str | None = None) -> dict[str, Any] | None:
        from prodops.triage import retry

        # every StageTrigger event names its stage: dag.test() resumes with the event alone (Airflow
        # 3.3.2 replaces the deferral's kwargs by the event when it runs a trigger in line)
        request_id = int(event["request_id"]) if request_id is None else request_id
        stage = str(event["stage"]) if stage is None else stage
        status = event.get("status")
        if status == "error":
            raise AirflowException(f"Tracking stage {stage} of request {request_id} failed: {event.get('message')}")
        waiting_since = event.get("waiting_since")
        if status == "waiting":
            self._tell_on_call(context, request_id, stage, event)
        if status == "preflight_timeout":
            state = retry.stage_retries(self._db(), request_id, stage)
            if state.waiting is not None:
                retry.give_up(self._db(), state.waiting, f"preflight did not pass within {self.preflight_timeout:.0f} s"
                                                         f" of the first wait: {event.get('blockers')}")
            waiting_since = None
        return self._go(request_id, stage, waiting_since)

    def _tell_on_call(self, context: Context, request_id: int, stage: str, event: dict[str, Any]) -> None:
        from prodops import notices

        self.log.info("Stage %s: %s service retries wait for preflight: %s", stage, event.get("jobs"),
                      event.get("blockers"))
        settings = notices.load_settings()
        notices.send(notices.outage_holds(notices.for_request(self._db(), request_id), settings,
                                          what=f"the retries of stage {stage}", blockers=str(event.get("blockers"))),
                     context, settings)


class TrackStageOperator(StageRetriesOperator):
    """The stage's tracking step, from its first submission: ends when every job is final
    (succeeded, or failed with no retry left), retries included."""

    template_fields: Sequence[str] = ("submission_id",)

    def __init__(self, *, submission_id: int | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        from prodops.store import records
        from prodops.store.db import connect

        with connect(self._db()) as conn:
            row = records.get_submission(conn, int(self.submission_id))
        return self._go(int(row["request_id"]), row["stage"])
