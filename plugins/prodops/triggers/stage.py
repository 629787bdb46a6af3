"""Deferrable tracking of a whole stage, in the triggerer: its first submission and its retry rounds.

Each cycle tracks every submission of the stage that is still running, triages what failed
since (streaming, at most every ``triage_interval``; at once for a submission that just
finished), then asks :func:`prodops.triage.retry.stage_retries` where the stage stands. The
trigger hands back to the worker when a retry round may be submitted (so submitting, a side
effect, happens in a task, never twice in the triggerer), when planned service retries start
to wait for an outage (a worker tells on-call) and when they have waited longer than
``preflight_timeout_s``, and when the stage is complete: every job
succeeded or failed with no retry left.

Its state is its arguments and the database (rows, event-log offsets, verdicts, actions), so a
restarted triggerer resumes where the last committed cycle ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from prodops import config
from prodops.triggers.submission import MIN_RUN_S, Tracking


class StageTrigger(BaseTrigger):
    """Yields ``ready`` (a retry round may be submitted), ``waiting`` (service retries start to
    wait for preflight: on-call is told), ``preflight_timeout`` (they waited too long),
    ``complete`` (every job is final) or ``error``."""

    def __init__(
        self,
        *,
        request_id: int,
        stage: str,
        backend: str,
        conn_id: str = config.DB_CONN_ID,
        poll_interval: float = 5.0,
        triage_interval: float | None = None,
        retry_batch_s: float | None = None,
        preflight_timeout_s: float | None = None,
        waiting_since: str | None = None,
        min_run_s: float = MIN_RUN_S,
    ) -> None:
        super().__init__()
        self.request_id = request_id
        self.stage = stage
        self.backend = backend
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.triage_interval = config.stream_triage_interval_s() if triage_interval is None else triage_interval
        self.retry_batch_s = config.retry_batch_interval_s() if retry_batch_s is None else retry_batch_s
        self.preflight_timeout_s = (config.preflight_timeout_hours() * 3600 if preflight_timeout_s is None
                                    else preflight_timeout_s)
        self.waiting_since = waiting_since
        self.min_run_s = min_run_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "prodops.triggers.stage.StageTrigger",
            {
                "request_id": self.request_id,
                "stage": self.stage,
                "backend": self.backend,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "triage_interval": self.triage_interval,
                "retry_batch_s": self.retry_batch_s,
                "preflight_timeout_s": self.preflight_timeout_s,
                "waiting_since": self.waiting_since,
                "min_run_s": self.min_run_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from prodops.store.db import aurl_from_connection

        started = time.monotonic()
        try:
            self._db_url = await aurl_from_connection(self.conn_id)
            tracking = Tracking(self.backend, self._db_url, poll_interval=self.poll_interval,
                                triage_interval=self.triage_interval, log=self.log)
            await tracking.prepare()
            waiting_since = datetime.fromisoformat(self.waiting_since) if self.waiting_since else None
            last_blockers = None
            state = await asyncio.to_thread(self._state)
            while True:
                pause, _ = await tracking.cycle(state.running, untriaged=state.untriaged)
                state = await asyncio.to_thread(self._state)
                now = datetime.now(timezone.utc)
                starts_waiting = state.waiting is not None and waiting_since is None
                waiting_since = (waiting_since or now) if state.waiting is not None else None
                event = self._event(state, now, waiting_since, starts_waiting)
                if event is not None:
                    await asyncio.sleep(max(0.0, started + self.min_run_s - time.monotonic()))
                    yield TriggerEvent(event)
                    return
                if state.waiting is not None and state.blockers != last_blockers:
                    self.log.info("Stage %s: %d service retries wait for preflight: %s", self.stage,
                                  len(state.waiting.actions), state.blockers)
                last_blockers = state.blockers
                await asyncio.sleep(pause)
        except Exception as err:  # noqa: BLE001 - reported to the task, which fails with it
            self.log.exception("Tracking stage %s of request %s failed", self.stage, self.request_id)
            yield TriggerEvent({"status": "error", "request_id": self.request_id, "stage": self.stage,
                                "message": str(err)})

    def _state(self):
        from prodops.triage.retry import stage_retries

        return stage_retries(self._db_url, self.request_id, self.stage)

    def _event(self, state, now: datetime, waiting_since: datetime | None,
               starts_waiting: bool = False) -> dict[str, Any] | None:
        base = {"request_id": self.request_id, "stage": self.stage, "rounds": state.rounds,
                "resubmitted": state.resubmitted,
                "waiting_since": waiting_since.isoformat() if waiting_since else None}
        if starts_waiting:  # a worker tells on-call, once per wait (and submits what is ready beside it)
            return {**base, "status": "waiting", "blockers": state.blockers, "jobs": len(state.waiting.actions)}
        if state.ready is not None:
            # failures that come together go together, unless nothing else of the stage runs
            due = (state.ready.resumed is not None or state.last_round_at is None or not state.running
                   or (now - state.last_round_at).total_seconds() >= self.retry_batch_s)
            if due:
                return {**base, "status": "ready", "jobs": len(state.ready.actions)}
        if state.waiting is not None and waiting_since is not None \
                and now - waiting_since >= timedelta(seconds=self.preflight_timeout_s):
            return {**base, "status": "preflight_timeout", "blockers": state.blockers}
        if state.complete:
            return {**base, "status": "complete"}
        return None
