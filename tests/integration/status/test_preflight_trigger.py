"""The preflight trigger on a real PostgreSQL: waits while a needed service is down, passes when it is up."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from prodops.status import records
from prodops.status.events import from_native
from prodops.status.registry import load_registry, sync_registry
from prodops.store.db import connect
from prodops.triggers.preflight import PreflightTrigger

pytestmark = pytest.mark.integration


@pytest.fixture
def db(db_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        conn.commit()
    return db_url


def report(db_url: str, **states: str) -> None:
    now = datetime.now(timezone.utc)
    with connect(db_url) as conn:
        records.insert_events(conn, from_native({"events": [{"service": s, "state": st} for s, st in states.items()]},
                                                feed="test", now=now))
        conn.commit()


def trigger(deadline_s: float = 30) -> PreflightTrigger:
    deadline = datetime.now(timezone.utc) + timedelta(seconds=deadline_s)
    return PreflightTrigger(workflow="demo-grid", run_for_s=600, deadline=deadline.isoformat(), poll_interval=0.05)


async def first_event(t: PreflightTrigger, timeout: float = 20):
    gen = t.run()
    try:
        return await asyncio.wait_for(gen.__anext__(), timeout)
    finally:
        await gen.aclose()


def test_waits_while_a_service_is_down_and_passes_once_it_is_up(db):
    report(db, dcache="up", samweb="down")

    async def scenario():
        task = asyncio.create_task(first_event(trigger()))
        await asyncio.sleep(0.5)
        assert not task.done()  # still waiting: samweb is down
        await asyncio.to_thread(report, db, samweb="up")
        return await task

    event = asyncio.run(scenario())
    assert event.payload["status"] == "success" and event.payload["ok"] is True


def test_deadline_reports_what_blocked(db):
    report(db, dcache="degraded", samweb="up")  # demo-grid does not allow degraded
    event = asyncio.run(first_event(trigger(deadline_s=0.3)))
    assert event.payload["status"] == "timeout"
    assert "dcache: is degraded" in event.payload["summary"]


def test_unknown_workflow_is_an_error_event(db):
    t = PreflightTrigger(workflow="nosuch", run_for_s=60, deadline=datetime.now(timezone.utc).isoformat())
    event = asyncio.run(first_event(t))
    assert event.payload["status"] == "error" and "no template" in event.payload["message"]
