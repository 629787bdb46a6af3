"""The ``preflight`` gates of the workflow DAGs: needed services up, no maintenance window over the run.

One before the request starts (the workflow's services) and one at the head of each stage's task
group (that stage's services, checked again right before it is submitted: an outage that began
while an earlier stage ran holds the stage that needs the service, not the one before it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from prodops import config
from prodops.operators.approval import RACE_RETRIES, RACE_RETRY_DELAY
from prodops.triggers.preflight import PreflightTrigger

class PreflightSensor(BaseSensorOperator):
    """Passes when every service the workflow (with ``stage``: that stage) needs is up and no
    maintenance window overlaps [now, now + run_for_min); otherwise waits in the triggerer (no
    worker slot held), logging which service blocks and until when, and fails with that list at
    ``timeout``.

    ``workflow`` and ``run_for_min`` are templated (the request form's workflow and wall time);
    ``timeout`` defaults to PRODOPS_PREFLIGHT_TIMEOUT_HOURS (24 h). With ``request_id``, on-call is
    told when the request (or its stage) starts to wait (:mod:`prodops.notices`).

    It retries (as the approval gate does) unless told otherwise: Airflow 3.3.2 fails a deferred
    task whose trigger fires before the scheduler has processed the pause's executor event (a
    service reported up within seconds of the wait, seen in e2e); the retry checks again, which
    only reads. A timeout is not retried (Airflow never retries AirflowSensorTimeout).
    """

    template_fields: Sequence[str] = ("workflow", "run_for_min", "request_id")

    def __init__(
        self,
        *,
        workflow: str,
        run_for_min: int | str,
        conn_id: str = config.DB_CONN_ID,
        poke_interval: float | None = None,
        timeout: float | None = None,
        request_id: int | str | None = None,
        stage: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", RACE_RETRIES)
        kwargs.setdefault("retry_delay", RACE_RETRY_DELAY)
        super().__init__(
            poke_interval=poke_interval if poke_interval is not None else config.preflight_poll_interval_s(),
            timeout=timeout if timeout is not None else config.preflight_timeout_hours() * 3600,
            **kwargs,
        )
        self.workflow = workflow
        self.run_for_min = run_for_min
        self.conn_id = conn_id
        self.request_id = request_id
        self.stage = stage
        self._summary = ""

    def _what(self) -> str:
        from prodops.status.preflight import gated

        return gated(str(self.workflow), self.stage)

    def _run_for(self) -> timedelta:
        try:
            minutes = float(self.run_for_min)
        except (TypeError, ValueError):
            raise ValueError(
                f"run_for_min={self.run_for_min!r} is not a number of minutes; pass the request's max_wall_time_min"
            ) from None
        return timedelta(minutes=minutes)

    def poke(self, context: Context) -> bool:
        from prodops.status.preflight import check_workflow
        from prodops.store.db import url_from_connection

        result = check_workflow(url_from_connection(self.conn_id), str(self.workflow), run_for=self._run_for(),
                                now=datetime.now(timezone.utc), stage=self.stage)
        self._summary = result.summary()
        self.log.info("Preflight for %s: %s", self._what(), self._summary)
        return result.ok

    def execute(self, context: Context) -> dict[str, Any] | None:
        if self.poke(context):
            return {"status": "success", "workflow": self.workflow, "stage": self.stage}
        self._tell_on_call(context)
        deadline = datetime.now(timezone.utc) + timedelta(seconds=float(self.timeout))
        self.defer(
            trigger=PreflightTrigger(
                workflow=str(self.workflow),
                run_for_s=self._run_for().total_seconds(),
                deadline=deadline.isoformat(),
                conn_id=self.conn_id,
                poll_interval=float(self.poke_interval),
                stage=self.stage,
            ),
            method_name="execute_complete",
            # a backstop only: the trigger reports the deadline itself, with what blocked
            timeout=timedelta(seconds=float(self.timeout) + 300),
        )
        return None

    def _tell_on_call(self, context: Context) -> None:
        if self.request_id is None or self.request_id == "":
            return
        from prodops import notices
        from prodops.store.db import url_from_connection

        settings = notices.load_settings()
        request = notices.for_request(url_from_connection(self.conn_id), int(self.request_id))
        what = f"stage {self.stage} (its preflight)" if self.stage else "the start (preflight)"
        notices.send(notices.outage_holds(request, settings, what=what, blockers=self._summary), context, settings)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        status = event.get("status")
        if status == "success":
            self.log.info("Preflight for %s passed: %s", self._what(), event.get("summary"))
            return event
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"Preflight for {self._what()} gave up after {self.timeout:.0f} s: {event.get('summary')}."
                " Nothing of it was submitted. When the services are back (see the service board), clear this task to try again."
            )
        raise AirflowException(f"Preflight for {self._what()} could not check: {event.get('message')}")
