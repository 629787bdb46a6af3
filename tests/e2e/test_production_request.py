"""A production request through a running Airflow: trigger, approve (HITL REST), submit to the
local pool, track in the triggerer, report; reject; invalid forms; expiry; clear and rerun."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

import devenv
from prodops.store.db import connect

from .airflow_client import AirflowAPIError, AirflowClient

DAG = "production_request"
WORKFLOW = "workflow_demo"
"""The demo's lifecycle: run by DAG's run_workflow under the same run id."""
STAGE_TASKS = ("submit_stage", "track_stage", "triage_failures", "retry_failures", "collect_outputs", "check_outputs")
N_JOBS = 20
FAIL_EXIT = [3, 7, 11]
FAIL_SIGNAL = [5]
EXCEED_MEMORY = [9]
FORM = {
    "experiment": "nova",
    "campaign": "e2e-spine",
    "workflow": "demo",
    "n_jobs": N_JOBS,
    "request_memory_mb": 100,
    "request_disk_mb": 100,
    "max_wall_time_min": 10,
    "priority": 40,
    "justification": "end-to-end test of the production request spine",
    "contact": "paola@example.org",
    "workflow_options": {
        "records": 50, "sleep_s": 1, "fail_exit": FAIL_EXIT, "fail_signal": FAIL_SIGNAL, "exceed_memory": EXCEED_MEMORY,
    },
}


def fetch(url: str, sql: str, **params) -> list[dict]:
    with connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def request_row(airflow, run_id: str) -> dict | None:
    rows = fetch(airflow.prodops_db_url, "SELECT * FROM requests WHERE dag_id = %(d)s AND run_id = %(r)s", d=DAG, r=run_id)
    return rows[0] if rows else None


def snapshot(airflow, request_id: int) -> dict:
    """Everything a rerun must leave unchanged."""
    url = airflow.prodops_db_url
    return {
        "submissions": fetch(url, "SELECT id, stage, attempt, cluster_id, num_jobs FROM submissions"
                                  " WHERE request_id = %(r)s ORDER BY id", r=request_id),
        "jobs": fetch(url, "SELECT s.attempt, j.submission_id, j.proc_id, j.state, j.exit_code, j.exit_signal,"
                           " j.hold_reason_code, j.request_memory_mb, j.ad_hash"
                           " FROM job_attempts j JOIN submissions s ON s.id = j.submission_id"
                           " WHERE s.request_id = %(r)s ORDER BY s.attempt, j.proc_id", r=request_id),
        "verdicts": fetch(url, "SELECT submission_id, proc_id, action, action_state, verdict_hash FROM triage_verdicts"
                               " WHERE request_id = %(r)s ORDER BY submission_id, proc_id", r=request_id),
        "events": fetch(url, "SELECT count(*) AS n FROM job_events e JOIN submissions s ON s.id = e.submission_id"
                             " WHERE s.request_id = %(r)s", r=request_id)[0]["n"],
        "reports": fetch(url, "SELECT stage, report FROM stage_reports WHERE request_id = %(r)s", r=request_id),
        "phases": phase_rows(airflow, request_id),
    }


def phase_rows(airflow, request_id: int) -> list[dict]:
    return fetch(airflow.prodops_db_url, "SELECT s.attempt, s.workdir, s.spec -> 'job_indexes' AS job_indexes,"
                                         " p.submission_id, p.job_index, p.phase, p.state, p.status_code, p.source,"
                                         " p.reported_at FROM job_phases p"
                                         " JOIN submissions s ON s.id = p.submission_id WHERE s.request_id = %(r)s"
                                         " ORDER BY p.submission_id, p.job_index, p.phase, p.state", r=request_id)


def open_request(airflow, form: dict = FORM) -> str:
    """Trigger a request and wait until its approval gate asks; returns the run id."""
    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, form)
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    details = airflow.hitl_details(DAG, run_id)
    assert len(details) == 1 and details[0]["subject"].startswith("Approve production request")
    assert f"({form['experiment']} / {form['campaign']})" in details[0]["subject"]
    assert f"**Justification:** `{form['justification']}`" in details[0]["body"]
    assert set(details[0]["params"]) == {"approved_priority", "note"}
    return run_id


def approve_and_finish(airflow, run_id: str, *, at_once: bool = False, workflow: str = WORKFLOW) -> None:
    """Approve (priority 80, note "go") and wait until the run succeeded.

    ``at_once``: answer the moment the gate asks, as a fast approver would. Airflow 3.3.2 may fail
    that try (the answer race); the gate's next try must complete with this answer without asking
    again (a gate that asked again would wait here, and the run would not reach track_stage)."""
    answer = {"approved_priority": 80, "note": "go"}
    if at_once:
        airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], answer, wait=False)
    else:
        airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], answer)
    airflow.wait_for_task_state(workflow, run_id, "run.track_stage", ["deferred"], timeout=120)
    assert airflow.wait_for_run(DAG, run_id, timeout=300) == "success"  # run_workflow waited for it
    assert airflow.dag_run(workflow, run_id)["state"] == "success"


@pytest.fixture(scope="module")
def approved_run(airflow):
    run_id = open_request(airflow)
    approve_and_finish(airflow, run_id, at_once=True)
    gate = airflow.task_instance(DAG, run_id, "await_approval")
    print(f"await_approval answered at once: state {gate['state']}, try {gate['try_number']} (2+: the race struck)")
    return run_id


def test_approved_request_runs_and_records_every_job(airflow, approved_run):
    assert_request_records(airflow, approved_run)


def assert_request_records(airflow, approved_run: str) -> None:
    """The records of the approved FORM request: every job's attempt, verdicts, retries, report
    (also asserted on the Celery topology, tests/e2e/test_celery.py)."""
    request = request_row(airflow, approved_run)
    assert request["state"] == "failed"  # some jobs failed on purpose
    assert (request["priority"], request["decided_by"], request["decision_note"]) == (80, "admin", "go")

    taken = snapshot(airflow, request["id"])
    jobs = {j["proc_id"]: j for j in taken["jobs"] if j["attempt"] == 1}
    assert sorted(jobs) == list(range(N_JOBS))
    for proc, job in jobs.items():
        if proc in FAIL_EXIT:
            assert (job["state"], job["exit_code"]) == ("completed", 3), job
        elif proc in FAIL_SIGNAL:
            assert (job["state"], job["exit_signal"]) == ("completed", 9), job
        elif proc in EXCEED_MEMORY:  # held, then removed from the queue when it was retried
            assert (job["state"], job["hold_reason_code"]) == ("removed", 34), job
        else:
            assert (job["state"], job["exit_code"]) == ("completed", 0), job

    # the demo's classifier plugin calls the exit-3 and SIGKILL jobs code failures (they were told to
    # fail): listed for a debug rerun, never retried; the memory overrun is retried with more memory
    by_job = fetch(airflow.prodops_db_url, "SELECT v.job_index, v.attempt, v.category, v.action, v.action_state,"
                                           " v.action_reason, j.request_memory_mb FROM triage_verdicts v"
                                           " JOIN job_attempts j USING (submission_id, proc_id)"
                                           " WHERE v.request_id = %(r)s ORDER BY v.job_index, v.attempt",
                   r=request["id"])
    memory = [v for v in by_job if v["job_index"] == EXCEED_MEMORY[0]]
    assert memory[0]["action"] == "retry_more_resources" and memory[0]["action_state"] == "done"
    asked = [j["request_memory_mb"] for j in taken["jobs"]  # the retries are all of that one job
             if (j["attempt"], j["proc_id"]) == (1, EXCEED_MEMORY[0]) or j["attempt"] > 1]
    assert len(asked) >= 2 and all(b > a for a, b in zip(asked, asked[1:])), asked  # more memory every attempt
    code = [v for v in by_job if v["job_index"] in FAIL_EXIT + FAIL_SIGNAL]
    assert [(v["attempt"], v["category"], v["action"]) for v in code] == [(1, "code", "debug_rerun")] * 4

    report = taken["reports"][0]["report"]
    memory_ok = report["outcomes"].get("held", 0) == 0  # enough memory within the resource retries
    assert report["jobs"] == N_JOBS and report["retried_jobs"] == 1
    assert report["outcomes"] == {"succeeded": 15 + memory_ok, "failed": 3, "killed": 1, **({} if memory_ok else {"held": 1})}
    assert report["exit_codes"] == {"0": 15 + memory_ok, "3": 3} and report["signals"] == {"9": 1}
    assert report["attempts"] == N_JOBS + len(memory) + memory_ok - 1
    if not memory_ok:
        assert list(report["hold_reasons"])[0].startswith("34/")
    assert report["cpu_time_s"]["total"] > 0 and report["wall_time_s"]["total"] > 0
    assert "failed" in airflow.task_log(WORKFLOW, approved_run, "run.triage_failures")

    log = airflow.task_log(WORKFLOW, approved_run, "report")
    assert "20 jobs" in log and "succeeded=" in log and "jobs retried 1" in log and "CPU efficiency" in log


ALL_PHASES = {("process", "started"), ("process", "finished"), ("copy-out", "started"), ("copy-out", "finished")}


def test_the_demo_jobs_post_their_phases_through_the_api(airflow, approved_run):
    assert_phases_posted(airflow, approved_run)


def assert_phases_posted(airflow, approved_run: str) -> None:
    """Every job reports process and copy-out (issue 13 item 2). A post may legitimately fall back to
    the stdout marker on a loaded machine, so each row is either posted, or harvested from a job whose
    client said on stderr that it could not post that event; and the API path is proven by the rows
    posted. The route refuses a post without the submission's token on the real api-server."""
    request = request_row(airflow, approved_run)
    rows = phase_rows(airflow, request["id"])
    by_attempt: dict[tuple[int, int], set] = {}
    for r in rows:
        by_attempt.setdefault((r["attempt"], r["job_index"]), set()).add((r["phase"], r["state"]))
    first = {job: phases for (attempt, job), phases in by_attempt.items() if attempt == 1}
    assert sorted(first) == list(range(N_JOBS)), sorted(first)
    for job, phases in first.items():
        if job in EXCEED_MEMORY:  # held while it allocates, after it said it started
            assert ("process", "started") in phases, (job, phases)
        else:
            assert phases == ALL_PHASES, (job, phases)
    finished = {(r["attempt"], r["job_index"]): r["status_code"] for r in rows
                if (r["phase"], r["state"]) == ("process", "finished")}
    assert all(finished[(1, job)] == 0 for job in FAIL_EXIT + FAIL_SIGNAL)  # they fail after their phases

    posted = [r for r in rows if r["source"] == "api"]
    assert posted and {r["source"] for r in rows} <= {"api", "stdout"}
    for r in rows:
        if r["source"] == "stdout":  # only ever the client's fallback, which says so on the job's stderr
            proc = r["job_indexes"].index(r["job_index"]) if r["job_indexes"] else r["job_index"]
            err = (Path(r["workdir"]) / f"job.{proc}.err").read_text()
            assert f"prodops_phase: {r['phase']} {r['state']} not posted" in err, (r, err)

    sid = rows[0]["submission_id"]
    url = f"{airflow.base_url}/prodops/api/v1/submissions/{sid}/phases"
    body = {"job_index": 0, "phase": "forged", "state": "started"}
    assert requests.post(url, json=body, timeout=60).status_code == 401
    assert requests.post(url, json=body, headers={"Authorization": "Bearer pjt_forged"}, timeout=60).status_code == 401
    assert not [r for r in phase_rows(airflow, request["id"]) if r["phase"] == "forged"]


def test_clearing_tasks_of_a_finished_run_leaves_the_same_rows(airflow, approved_run):
    request_id = request_row(airflow, approved_run)["id"]
    before = snapshot(airflow, request_id)
    airflow.clear_task(WORKFLOW, approved_run, [f"run.{t}" for t in STAGE_TASKS] + ["report"])
    assert airflow.wait_for_run(WORKFLOW, approved_run, timeout=300) == "success"
    assert snapshot(airflow, request_id) == before
    airflow.clear_task(DAG, approved_run, ["validate_request"])
    assert airflow.wait_for_run(DAG, approved_run, timeout=300) == "success"
    assert snapshot(airflow, request_id) == before
    assert len(fetch(airflow.prodops_db_url, "SELECT id FROM requests WHERE run_id = %(r)s", r=approved_run)) == 1

    airflow.clear_task(DAG, approved_run, ["await_approval"])  # the gate opens again
    airflow.wait_for_task_state(DAG, approved_run, "await_approval", ["awaiting_input"], timeout=120)
    airflow.answer_hitl(DAG, approved_run, "await_approval", ["Approve"], {"approved_priority": 81, "note": "again"})
    assert airflow.wait_for_run(DAG, approved_run, timeout=300) == "success"
    assert snapshot(airflow, request_id) == before
    assert request_row(airflow, approved_run)["decision_note"] == "again"


def test_rejected_request_submits_nothing(airflow):
    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, {**FORM, "campaign": "e2e-reject"})
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    # only the experiment's approvers (include/approvers.yaml: the admin role) may answer: Airflow
    # refuses the operator, who may otherwise update the DAG's tasks (issue 15, item 7)
    assert airflow.hitl_details(DAG, run_id)[0]["assigned_users"] == [{"id": "admin", "name": "admin"}]
    operator = AirflowClient(
        airflow.base_url,
        devenv.user_password(airflow.airflow_home, devenv.OPERATOR_USER),
        username=devenv.OPERATOR_USER,
    )
    with pytest.raises(AirflowAPIError) as refused:
        operator.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 100, "note": "mine"})
    assert refused.value.status_code == 403 and "not a respondent" in str(refused.value.body)
    airflow.answer_hitl(DAG, run_id, "await_approval", ["Reject"], {"approved_priority": 0, "note": "not this week"})
    assert airflow.wait_for_run(DAG, run_id, timeout=180) == "success"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG, run_id)}
    assert states == {"validate_request": "success", "await_approval": "success", "run_workflow": "skipped"}
    assert airflow.request("GET", f"/api/v2/dags/{WORKFLOW}/dagRuns/{run_id}").status_code == 404  # never run
    request = request_row(airflow, run_id)
    assert (request["state"], request["decision_note"]) == ("rejected", "not this week")
    assert fetch(airflow.prodops_db_url, "SELECT id FROM submissions WHERE request_id = %(r)s", r=request["id"]) == []


def test_form_that_breaks_the_schema_is_refused_naming_the_field(airflow):
    with pytest.raises(AirflowAPIError) as err:
        airflow.trigger(DAG, {**FORM, "n_jobs": 0})
    assert err.value.status_code == 400 and "n_jobs" in str(err.value.body)


def test_newline_in_the_campaign_is_refused_before_a_run_exists_and_nothing_is_submitted(airflow):
    """The submit-description injection of issue 10: refused by the trigger API (the form's schema)."""
    airflow.unpause(DAG)
    campaign = "poc\nexecutable = /usr/bin/touch\narguments = pwned\nz = "
    before = airflow.call("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"limit": 1000})["total_entries"]
    with pytest.raises(AirflowAPIError) as err:
        airflow.trigger(DAG, {**FORM, "campaign": campaign})
    assert err.value.status_code == 400 and "campaign" in str(err.value.body)
    assert airflow.call("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"limit": 1000})["total_entries"] == before
    assert fetch(airflow.prodops_db_url, "SELECT id FROM requests WHERE form->>'campaign' LIKE %(p)s", p="poc%") == []


def test_invalid_request_fails_validate_request_naming_each_field(airflow):
    airflow.unpause(DAG)
    bad = {**FORM, "campaign": "e2e-invalid", "n_jobs": None, "workflow_options": {"fail_exit": ["three"]}}
    run_id = airflow.trigger(DAG, bad)
    assert airflow.wait_for_run(DAG, run_id, timeout=180) == "failed"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(DAG, run_id)}
    assert states["validate_request"] == "failed" and states["await_approval"] == "upstream_failed"
    log = airflow.task_log(DAG, run_id, "validate_request")
    assert "n_jobs: give an input dataset or a number of jobs" in log
    assert "workflow_options.fail_exit.0" in log
    assert request_row(airflow, run_id) is None


def test_unanswered_request_expires(airflow):
    airflow.unpause(DAG)
    airflow.call("POST", "/api/v2/variables", json={"key": "prodops_approval_timeout_hours", "value": "0.002"})
    try:
        run_id = airflow.trigger(DAG, {**FORM, "campaign": "e2e-expire"})
        assert airflow.wait_for_run(DAG, run_id, timeout=180) == "success"
    finally:
        airflow.call("DELETE", "/api/v2/variables/prodops_approval_timeout_hours")
    request = request_row(airflow, run_id)
    assert request["state"] == "expired"
    assert fetch(airflow.prodops_db_url, "SELECT id FROM submissions WHERE request_id = %(r)s", r=request["id"]) == []


def test_a_run_marked_failed_while_it_waits_for_approval_ends_its_request(airflow):
    """The request follows its run even when no task of it could say so (issue 15: the approval
    race left requests pending for ever): the plugin's listener ends it ``failed``."""
    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, {**FORM, "campaign": "e2e-marked-failed"})
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    airflow.call("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run_id}", json={"state": "failed"})
    assert airflow.wait_for_run(DAG, run_id, timeout=120) == "failed"
    deadline = time.monotonic() + 60
    while request_row(airflow, run_id)["state"] == "pending_approval" and time.monotonic() < deadline:
        time.sleep(1)
    request = request_row(airflow, run_id)
    assert request["state"] == "failed" and "failed before prodops recorded" in request["ended_reason"]
