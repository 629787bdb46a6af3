"""Inferred outages on a real PostgreSQL: posted once from triage, shown apart on the board, held by
preflight, cleared when jobs needing the service succeed again, and a signature's raised threshold."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from prodops.status import records as status_records
from prodops.status.board import board
from prodops.status.inference import ClearReason
from prodops.status.inferred import infer_outages, opening_event, review
from prodops.status.preflight import check_workflow
from prodops.store.db import connect
from prodops.triage import store
from prodops.triage.service import format_summary, triage_stage
from prodops.triage.settings import load_settings
from prodops.triggers.preflight import PreflightTrigger
from tests.integration.status.inferred_stage import (
    FAILED, NOW, classifier, first_failure, monitor_says_up, run_stage, status_rows, successes, xrootd_failures,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def db(db_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monitor_says_up(db_url)
    return db_url


@pytest.fixture
def posted(db, tmp_path):
    """The first stage triaged: 25 jobs failed with XRootD's "no servers" while dcache showed up."""
    rid, _ = run_stage(db, tmp_path, xrootd_failures(), run_id="manual__first", cluster=700)
    summary = triage_stage(db, rid, "run", now=NOW, classifier=classifier())
    return rid, summary


def test_triage_posts_one_inferred_outage_with_its_evidence(db, tmp_path, posted):
    rid, summary = posted
    [opened] = summary["inferred_outages"]["opened"]
    assert opened["service"] == "dcache" and opened["stored"]
    [row] = status_rows(db)
    assert (row["service"], row["state"], row["source"], row["feed"], row["stream"], row["code"]) == (
        "dcache", "degraded", "inferred", "prodops", "inferred", "inferred")
    assert row["observed_at"] == first_failure() and row["external_id"].startswith("inferred:")
    d = row["details"]
    assert (d["count"], d["verdict_service"], d["threshold"], d["running"]) == (FAILED, "xrootd", 5, 0)
    assert d["rule"] == "xrootd-3011-no-server" and d["signature"] and d["requests"] == [rid]
    assert d["sample_jobs"][:3] == ["700.0", "700.1", "700.2"] and len(d["sample_jobs"]) == 10
    assert d["first_failure"] == first_failure().isoformat()
    assert d["last_failure"] == (first_failure() + timedelta(seconds=5 * (FAILED - 1))).isoformat()
    assert row["message"].startswith(f"inferred from {FAILED} failed jobs: xrootd failures xrootd-3011-no-server"
                                     f" (signature {d['signature']}) in 2 min")
    assert "Inferred outage posted to the service board: dcache degraded" in format_summary(summary)

    # triage again, or inference on its own: nothing new (one is open)
    again = triage_stage(db, rid, "run", now=NOW, classifier=classifier())
    assert again["inferred_outages"]["opened"] == []
    assert infer_outages(db, now=NOW).opened == []
    assert len(status_rows(db)) == 1


def test_the_same_detection_posted_twice_is_stored_once(db, posted):
    [row] = status_rows(db)
    with connect(db) as conn:
        status_records.lock_inferred(conn)
        first = status_records.insert_events(conn, [_event_of(row)])
        conn.commit()
    assert first.stored == 0 and len(status_rows(db)) == 1


def _event_of(row):
    """The opening event rebuilt from the stored evidence, as a second run would build it."""
    from prodops.status.inference import Detection

    d = row["details"]
    detection = Detection(
        service=d["service"], verdict_service=d["verdict_service"], signature=d["signature"], rule=d["rule"],
        count=d["count"], threshold=d["threshold"], running=d["running"],
        first_failure=datetime.fromisoformat(d["first_failure"]), last_failure=datetime.fromisoformat(d["last_failure"]),
        sample_jobs=tuple(d["sample_jobs"]), requests=tuple(d["requests"]), total=d["total"],
        window_min=d["window_min"], overridden=d["overridden"])
    return opening_event(detection, at=detection.first_failure)


def test_the_board_shows_it_apart_from_what_monitoring_says(db, posted):
    with connect(db) as conn:
        data = board(conn, NOW)
    dcache = next(s for s in data["services"] if s["name"] == "dcache")
    assert (dcache["state"], dcache["monitored_state"]) == ("degraded", "up")
    assert dcache["inferred"]["count"] == FAILED and dcache["inferred"]["verdict_service"] == "xrootd"
    assert dcache["last_report"] == (NOW - timedelta(minutes=1)).isoformat()  # the monitor's, not prodops'
    [outage] = dcache["outages"]
    assert outage["open"] and outage["inferred"]["count"] == FAILED and outage["inferred"]["ended"] is None
    samweb = next(s for s in data["services"] if s["name"] == "samweb")
    assert samweb["inferred"] is None and samweb["state"] == "up"


def test_preflight_holds_a_workflow_that_does_not_allow_degraded(db, posted):
    result = check_workflow(db, "demo-grid", run_for=timedelta(hours=1), now=NOW)
    assert not result.ok
    [blocker] = result.blockers
    assert (blocker["service"], blocker["state"]) == ("dcache", "degraded")
    assert f"inferred from {FAILED} failed jobs" in blocker["reason"] and "close it on the service board" in blocker["reason"]
    # a retry waiting for the services its failures implicated (xrootd -> dcache) is held alike
    assert not check_workflow(db, "demo-grid", run_for=timedelta(hours=1), now=NOW, services=("xrootd", "dcache")).ok
    # the preflight trigger (what production_request's preflight defers to) times out on it
    deadline = (datetime.now(timezone.utc) + timedelta(seconds=0.3)).isoformat()
    trigger = PreflightTrigger(workflow="demo-grid", run_for_s=600, deadline=deadline, poll_interval=0.05)

    async def first():
        gen = trigger.run()
        try:
            return await asyncio.wait_for(gen.__anext__(), 20)
        finally:
            await gen.aclose()

    event = asyncio.run(first())
    assert event.payload["status"] == "timeout" and "dcache: is degraded" in event.payload["summary"]
    # once a person closes it, the same preflight passes
    with connect(db) as conn:
        review(conn, status_rows(db)[0]["id"], action=ClearReason.CLOSED, by="paola", now=datetime.now(timezone.utc))
        conn.commit()
    assert check_workflow(db, "demo-grid", run_for=timedelta(hours=1), now=datetime.now(timezone.utc)).ok


def test_it_clears_when_jobs_needing_the_service_succeed_again(db, tmp_path, posted):
    rid, _ = posted
    last_failure = first_failure() + timedelta(seconds=5 * (FAILED - 1))
    # nine successes are not enough (clear_successes: 10)
    run_stage(db, tmp_path, successes(9, last_failure + timedelta(minutes=1)), run_id="manual__nine", cluster=800)
    assert infer_outages(db, now=NOW).cleared == []
    run_stage(db, tmp_path, successes(3, NOW - timedelta(minutes=3)), run_id="manual__three", cluster=801)
    result = infer_outages(db, now=NOW)
    [cleared] = result.cleared
    tenth = NOW - timedelta(minutes=3)  # the nine, then the first of the three
    assert (cleared["service"], cleared["reason"], cleared["at"]) == ("dcache", "jobs_succeeded", tenth.isoformat())
    assert result.opened == []  # the failures before it cleared are not evidence again
    opened, ended = status_rows(db)
    assert (ended["state"], ended["code"], ended["details"]["opening_event_id"]) == ("up", "jobs_succeeded", opened["id"])
    assert ended["message"].startswith("cleared: 10 jobs needing it succeeded after")
    with connect(db) as conn:
        data = board(conn, NOW)
    dcache = next(s for s in data["services"] if s["name"] == "dcache")
    assert dcache["state"] == "up" and dcache["inferred"] is None
    [outage] = dcache["outages"]
    assert outage["end"] == tenth.isoformat() and outage["inferred"]["ended"]["reason"] == "jobs_succeeded"
    # triaging the stage again later posts nothing: its failures are older than the clearing
    assert triage_stage(db, rid, "run", now=NOW, classifier=classifier())["inferred_outages"]["opened"] == []
    assert preflight_ok(db)


def preflight_ok(db_url: str) -> bool:
    return check_workflow(db_url, "demo-grid", run_for=timedelta(hours=1), now=NOW).ok


def test_not_posted_while_the_board_already_shows_the_service_down(db, tmp_path):
    monitor_says_up(db, at=NOW - timedelta(seconds=30), services=("dcache",), state="down")
    rid, _ = run_stage(db, tmp_path, xrootd_failures(), run_id="manual__known", cluster=710)
    summary = triage_stage(db, rid, "run", now=NOW, classifier=classifier())
    assert summary["inferred_outages"] == {"opened": [], "cleared": [], "held": []}
    assert status_rows(db) == []


def test_failures_during_a_known_outage_are_not_evidence_after_it(db, tmp_path):
    # dcache was reported down while the jobs failed, and up again since: the failures are explained
    monitor_says_up(db, at=first_failure() - timedelta(minutes=1), services=("dcache",), state="down")
    rid, _ = run_stage(db, tmp_path, xrootd_failures(), run_id="manual__explained", cluster=720)
    monitor_says_up(db, at=NOW - timedelta(seconds=30))
    summary = triage_stage(db, rid, "run", now=NOW, classifier=classifier())
    assert summary["inferred_outages"]["opened"] == [] and status_rows(db) == []


def test_a_raised_threshold_keeps_its_signature_quiet(db, tmp_path):
    settings = load_settings()
    off = replace(settings, inferred_outages=replace(settings.inferred_outages, enabled=False))
    rid, _ = run_stage(db, tmp_path, xrootd_failures(), run_id="manual__raised", cluster=730)
    triage_stage(db, rid, "run", now=NOW, classifier=classifier(), settings=off)
    with connect(db) as conn:
        [signature] = {v["signature"] for v in store.verdicts_of_stage(conn, rid, "run")}
        conn.execute("INSERT INTO inferred_outage_thresholds (signature, min_jobs, set_by, set_at)"
                     " VALUES (%s, %s, 'paola', now())", (signature, FAILED + 1))
        conn.commit()
    assert infer_outages(db, now=NOW).opened == []
    with connect(db) as conn:
        conn.execute("UPDATE inferred_outage_thresholds SET min_jobs = %s", (FAILED,))
        conn.commit()
    [opened] = infer_outages(db, now=NOW).opened
    assert opened["evidence"]["overridden"] and opened["evidence"]["threshold"] == FAILED


def test_an_expired_outage_clears_when_no_failure_names_the_service_for_long(db, posted):
    later = NOW + timedelta(hours=3)
    monitor_says_up(db, at=later - timedelta(minutes=1))
    [cleared] = infer_outages(db, now=later).cleared
    last_failure = first_failure() + timedelta(seconds=5 * (FAILED - 1))
    assert cleared["reason"] == "quiet" and cleared["at"] == (last_failure + timedelta(minutes=120)).isoformat()
