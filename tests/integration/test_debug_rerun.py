"""Debug reruns on the real local pool and PostgreSQL: a code failure rerun with debug under its
job index, linked to the attempt it reruns, triaged like any attempt, shown side by side; never the
job's production attempt (outputs, report) and counted as wasted hours by accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodops.accounting.rollup import roll_up
from prodops.batch.base import SubmissionSpec
from prodops.batch.local import LocalPoolBackend
from prodops.batch.submit import expand_jobs, render_submit
from prodops.phases.harvest import harvest_stage
from prodops.request import service
from prodops.rerun.settings import DebugSettingsInvalid
from prodops.rerun.submit import submit_debug_rerun
from prodops.request.views import failures_by_category
from prodops.rerun.views import debug_reruns
from prodops.store.db import connect
from prodops.triage import retry
from prodops.triage.service import triage_stage
from prodops.web.triage import triage_data
from tests.integration import pool
from tests.integration.pool import rows, track

pytestmark = pytest.mark.integration

CODE_JOB = 1
FORM = {
    "experiment": "nova", "campaign": "debug", "workflow": "demo", "n_jobs": 3, "request_memory_mb": 128,
    "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 50, "justification": "debug reruns on the local pool",
    "contact": "ops@example.org", "workflow_options": {"records": 20, "sleep_s": 0, "fail_code": [CODE_JOB]},
}
DEBUG = {"level": "trace", "request_memory_mb": 256, "overrides": {"note": "why no rb::Track?"}}


@pytest.fixture
def backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    return LocalPoolBackend(pool_dir=tmp_path / "pool")


@pytest.fixture
def failed_request(db_url, backend):
    """A demo request whose job 1 failed with a code error, triaged."""
    return pool.ran_stage(db_url, backend, FORM, "debug-it")


def rerun(db_url, backend, request_id, run_id="manual__debug1", **selection):
    selection = selection or {"job_indexes": [CODE_JOB]}
    made = submit_debug_rerun(db_url, backend, {"request_id": request_id, **selection}, DEBUG, run_id=run_id,
                              requested_by="paola")
    track(db_url, backend, made.submission_id)
    harvest_stage(db_url, request_id, "run")
    triage_stage(db_url, request_id, "run")
    return made


def test_a_code_failure_is_rerun_with_debug_under_its_job_index_and_linked(db_url, backend, failed_request):
    request_id, first = failed_request
    made = rerun(db_url, backend, request_id)
    assert (made.stage, made.attempt, made.job_indexes) == ("run", 2, (CODE_JOB,))
    [link] = rows(db_url, "SELECT * FROM debug_reruns WHERE request_id = %(r)s", r=request_id)
    assert (link["submission_id"], link["proc_id"], link["job_index"]) == (made.submission_id, 0, CODE_JOB)
    assert (link["rerun_of_submission_id"], link["rerun_of_proc_id"]) == (first, CODE_JOB)
    assert link["requested_by"] == "paola" and link["settings"]["level"] == "trace"
    sub = rows(db_url, "SELECT kind, spec FROM submissions WHERE id = %(s)s", s=made.submission_id)[0]
    assert sub["kind"] == "debug" and sub["spec"]["debug"]["run_id"] == "manual__debug1"

    # what the job was given: the description as stored, rendered again by the real bindings
    [job] = expand_jobs(render_submit(SubmissionSpec.from_dict(sub["spec"])), cluster_id=1)
    assert job.environment["DEMO_LOG_LEVEL"] == "trace" and job.custom["ProdopsJobIndex"] == str(CODE_JOB)
    assert "--debug" in job.argv and job.request_memory_mb == 256

    # the rerun failed the same way, with more to read, and was triaged like any attempt
    verdict = rows(db_url, "SELECT * FROM triage_verdicts WHERE submission_id = %(s)s", s=made.submission_id)[0]
    assert (verdict["category"], verdict["rule"], verdict["job_index"]) == ("code", "art:ProductNotFound", CODE_JOB)
    original = rows(db_url, "SELECT * FROM triage_verdicts WHERE submission_id = %(s)s AND proc_id = %(p)s",
                    s=first, p=CODE_JOB)[0]
    assert (original["action_state"], original["retry_submission_id"]) == ("done", made.submission_id)
    phases = rows(db_url, "SELECT phase, state FROM job_phases WHERE submission_id = %(s)s", s=made.submission_id)
    assert ("process", "started") in {(p["phase"], p["state"]) for p in phases}  # the job posted its phases

    with connect(db_url) as conn:
        [pair] = debug_reruns(conn, request_id)
    assert pair["original"]["exit_code"] == pair["rerun"]["exit_code"] == 65
    assert pair["original"]["category"] == pair["rerun"]["category"] == "code"
    assert pair["rerun"]["evidence"] and any("DEBUG config: note = why no rb::Track?" in line
                                             for line in pair["rerun"]["tail"]["stdout"])
    assert not any("DEBUG" in line for line in pair["original"]["tail"]["stdout"])


def test_the_debug_attempt_is_never_the_jobs_production_attempt(db_url, backend, failed_request):
    request_id, first = failed_request
    made = rerun(db_url, backend, request_id)
    latest = rows(db_url, "SELECT submission_id, latest, kind FROM stage_job_attempts WHERE request_id = %(r)s"
                          " AND job_index = %(j)s ORDER BY attempt", r=request_id, j=CODE_JOB)
    assert [(r["submission_id"], r["latest"], r["kind"]) for r in latest] == [
        (first, True, "production"), (made.submission_id, False, "debug")]
    # nothing is planned from a debug attempt, and a retry never reruns its (debug) item
    assert retry.plan_round(db_url, request_id, "run") is None
    report = service.report_request(db_url, request_id, failed_tasks=[]).reports["run"]
    assert report["jobs"] == 3 and report["outcomes"] == {"failed": 1, "succeeded": 2}
    # the debug attempt failed too, and was judged, but it is no second failure of the stage
    assert len(rows(db_url, "SELECT 1 FROM triage_verdicts WHERE request_id = %(r)s", r=request_id)) == 2
    assert report["triage"]["failed_attempts"] == 1 and report["triage"]["by_category"] == {"code": 1}
    with connect(db_url) as conn:
        page = triage_data(conn, request_id, "run")
        by_category = failures_by_category(conn, [request_id])
    assert page is not None and page["failed"] == 1 and [g["jobs"] for g in page["groups"]] == [1]
    assert page["groups"][0]["sample_attempts"] == [f"{first}/{CODE_JOB}"]
    assert by_category == {request_id: {"code": 1}}


def test_accounting_counts_the_debug_attempt_as_wasted_hours(db_url, backend, failed_request):
    request_id, _ = failed_request
    made = rerun(db_url, backend, request_id)
    with connect(db_url) as conn:
        roll_up(conn)
        conn.commit()
    wall = rows(db_url, "SELECT remote_wall_clock_time AS w FROM job_attempts WHERE submission_id = %(s)s",
                s=made.submission_id)[0]["w"]
    ledger = rows(db_url, "SELECT waste_cause, wall_s, wasted_debug_rerun_s FROM accounting_attempts"
                          " WHERE submission_id = %(s)s", s=made.submission_id)[0]
    assert ledger["waste_cause"] == "debug_rerun" and ledger["wasted_debug_rerun_s"] == ledger["wall_s"] == wall
    total = rows(db_url, "SELECT sum(wasted_debug_rerun_s) AS s FROM accounting_rollup WHERE request_id = %(r)s",
                 r=request_id)[0]["s"]
    assert total == wall


def test_a_rerun_run_again_submits_nothing_twice(db_url, backend, failed_request):
    request_id, _ = failed_request
    made = rerun(db_url, backend, request_id)
    again = submit_debug_rerun(db_url, backend, {"request_id": request_id, "job_indexes": [CODE_JOB]}, DEBUG,
                               run_id="manual__debug1")
    assert again.submission_id == made.submission_id and again.resumed
    assert len(rows(db_url, "SELECT 1 FROM debug_reruns")) == 1
    assert len(rows(db_url, "SELECT 1 FROM submissions WHERE request_id = %(r)s", r=request_id)) == 2


def test_a_triage_filter_chooses_the_failed_jobs_of_that_category(db_url, backend, failed_request):
    request_id, _ = failed_request
    made = rerun(db_url, backend, request_id, run_id="manual__filter", category="code")
    assert made.job_indexes == (CODE_JOB,)
    with pytest.raises(DebugSettingsInvalid) as err:
        submit_debug_rerun(db_url, backend, {"request_id": request_id, "category": "service"}, DEBUG, run_id="x")
    assert "no failed job" in err.value.errors["category"]


def test_bad_choices_are_refused_naming_the_field_before_anything_is_written(db_url, backend, failed_request):
    request_id, _ = failed_request
    cases = [({"request_id": request_id}, DEBUG, "job_indexes"),
             ({"request_id": request_id, "job_indexes": [7]}, DEBUG, "job_indexes"),
             ({"request_id": request_id, "job_indexes": [1]}, {"level": "loud"}, "debug.level"),
             ({"request_id": request_id, "job_indexes": [1]}, {"level": "debug", "overrides": {"x": 1}},
              "debug.overrides.x")]
    for selection, debug, field in cases:
        with pytest.raises(DebugSettingsInvalid) as err:
            submit_debug_rerun(db_url, backend, selection, debug, run_id="bad")
        assert field in err.value.errors, (selection, debug, err.value.errors)
    assert len(rows(db_url, "SELECT 1 FROM submissions WHERE request_id = %(r)s", r=request_id)) == 1
    assert rows(db_url, "SELECT 1 FROM debug_reruns") == []


def test_a_debug_attempt_s_outputs_are_never_the_stage_s_outputs_nor_checked(db_url, backend):
    """mc_chain gen: job 0 rerun with debug succeeds and writes its file; the stage's outputs, its DQ
    checks and the next stage's inputs are still the production attempts' only."""
    from prodops.quality.stage import check_stage_outputs, collect_stage_outputs
    from prodops.stage import stage_input_files
    from prodops.workflows import load_templates

    form = {**FORM, "workflow": "mc_chain", "workflow_options": {"events_per_job": 4, "sleep_s": 0}}
    request_id, first = pool.ran_stage(db_url, backend, form, "debug-mc", stage="gen")
    made = submit_debug_rerun(db_url, backend, {"request_id": request_id, "job_indexes": [0]},
                              {"level": "debug", "overrides": {"events_per_job": 7}}, run_id="manual__mc")
    track(db_url, backend, made.submission_id)
    assert rows(db_url, "SELECT outcome FROM job_attempts WHERE submission_id = %(s)s",
                s=made.submission_id)[0]["outcome"] == "succeeded"
    workdir = rows(db_url, "SELECT workdir FROM submissions WHERE id = %(s)s", s=made.submission_id)[0]["workdir"]
    assert any(Path(workdir).glob("manifest_gen_0.json"))  # the debug job did declare an output
    collect_stage_outputs(db_url, request_id, "gen")
    outputs = rows(db_url, "SELECT DISTINCT submission_id FROM job_outputs o JOIN submissions s ON s.id = o.submission_id"
                           " WHERE s.request_id = %(r)s", r=request_id)
    assert [o["submission_id"] for o in outputs] == [first]
    assert all(r.success for r in check_stage_outputs(db_url, request_id, "gen", load_templates()["mc_chain"]))
    with connect(db_url) as conn:
        request = conn.execute("SELECT * FROM requests WHERE id = %(r)s", {"r": request_id}).fetchone()
        inputs = stage_input_files(conn, request, load_templates()["mc_chain"], "g4")
    assert len(inputs) == 3 and set(inputs.values()) == {4}  # not the debug job's 7 events
    assert not any("attempt-2-debug" in path for path in inputs)


def test_a_planned_retry_of_a_job_rerun_with_debug_still_goes_as_its_own_round(db_url, backend):
    """Job 0 goes over its memory (a retry with more memory is planned); a debug rerun of it is no retry round."""
    form = {**FORM, "workflow_options": {"records": 5, "sleep_s": 0, "exceed_memory": [0]}}
    request_id, first = pool.ran_stage(db_url, backend, form, "debug-rt")
    made = submit_debug_rerun(db_url, backend, {"request_id": request_id, "job_indexes": [0]},
                              {"level": "debug", "request_memory_mb": 1024}, run_id="manual__rt")
    track(db_url, backend, made.submission_id)
    plan = retry.plan_round(db_url, request_id, "run")
    assert plan is not None and plan.resumed is None and plan.job_indexes == [0] and plan.attempt == made.attempt + 1
    spec = retry.round_spec(plan)
    assert "--debug" not in spec.items[0] and not spec.debug and "DEMO_LOG_LEVEL" not in spec.environment
    assert retry.stage_retries(db_url, request_id, "run").rounds == 0
