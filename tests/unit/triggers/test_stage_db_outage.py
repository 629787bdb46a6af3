"""The stage trigger waits out an unreachable PostgreSQL, up to DB_OUTAGE_S, then reports it."""

from __future__ import annotations

import asyncio

import devenv
from prodops.triggers import stage
from prodops.triggers.stage import StageTrigger


def test_an_unreachable_database_is_waited_out_then_reported(monkeypatch, capfd):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", f"postgresql://postgres@127.0.0.1:{devenv.free_port()}/prodops")
    monkeypatch.setattr(stage, "DB_OUTAGE_S", 0.5)
    trigger = StageTrigger(request_id=1, stage="run", backend="local", poll_interval=0.05, min_run_s=0)

    async def first_event():
        gen = trigger.run()
        try:
            return (await asyncio.wait_for(gen.__anext__(), 30)).payload
        finally:
            await gen.aclose()

    event = asyncio.run(first_event())
    assert (event["status"], event["stage"]) == ("error", "run")
    assert "Connection refused" in event["message"] or "connection failed" in event["message"]
    retried = capfd.readouterr().out.count("PostgreSQL unreachable or restarted")
    assert retried >= 2, retried  # the outage was waited out before the error, not reported at once
