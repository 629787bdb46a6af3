"""Preflight waiting in the triggerer: asks :func:`prodops.status.preflight.check_workflow` until it passes.

No worker slot is held while a service is down or a maintenance window is near. The trigger
keeps no state besides its arguments (the deadline is absolute), so a restarted triggerer
resumes the same wait; it only reads, so running twice has no effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from prodops import config


class PreflightTrigger(BaseTrigger):
    """Yields ``success`` once the workflow (with ``stage``: that stage) may start, ``timeout`` at the
    deadline (with what blocked it), ``error`` when it cannot check."""

    def __init__(
        self,
        *,
        workflow: str,
        run_for_s: float,
        deadline: str,
        conn_id: str = config.DB_CONN_ID,
        poll_interval: float = 60.0,
        services: list[str] | None = None,
        stage: str | None = None,
    ) -> None:
        super().__init__()
        self.services = list(services or [])
        self.stage = stage
        self.workflow = workflow
        self.run_for_s = run_for_s
        self.deadline = deadline
        self.conn_id = conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "prodops.triggers.preflight.PreflightTrigger",
            {
                "workflow": self.workflow,
                "run_for_s": self.run_for_s,
                "deadline": self.deadline,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "services": self.services,
                "stage": self.stage,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from prodops.status.preflight import check_workflow
        from prodops.store.db import aurl_from_connection

        deadline = datetime.fromisoformat(self.deadline)
        last_summary = None
        try:
            db_url = await aurl_from_connection(self.conn_id)
            while True:
                now = datetime.now(timezone.utc)
                result = await asyncio.to_thread(
                    check_workflow, db_url, self.workflow, run_for=timedelta(seconds=self.run_for_s), now=now,
                    services=self.services, stage=self.stage,
                )
                if result.ok:
                    yield TriggerEvent({"status": "success", "workflow": self.workflow, **result.to_dict()})
                    return
                summary = result.summary()
                if summary != last_summary:
                    self.log.info("Preflight for %s waits: %s", self._what(), summary)
                    last_summary = summary
                if now >= deadline:
                    yield TriggerEvent({"status": "timeout", "workflow": self.workflow, **result.to_dict()})
                    return
                await asyncio.sleep(max(0.1, min(self.poll_interval, (deadline - now).total_seconds())))
        except Exception as err:  # noqa: BLE001 - reported to the task, which fails with it
            self.log.exception("Preflight for %s failed", self._what())
            yield TriggerEvent({"status": "error", "workflow": self.workflow, "message": str(err)})

    def _what(self) -> str:
        from prodops.status.preflight import gated

        return gated(str(self.workflow), self.stage)
