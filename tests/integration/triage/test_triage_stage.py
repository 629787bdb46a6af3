"""Triage of a stage against a real PostgreSQL: verdicts, outages, actions, idempotency, retry budgets."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from prodops.batch.classads import map_ad
from prodops.batch.eventlog import EventLogWriter
from prodops.constants import RequestState
from prodops.request import service as request_service
from prodops.request.decision import record_decision
from prodops.stage import stage_spec, submit_stage
from prodops.status import records as status_records
from prodops.status.events import from_native
from prodops.status.registry import load_registry, sync_registry
from prodops.store import records
from prodops.store.db import connect
from prodops.triage import store
from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import PluginRunner
from prodops.triage.service import format_summary, triage_stage
from prodops.workflows import load_templates
from tests.integration.fakes import ScriptedBackend, job_ad

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)
T0 = NOW - timedelta(hours=2)
FORM = {
    "experiment": "nova", "campaign": "triage", "workflow": "demo-grid", "n_jobs": 6, "request_memory_mb": 1000,
    "request_disk_mb": 100, "max_wall_time_min": 60, "priority": 40,
    "justification": "integration test of triage", "contact": "ops@example.org",
}
XROOTD = "Error in <TNetXNGFile::Open>: [FATAL] Server responded with an error: [3011] No servers are available\n"
SEGV = "%MSG-i art: begin\n *** Break *** segmentation violation\n"

# proc -> (ad attributes, stdout, stderr)
JOBS = {
    0: ({"ExitCode": 0}, "all good\n", ""),
    1: ({"ExitCode": 65}, "opening input\n", XROOTD),
    2: ({"ExitCode": 139}, "", SEGV),
    3: ({"ExitCode": 3}, "nothing known\n", "failing with exit code 3\n"),
    4: ({"JobStatus": 5, "HoldReasonCode": 34, "HoldReasonSubCode": 102, "MemoryUsage": 1400,
         "HoldReason": "Error from slot1_1@wn: Job has gone over memory limit of 1000 megabytes. Peak usage: 1400 megabytes."},
        "", ""),
    5: ({"ExitCode": 1}, "", "CalibrationDB request for run 12 timed out\n"),
}


def ts(t: datetime) -> int:
    return int(t.timestamp())


def make_request(db_url: str, tmp_path: Path, run_id: str = "manual__triage") -> tuple[int, int, Path]:
    made = request_service.record_request(db_url, dag_id="production_request", run_id=run_id, conf=FORM)
    rid = made["request_id"]
    record_decision(db_url, rid, state=RequestState.APPROVED, priority=50, decided_by="anna")
    with connect(db_url) as conn:
        request = records.get_request(conn, rid)
    spec = stage_spec(request_id=rid, request=request, template=load_templates()["demo-grid"], stage="run",
                      home=tmp_path)
    sid = submit_stage(db_url=db_url, backend=ScriptedBackend(cluster_id=700), spec=spec)
    return rid, sid, Path(spec.workdir)


def write_jobs(db_url: str, sid: int, workdir: Path, jobs=JOBS, cluster: int = 700) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    ads = []
    with EventLogWriter(workdir / "jobs.log", host="wn") as w:
        for proc, (attrs, out, err) in jobs.items():
            (workdir / f"job.{proc}.out").write_text(out)
            (workdir / f"job.{proc}.err").write_text(err)
            w.submit(cluster, proc, when=ts(T0))
            w.execute(cluster, proc, slot_name="slot1@wn", when=ts(T0 + timedelta(minutes=1)))
            base = {"JobStatus": 4, "QDate": ts(T0), "JobStartDate": ts(T0 + timedelta(minutes=1)),
                    "JobCurrentStartDate": ts(T0 + timedelta(minutes=1)), "RequestMemory": 1000,
                    "CompletionDate": ts(T0 + timedelta(minutes=30)), "RemoteWallClockTime": 1740.0,
                    "EnteredCurrentStatus": ts(T0 + timedelta(minutes=30)), "MATCH_EXP_JOB_GLIDEIN_Site": "FNAL"}
            ad = {**base, **attrs}
            if ad["JobStatus"] == 5:
                ad.pop("CompletionDate")
            status = ad.pop("JobStatus")
            ads.append(job_ad(cluster, proc, status, **ad))
            if ad.get("ExitCode") and ad["ExitCode"] > 128:
                w.terminated(cluster, proc, signal=ad["ExitCode"] - 128, when=ts(T0 + timedelta(minutes=30)))
    with connect(db_url) as conn:
        records.write_job_attempts(conn, sid, [map_ad(a) for a in ads])
        conn.commit()


def dcache_outage(db_url: str, start: datetime, end: datetime) -> None:
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        events = from_native({"events": [
            {"service": "dcache", "state": "up", "time": (start - timedelta(hours=1)).isoformat(), "id": "u0"},
            {"service": "dcache", "state": "down", "time": start.isoformat(), "id": "d1"},
            {"service": "dcache", "state": "up", "time": end.isoformat(), "id": "u1"},
            {"service": "samweb", "state": "up", "time": (start - timedelta(hours=1)).isoformat(), "id": "s0"},
        ]}, feed="ops", now=NOW)
        status_records.insert_events(conn, events)
        conn.commit()


def classifier() -> Classifier:
    return Classifier(load_library(), PluginRunner([]))


def by_proc(db_url: str, rid: int) -> dict[int, dict]:
    with connect(db_url) as conn:
        return {r["proc_id"]: r for r in store.verdicts_of_stage(conn, rid, "run")}


def test_every_failed_attempt_gets_one_verdict_with_evidence_outage_and_action(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir)
    dcache_outage(db_url, T0 + timedelta(minutes=10), T0 + timedelta(minutes=40))
    summary = triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    v = by_proc(db_url, rid)
    assert sorted(v) == [1, 2, 3, 4, 5]  # job 0 succeeded
    xrd = v[1]
    assert (xrd["category"], xrd["rule"], xrd["service"], xrd["action"]) == ("service", "xrootd-3011-no-server",
                                                                           "xrootd", "retry")
    assert xrd["confidence"] >= 0.95 and xrd["outages"][0]["service"] == "dcache"  # xrootd -> dcache alias
    assert xrd["evidence"][0]["stream"] == "stderr" and xrd["evidence"][0]["line"] == 1
    assert "[3011]" in xrd["evidence"][0]["text"] and xrd["action_budget"] == "service"
    segv = v[2]
    assert (segv["category"], segv["rule"], segv["action"]) == ("code", "crash:segmentation-violation", "debug_rerun")
    assert segv["possibly_service"] and segv["evidence"][0]["line"] == 2
    unknown = v[3]  # nothing known in its logs, but dCache (which demo-grid needs) was down: service
    assert (unknown["category"], unknown["rule"], unknown["source"]) == ("service", "outage:dcache", "outage")
    assert unknown["action"] == "retry" and unknown["confidence"] == pytest.approx(0.6)
    mem = v[4]
    assert (mem["category"], mem["rule"], mem["resource"], mem["action"]) == (
        "infrastructure", "memory-limit", "memory", "retry_more_resources")
    assert mem["action_params"] == {"request_memory_mb": 1680} and mem["evidence"][0]["stream"] == "reason"
    # another service's outage is shown beside a service verdict, but does not raise its confidence
    assert v[5]["service"] == "conditions-db" and [o["service"] for o in v[5]["outages"]] == ["dcache"]
    assert v[5]["confidence"] == pytest.approx(0.8)
    assert summary["failed"] == 5 and summary["to_retry"] == 4 and summary["debug_rerun"] == ["700.2"]
    assert summary["by_category"] == {"service": 3, "code": 1, "infrastructure": 1}
    text = format_summary(summary)
    assert "SERVICE" in text and "xrootd-3011-no-server" in text and "overlapping: dcache down" in text
    assert "job 700.1 stderr line 1: Error in <TNetXNGFile::Open>" in text
    assert "Possibly service" in text and "700.2" in text


def test_triage_twice_leaves_the_same_rows_and_keeps_actions_taken(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir)
    triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    first = by_proc(db_url, rid)
    with connect(db_url) as conn:
        planned = store.planned_actions(conn, rid, "run")
        assert sorted(r["proc_id"] for r in planned) == [1, 4, 5]
        assert store.record_action(conn, sid, [1], state="done", note="resubmitted") == 1
        conn.commit()
    # the logs say something else now: a verdict still planned follows them; one acted on stays the record
    (workdir / "job.1.err").write_text("---- ProductNotFound BEGIN\n")
    (workdir / "job.5.err").write_text("---- ProductNotFound BEGIN\n")
    triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    again = by_proc(db_url, rid)
    assert len(again) == len(first) == 5
    assert again[2]["triaged_at"] == first[2]["triaged_at"]  # unchanged verdicts are not rewritten
    assert again[1] == first[1] | {"action_state": "done", "action_note": "resubmitted",
                                   "acted_at": again[1]["acted_at"]}
    assert (again[5]["rule"], again[5]["action"], again[5]["action_state"]) == (
        "art:ProductNotFound", "debug_rerun", "planned")


def test_service_retries_have_their_own_budget_across_attempts(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir, jobs={1: JOBS[1]})
    with connect(db_url) as conn:
        request = records.get_request(conn, rid)
    settings_limit = 3
    for attempt in range(2, settings_limit + 3):
        spec = stage_spec(request_id=rid, request=request, template=load_templates()["demo-grid"], stage="run",
                          home=tmp_path, attempt=attempt)
        sub = submit_stage(db_url=db_url, backend=ScriptedBackend(cluster_id=700 + attempt), spec=spec)
        with connect(db_url) as conn:  # the retry submission carries job 1 as its proc 0
            conn.execute("UPDATE submissions SET spec = spec || %s::jsonb WHERE id = %s",
                         (json.dumps({"job_indexes": [1]}), sub))
            conn.commit()
        write_jobs(db_url, sub, Path(spec.workdir), jobs={0: JOBS[1]}, cluster=700 + attempt)
    triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    with connect(db_url) as conn:
        rows = conn.execute("SELECT attempt, job_index, action, action_reason FROM triage_verdicts"
                            " ORDER BY attempt").fetchall()
    assert [r["job_index"] for r in rows] == [1] * 5
    assert [r["action"] for r in rows] == ["retry", "retry", "retry", "leave", "leave"]
    assert "retries used up (3/3)" in rows[3]["action_reason"]


def test_a_submission_whose_event_log_points_outside_its_workdir_is_not_read(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir, jobs={3: JOBS[3]})
    with connect(db_url) as conn:
        conn.execute("UPDATE submissions SET event_log = '/etc/passwd' WHERE id = %s", (sid,))
        conn.commit()
    summary = triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    v = by_proc(db_url, rid)[3]
    assert summary["failed"] == 1 and v["rule"] == "fallback" and v["evidence"] == []
    assert "exited with code 3" in v["explain"]


def test_nothing_failed_nothing_written(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir, jobs={0: JOBS[0]})
    summary = triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    assert summary["failed"] == 0 and "every job succeeded" in format_summary(summary)
    with pytest.raises(LookupError, match="request 999999"):
        triage_stage(db_url, 999999, "run", now=NOW, classifier=classifier())


def test_a_guess_is_stored_marked_and_left_for_a_person(db_url, tmp_path):
    """No rule knows the line, its words are storage's: stored as guess:service (source fallback, low
    confidence), left for a person (max_guess_retries 0), grouped by its own signature."""
    rid, sid, workdir = make_request(db_url, tmp_path)
    odd = "ERROR: gave up on the stage-out of out_12.root to the Lustre-backed xfer gateway\n"
    write_jobs(db_url, sid, workdir, jobs={0: ({"ExitCode": 0}, "all good\n", ""),
                                           1: ({"ExitCode": 42}, "merging\n", odd),
                                           2: ({"ExitCode": 42}, "merging\n", odd.replace("12", "57"))})
    summary = triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    v = by_proc(db_url, rid)
    guess = v[1]
    assert (guess["category"], guess["rule"], guess["source"]) == ("service", "guess:service", "fallback")
    assert guess["confidence"] == pytest.approx(0.3) and guess["explain"].startswith("A guess, not a known error")
    assert guess["action"] == "leave" and "a guess" in guess["action_reason"]
    assert guess["evidence"][0]["rule"] == "probable-cause" and "stage-out" in guess["evidence"][0]["text"]
    assert v[2]["signature"] == guess["signature"] and summary["to_retry"] == 0
