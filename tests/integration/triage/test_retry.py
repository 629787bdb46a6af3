"""The retry step on the real local pool and PostgreSQL: a dCache outage fails a job, triage
plans a service retry, the round waits for preflight, resubmits only that job under its job
index, and the stage's outputs, checks, report and next stage see each job's latest attempt."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.batch.local import LocalPoolBackend
from prodops.constants import RequestState
from prodops.quality.stage import check_stage_outputs, collect_stage_outputs
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.stage import stage_input_files
from prodops.status import records as status_records
from prodops.status.events import from_native
from prodops.status.preflight import check_workflow
from prodops.status.registry import load_registry, sync_registry
from prodops.store import records
from prodops.store.db import connect
from prodops.triage import retry
from prodops.triage.service import triage_stage
from prodops.workflows import load_templates
from tests.integration.pool import rows, track

pytestmark = pytest.mark.integration

FORM = {
    "experiment": "nova", "campaign": "retry", "workflow": "mc_chain", "n_jobs": 3, "request_memory_mb": 200,
    "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 50, "justification": "retries on the local pool",
    "contact": "ops@example.org",
}


@pytest.fixture
def backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    return LocalPoolBackend(pool_dir=tmp_path / "pool")


def report_dcache(db_url, state: str) -> None:
    now = datetime.now(timezone.utc)
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        events = from_native({"events": [{"service": "dcache", "state": state, "time": now.isoformat(),
                                           "id": f"dcache-{state}-{now.timestamp()}"}]}, feed="ops", now=now)
        status_records.insert_events(conn, events)
        conn.commit()


def test_a_service_failure_is_retried_once_the_service_is_up_and_the_stage_goes_on(db_url, backend, tmp_path):
    flag = tmp_path / "dcache-down"
    flag.write_text("1\n")  # the pool holding job 1's destination is offline
    conf = {**FORM, "workflow_options": {"events_per_job": 10, "sleep_s": 0, "storage_down_flag": str(flag)}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="retry", conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=55)
    report_dcache(db_url, "down")

    first = service.submit_workflow_stage(db_url, backend, request_id, "gen")
    track(db_url, backend, first)
    summary = triage_stage(db_url, request_id, "gen")
    assert (summary["failed"], summary["by_category"], summary["to_retry"]) == (1, {"service": 1}, 1)
    verdict = rows(db_url, "SELECT * FROM triage_verdicts WHERE request_id = %(r)s", r=request_id)[0]
    assert (verdict["proc_id"], verdict["category"], verdict["action"]) == (1, "service", "retry")
    assert "ifdh cp failed" in verdict["evidence"][0]["text"]
    assert verdict["outages"] and verdict["outages"][0]["service"] == "dcache"

    plan = retry.plan_round(db_url, request_id, "gen")
    assert (plan.attempt, plan.job_indexes, plan.resumed) == (2, [1], None)
    assert "dcache" in plan.services
    run_for = timedelta(minutes=plan.run_for_min)
    now = datetime.now(timezone.utc)
    assert check_workflow(db_url, "mc_chain", run_for=run_for, now=now).ok  # the workflow itself needs nothing
    waiting = check_workflow(db_url, "mc_chain", run_for=run_for, now=now, services=plan.services)
    assert not waiting.ok and "dcache" in waiting.summary()

    flag.unlink()
    report_dcache(db_url, "up")
    assert check_workflow(db_url, "mc_chain", run_for=run_for, now=datetime.now(timezone.utc),
                          services=plan.services).ok
    second = retry.submit_round(db_url, backend, plan)
    assert second != first
    spec = rows(db_url, "SELECT spec, attempt, num_jobs FROM submissions WHERE id = %(s)s", s=second)[0]
    assert (spec["attempt"], spec["num_jobs"], spec["spec"]["job_indexes"]) == (2, 1, [1])
    assert spec["spec"]["items"] == [rows(db_url, "SELECT spec FROM submissions WHERE id = %(s)s",
                                          s=first)[0]["spec"]["items"][1]]
    assert spec["spec"]["priority"] == 55
    acted = rows(db_url, "SELECT action_state, retry_submission_id FROM triage_verdicts WHERE submission_id = %(s)s",
                 s=first)[0]
    assert (acted["action_state"], acted["retry_submission_id"]) == ("done", second)

    track(db_url, backend, second)
    assert triage_stage(db_url, request_id, "gen", submission_id=second)["failed"] == 0
    assert retry.plan_round(db_url, request_id, "gen") is None

    collected = collect_stage_outputs(db_url, request_id, "gen")
    assert (collected["jobs"], collected["succeeded"], collected["manifests"], collected["problems"]) == (3, 3, 3, {})
    outputs = rows(db_url, "SELECT o.submission_id, o.proc_id, o.file FROM job_outputs o JOIN submissions s"
                           " ON s.id = o.submission_id WHERE s.request_id = %(r)s ORDER BY o.file", r=request_id)
    assert [(o["submission_id"], o["proc_id"], o["file"]) for o in outputs] == [
        (first, 0, "gen_0.dat"), (second, 0, "gen_1.dat"), (first, 2, "gen_2.dat")]
    chain = load_templates()["mc_chain"]
    assert all(r.success for r in check_stage_outputs(db_url, request_id, "gen", chain))

    with connect(db_url) as conn:
        attempts = records.jobs_of_stage(conn, request_id, "gen")
    assert [(a["job_index"], a["attempt"], a["latest"]) for a in attempts] == [
        (0, 1, True), (1, 1, False), (1, 2, True), (2, 1, True)]
    assert "ad" not in attempts[0]  # the typed columns only, not 2 kB of ad per job

    report, text = service.report_stage(db_url, request_id, "gen")
    assert (report["jobs"], report["attempts"], report["retried_jobs"], report["recovered_jobs"]) == (3, 4, 1, 1)
    assert report["outcomes"] == {"succeeded": 3} and report["unsuccessful_jobs"] == []
    assert report["triage"]["by_action"] == {"retry (done)": 1}
    assert "recovered by a retry 1" in text

    with connect(db_url) as conn:
        request = records.get_request(conn, request_id)
        g4_inputs = stage_input_files(conn, request, chain, "g4")
    assert sorted(p.rsplit("/", 2)[-2:][0] for p in g4_inputs) == ["attempt-1", "attempt-1", "attempt-2"]


def failed_by_outage(db_url, backend, tmp_path, n_jobs: int):
    """A gen stage whose every job failed to copy its output while the demo storage was down, triaged."""
    flag = tmp_path / "dcache-down"
    flag.write_text("")
    conf = {**FORM, "n_jobs": n_jobs,
            "workflow_options": {"events_per_job": 5, "sleep_s": 0, "storage_down_flag": str(flag)}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id=f"outage-{n_jobs}",
                                        conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    first = service.submit_workflow_stage(db_url, backend, request_id, "gen")
    track(db_url, backend, first)
    triage_stage(db_url, request_id, "gen")
    return flag, request_id, first


def test_a_round_submitted_before_a_crash_is_found_again_not_submitted_twice(db_url, backend, tmp_path):
    flag, request_id, first = failed_by_outage(db_url, backend, tmp_path, n_jobs=2)
    flag.unlink()
    plan = retry.plan_round(db_url, request_id, "gen")
    assert plan.job_indexes == [0, 1]
    second = retry.submit_round(db_url, backend, plan)
    # the worker died after submitting, before the actions were recorded
    with connect(db_url) as conn:
        conn.execute("UPDATE triage_verdicts SET action_state = 'planned', retry_submission_id = NULL"
                     " WHERE submission_id = %(s)s", {"s": first})
        conn.commit()
    again = retry.plan_round(db_url, request_id, "gen")
    assert again.attempt == 2 and again.resumed["id"] == second
    assert retry.submit_round(db_url, backend, again) == second
    assert len(rows(db_url, "SELECT id FROM submissions WHERE request_id = %(r)s", r=request_id)) == 2
    assert retry.plan_round(db_url, request_id, "gen") is None


def test_a_round_that_cannot_pass_preflight_is_recorded_as_skipped(db_url, backend, tmp_path):
    _, request_id, first = failed_by_outage(db_url, backend, tmp_path, n_jobs=1)
    plan = retry.plan_round(db_url, request_id, "gen")
    assert retry.give_up(db_url, plan, "preflight did not pass within 86400 s") == 1
    verdict = rows(db_url, "SELECT action_state, action_note FROM triage_verdicts WHERE submission_id = %(s)s",
                   s=first)[0]
    assert verdict["action_state"] == "skipped" and "preflight" in verdict["action_note"]
    assert retry.plan_round(db_url, request_id, "gen") is None


def test_a_restarted_retry_step_finds_the_round_still_running_or_not_yet_triaged(db_url, backend, tmp_path):
    _, request_id, first = failed_by_outage(db_url, backend, tmp_path, n_jobs=1)
    report_dcache(db_url, "down")
    state = retry.stage_retries(db_url, request_id, "gen")
    assert (state.running, state.untriaged, state.waiting.job_indexes, state.ready) == ((), (), [0], None)
    assert "dcache" in state.blockers
    report_dcache(db_url, "up")  # the board says up; the storage itself is still down
    second = retry.submit_round(db_url, backend, retry.stage_retries(db_url, request_id, "gen").ready)
    state = retry.stage_retries(db_url, request_id, "gen")
    assert (state.running, state.ready, state.waiting, state.complete) == ((second,), None, None, False)
    assert (state.rounds, state.resubmitted) == (1, 1)
    track(db_url, backend, second)
    state = retry.stage_retries(db_url, request_id, "gen")
    assert (state.running, state.untriaged, state.complete) == ((), (second,), False)
    triage_stage(db_url, request_id, "gen", submission_id=second)
    third = retry.stage_retries(db_url, request_id, "gen").ready
    assert (third.attempt, third.job_indexes) == (3, [0])


def test_a_resource_retry_goes_at_once_while_a_service_retry_waits_for_its_service(db_url, backend, tmp_path):
    flag = tmp_path / "dcache-down"
    flag.write_text("")
    conf = {**FORM, "workflow": "demo", "n_jobs": 2, "request_memory_mb": 100,
            "workflow_options": {"records": 5, "sleep_s": 0, "exceed_memory": [1], "storage_down_flag": str(flag)}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="split", conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    report_dcache(db_url, "down")
    first = service.submit_workflow_stage(db_url, backend, request_id, "run")
    track(db_url, backend, first)
    triage_stage(db_url, request_id, "run")

    state = retry.stage_retries(db_url, request_id, "run")
    assert [(a["job_index"], a["category"]) for a in state.ready.actions] == [(1, "infrastructure")]
    assert state.ready.services == () and state.ready.attempt == 2
    assert [(a["job_index"], a["category"]) for a in state.waiting.actions] == [(0, "service")]
    assert "dcache" in state.blockers and not state.complete
    second = retry.submit_round(db_url, backend, state.ready)

    state = retry.stage_retries(db_url, request_id, "run")
    assert state.ready is None and state.waiting.job_indexes == [0] and state.running == (second,)
    flag.unlink()
    report_dcache(db_url, "up")
    ready = retry.stage_retries(db_url, request_id, "run").ready
    assert (ready.attempt, ready.job_indexes, ready.resumed) == (3, [0], None)  # beside the round still running
    third = retry.submit_round(db_url, backend, ready)
    track(db_url, backend, second)
    track(db_url, backend, third)
    for submission_id in (second, third):
        triage_stage(db_url, request_id, "run", submission_id=submission_id)
    state = retry.stage_retries(db_url, request_id, "run")
    assert (state.rounds, state.resubmitted, state.running, state.waiting) == (2, 2, (), None)
    # the demo job hogs twice its request: held again, it goes again at once with more, within its budget
    assert [(a["job_index"], a["attempt"], a["action"]) for a in state.ready.actions] == [
        (1, 2, "retry_more_resources")]
    with connect(db_url) as conn:
        latest = [a for a in records.jobs_of_stage(conn, request_id, "run") if a["latest"]]
    assert [(a["job_index"], a["attempt"], a["outcome"]) for a in latest] == [(0, 3, "succeeded"), (1, 2, "held")]


def test_a_held_job_retried_with_more_memory_is_removed_from_the_queue(db_url, backend):
    conf = {**FORM, "workflow": "demo", "n_jobs": 2, "request_memory_mb": 100,
            "workflow_options": {"records": 5, "sleep_s": 0, "exceed_memory": [1]}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="held", conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    first = service.submit_workflow_stage(db_url, backend, request_id, "run")
    track(db_url, backend, first)
    triage_stage(db_url, request_id, "run")
    plan = retry.plan_round(db_url, request_id, "run")
    assert [(a["proc_id"], a["state"], a["action"]) for a in plan.actions] == [(1, "held", "retry_more_resources")]
    second = retry.submit_round(db_url, backend, plan)

    with connect(db_url) as conn:
        handle = records.submission_handle(records.get_submission(conn, first))
    ads = {int(ad["ProcId"]): ad for ad in backend.poll(handle).ads}
    assert (ads[1]["JobStatus"], ads[0]["JobStatus"]) == (3, 4)  # removed; the succeeded job untouched
    assert ads[1]["RemoveReason"] == f"prodops: resubmitted as attempt 2 (submission {second})"
    verdict = rows(db_url, "SELECT action_state, action_note FROM triage_verdicts WHERE submission_id = %(s)s",
                   s=first)[0]
    assert verdict["action_state"] == "done" and "removed from the queue" in verdict["action_note"]
    spec = rows(db_url, "SELECT spec FROM submissions WHERE id = %(s)s", s=second)[0]["spec"]
    assert spec["job_indexes"] == [1] and spec["job_resources"][0]["request_memory_mb"] > 100
    recorded = rows(db_url, "SELECT state, hold_reason_code, remove_reason FROM job_attempts"
                            " WHERE submission_id = %(s)s AND proc_id = 1", s=first)[0]
    assert (recorded["state"], recorded["hold_reason_code"]) == ("removed", 34) and recorded["remove_reason"]
    before = rows(db_url, "SELECT * FROM triage_verdicts WHERE submission_id = %(s)s", s=first)
    triage_stage(db_url, request_id, "run")  # again: the verdict an action was taken on is kept as it was
    assert rows(db_url, "SELECT * FROM triage_verdicts WHERE submission_id = %(s)s", s=first) == before
    track(db_url, backend, second)
