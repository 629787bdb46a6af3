"""Deferrable tracking of a whole stage, in the triggerer (no worker slot held while waiting):
its first submission and its retry rounds.

Each cycle tracks every submission of the stage that is still running, triages what failed
since (streaming, at most every ``triage_interval``; at once for a submission that just
finished), then asks :func:`prodops.triage.retry.stage_retries` where the stage stands. The
trigger hands back to the worker when a retry round may be submitted (so submitting, a side
effect, happens in a task, never twice in the triggerer), when planned service retries start
to wait for an outage (a worker tells on-call) and when they have waited longer than
``preflight_timeout_s``, and when the stage is complete: every job
succeeded or failed with no retry left.

Its state is its arguments and the database (rows, event-log offsets, verdicts, actions), so a
restarted triggerer resumes where the last committed cycle ended. A PostgreSQL that is unreachable
or restarting is waited out, up to :data:`DB_OUTAGE_S`: the cycle it cut off kept nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from airflow.triggers.base import BaseTrigger, TriggerEvent

from prodops import config
from prodops.exceptions import BackendUnavailable

CATCH_UP_S = 0.2
"""Pause before the next cycle when the last one left changed ads or events for later (its bound)."""

MIN_RUN_S = 8.0
"""A trigger never fires sooner than this after it starts. Seen with Airflow 3.3.2 (an e2e retry
round whose job was held at once): the deferred worker took 5 s to exit, the trigger fired after
4 s, and the scheduler, hearing of the old workload's exit while the resumed task ran, marked the
task failed. The floor lets the old workload's exit be heard while the task is still deferred."""

DB_OUTAGE_S = 900.0
"""How long tracking waits out a PostgreSQL that is unreachable or restarting (each failed cycle kept
nothing; the next one starts from what was committed) before the trigger reports the error."""


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
            state = None
            db_down_since: float | None = None
            while True:
                try:
                    if state is None:  # where the stage stands when the trigger starts
                        state = await asyncio.to_thread(self._state)
                    pause = await tracking.cycle(state.running, state.untriaged)
                    state = await asyncio.to_thread(self._state)
                except psycopg.OperationalError as err:
                    db_down_since = db_down_since or time.monotonic()
                    if time.monotonic() - db_down_since > DB_OUTAGE_S:
                        raise
                    self.log.warning("PostgreSQL unreachable or restarted (the write it cut off was rolled back "
                                     "whole); tracking of stage %s resumes from what was committed once it is "
                                     "back: %s", self.stage, str(err).strip())
                    await asyncio.sleep(self.poll_interval)
                    continue
                db_down_since = None
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


class Tracking:
    """Tracks a set of submissions cycle by cycle: one tracker per submission, kept across cycles
    (each diffs against what it wrote), each with its streaming triage; the classifier is built
    once, on first use (loading the library and plugins is not free)."""

    def __init__(self, backend: str, db_url: str, *, poll_interval: float, triage_interval: float, log: Any) -> None:
        self.backend_name, self.db_url, self.log = backend, db_url, log
        self.poll_interval, self.triage_interval = poll_interval, triage_interval
        self.backend: Any = None
        self.trackers: dict[int, Any] = {}
        self.streams: dict[int, StreamingTriage] = {}
        self.classifier = None

    async def prepare(self) -> None:
        from prodops.batch.registry import get_backend

        self.backend = get_backend(self.backend_name)
        prepare = getattr(self.backend, "aprepare", None)
        if prepare is not None:  # e.g. read the pool's Airflow connection without blocking the loop
            await prepare()

    async def cycle(self, running: Iterable[int], untriaged: Iterable[int] = ()) -> float:
        """One tracking cycle of each running submission; the failures of the submissions that
        finished (now, or before: ``untriaged``) are triaged at once. Returns the pause before
        the next cycle."""
        from prodops.tracking import SubmissionTracker

        pause, finished = self.poll_interval, set(untriaged)
        for submission_id in running:
            if submission_id not in self.trackers:
                self.trackers[submission_id] = SubmissionTracker(
                    backend=self.backend, db_url=self.db_url, submission_id=submission_id)
                self.streams[submission_id] = StreamingTriage(self.db_url, submission_id, self.triage_interval,
                                                              self.log, classifier=self.get_classifier)
            try:
                result = await asyncio.to_thread(self.trackers[submission_id].cycle)
            except BackendUnavailable as err:
                self.log.warning("Batch system unreachable, will retry (no job is marked failed): %s", err)
                continue
            if result.done:
                finished.add(submission_id)
                del self.trackers[submission_id]
                self.streams.pop(submission_id)
            elif result.written:
                await self.streams[submission_id].maybe_run()
            if result.deferred or result.events_behind or result.confirm:  # work left for the next cycle: now
                pause = min(pause, CATCH_UP_S)
        for submission_id in sorted(finished):
            await StreamingTriage(self.db_url, submission_id, 0, self.log, classifier=self.get_classifier).run()
        return pause

    def get_classifier(self):
        if self.classifier is None:
            from prodops.triage.service import default_classifier

            self.classifier = default_classifier()
        return self.classifier


class StreamingTriage:
    """Triage of the attempts of one submission that failed since the last time, at most every
    ``interval`` seconds (negative: never; the stage's triage step does it all at the end)."""

    def __init__(self, db_url: str, submission_id: int, interval: float, log: Any,
                 classifier: Callable[[], Any]) -> None:
        self.db_url, self.submission_id, self.interval, self.log = db_url, submission_id, interval, log
        self.last = time.monotonic()  # the first one an interval after tracking starts
        self.classifier = classifier

    async def maybe_run(self) -> None:
        if self.interval < 0 or time.monotonic() - self.last < self.interval:
            return
        await self.run()

    async def run(self) -> None:
        self.last = time.monotonic()
        try:
            summary = await asyncio.to_thread(self._run)
        except Exception:  # noqa: BLE001 - the stage's triage step triages whatever this missed
            self.log.exception("Triage of submission %s failed; the stage's triage step will do it",
                               self.submission_id)
            return
        if summary["failed"]:
            self.log.info("Triaged %d newly failed attempts of submission %s: %s", summary["failed"],
                          self.submission_id, summary["by_category"])

    def _run(self) -> dict[str, Any]:
        from prodops.triage.service import triage_new_failures

        return triage_new_failures(self.db_url, self.submission_id, classifier=self.classifier())
