"""Track a submitted stage by deferring to :class:`SubmissionTrigger`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowException
from airflow.sdk import BaseOperator, Context

from prodops import config
from prodops.triggers.submission import SubmissionTrigger


class TrackStageOperator(BaseOperator):
    """Waits in the triggerer until every job of the submission is final; returns the last cycle."""

    template_fields: Sequence[str] = ("submission_id",)

    def __init__(
        self,
        *,
        submission_id: int | str,
        backend: str = "local",
        conn_id: str = config.DB_CONN_ID,
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.submission_id = submission_id
        self.backend = backend
        self.conn_id = conn_id
        self.poll_interval = config.track_poll_interval_s() if poll_interval is None else poll_interval

    def execute(self, context: Context) -> None:
        self.defer(
            trigger=SubmissionTrigger(
                submission_id=int(self.submission_id),
                backend=self.backend,
                conn_id=self.conn_id,
                poll_interval=self.poll_interval,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise AirflowException(f"Tracking submission {self.submission_id} failed: {event.get('message')}")
        self.log.info("Submission %s finished: %s", self.submission_id, event.get("states"))
        return event
