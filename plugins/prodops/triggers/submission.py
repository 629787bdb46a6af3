"""Deferrable tracking of one submission, in the triggerer (no worker slot held while waiting)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

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


class SubmissionTrigger(BaseTrigger):
    """Polls a submission until every job is final, writing changes to PostgreSQL each cycle.

    Its only state is the submission id: progress (rows, event-log offset) lives in the
    database, so a restarted triggerer resumes where the last committed cycle ended. While jobs
    run, attempts that failed since are triaged at most every ``triage_interval`` seconds
    (in a thread, only those without a verdict), so their verdicts and tails are on the pages
    long before the stage ends; a triage error is logged and never stops tracking.
    """

    def __init__(
        self,
        *,
        submission_id: int,
        backend: str,
        conn_id: str = config.DB_CONN_ID,
        poll_interval: float = 5.0,
        triage_interval: float | None = None,
        min_run_s: float = MIN_RUN_S,
    ) -> None:
        super().__init__()
        self.submission_id = submission_id
        self.backend = backend
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.triage_interval = config.stream_triage_interval_s() if triage_interval is None else triage_interval
        self.min_run_s = min_run_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "prodops.triggers.submission.SubmissionTrigger",
            {
                "submission_id": self.submission_id,
                "backend": self.backend,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "triage_interval": self.triage_interval,
                "min_run_s": self.min_run_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            tracking = Tracking(self.backend, await _db_url(self.conn_id), poll_interval=self.poll_interval,
                                triage_interval=self.triage_interval, log=self.log)
            await tracking.prepare()
            started = time.monotonic()
            while True:
                pause, results = await tracking.cycle((self.submission_id,), triage_finished=False)
                result = results.get(self.submission_id)
                if result is not None and result.done:
                    await asyncio.sleep(max(0.0, started + self.min_run_s - time.monotonic()))
                    yield TriggerEvent({"status": "success", "submission_id": self.submission_id, **result.to_dict()})
                    return
                await asyncio.sleep(pause)
        except Exception as err:  # noqa: BLE001 - reported to the task, which fails with it
            self.log.exception("Tracking submission %s failed", self.submission_id)
            yield TriggerEvent({"status": "error", "submission_id": self.submission_id, "message": str(err)})


async def _db_url(conn_id: str) -> str:
    from prodops.store.db import aurl_from_connection

    return await aurl_from_connection(conn_id)


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

    async def cycle(self, running: Iterable[int], *, triage_finished: bool = True,
                    untriaged: Iterable[int] = ()) -> tuple[float, dict[int, Any]]:
        """One tracking cycle of each running submission; with ``triage_finished``, the failures of
        the submissions that finished (now, or before: ``untriaged``) are triaged at once.
        Returns the pause before the next cycle and each submission's cycle result."""
        from prodops.tracking import SubmissionTracker

        pause, results, finished = self.poll_interval, {}, set(untriaged)
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
            results[submission_id] = result
            if result.done:
                finished.add(submission_id)
                del self.trackers[submission_id]
                self.streams.pop(submission_id)
            elif result.written:
                await self.streams[submission_id].maybe_run()
            if result.deferred or result.events_behind:  # the cycle's bound left work: catch up now
                pause = min(pause, CATCH_UP_S)
        if triage_finished:
            for submission_id in sorted(finished):
                await StreamingTriage(self.db_url, submission_id, 0, self.log, classifier=self.get_classifier).run()
        return pause, results

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
