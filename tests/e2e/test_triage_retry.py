"""Triage and retry through a running Airflow: dCache goes down while the jobs stream from it
(the outage is reported through the status API), the failed jobs are classified `service` while the
stage is tracked and retried by the tracking step as soon as dCache is up, and succeed; a job with a code error is classified
`code`, not retried, and listed with its evidence line; then rerun with debug through the
`debug_rerun` DAG: linked to the attempt it reruns, its phases posted by the job, shown beside the
original on the request page, and accounted as wasted hours."""

from __future__ import annotations

import os
import time

import pytest
import requests

from prodops.accounting.rollup import roll_up
from prodops.store.db import connect

os.environ.setdefault("PRODOPS_PREFLIGHT_POLL_INTERVAL", "2")

DAG = "production_request"
CODE_JOB = 2
STREAMING = [0, 1, 3]
WORKFLOW = "workflow_demo-grid"
PREFIX = "run"


def form(flag: str) -> dict:
    return {
        "experiment": "nova", "campaign": "e2e-triage", "workflow": "demo-grid", "n_jobs": 4,
        "request_memory_mb": 100, "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 40,
        "justification": "end-to-end test of triage and retries", "contact": "paola@example.org",
        # the jobs stream their records from the demo storage for about 25 s
        "workflow_options": {"records": 50, "sleep_s": 25, "fail_code": [CODE_JOB], "storage_down_flag": flag},
    }


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(2)


def fetch(url: str, sql: str, **params) -> list[dict]:
    with connect(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def feeder(airflow):
    def push(*events: dict) -> None:  # `manual` events are a person's word: posted with the Airflow login
        r = requests.post(f"{airflow.base_url}/prodops/api/v1/events", json={"events": list(events)},
                          headers={"Authorization": f"Bearer {airflow.token()}"}, timeout=30)
        assert r.status_code == 200, r.text

    return push


@pytest.fixture(scope="module")
def outage_run(airflow, feeder, tmp_path_factory):
    """The run, driven through the outage; returns (run_id, request_id, states seen while dCache was down)."""
    flag = tmp_path_factory.mktemp("demo-storage") / "dcache-down"
    feeder({"service": "dcache", "state": "up", "source": "manual"},
           {"service": "samweb", "state": "up", "source": "manual"})
    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, form(str(flag)))
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 60, "note": "outage drill"})
    airflow.wait_for_task_state(WORKFLOW, run_id, f"{PREFIX}.track_stage", ["deferred"], timeout=120)

    flag.write_text("")  # dCache goes down under the streaming jobs, and monitoring says so
    feeder({"service": "dcache", "state": "down", "source": "manual", "message": "pool nodes offline"})
    request_id = fetch(airflow.prodops_db_url, "SELECT id FROM requests WHERE run_id = %(r)s", r=run_id)[0]["id"]
    # every job fails and is triaged while the stage is tracked; the service retries wait there
    wait_until(lambda: len(fetch(airflow.prodops_db_url, "SELECT 1 FROM triage_verdicts WHERE request_id = %(r)s",
                                 r=request_id)) == len(STREAMING) + 1, timeout=240, what="a verdict for every job")
    wait_until(lambda: "wait for preflight" in airflow.task_log(WORKFLOW, run_id, f"{PREFIX}.track_stage"), timeout=90,
               what="the track_stage log to say the retries wait for preflight")
    # it woke up once to tell on-call, and waits in the triggerer again
    airflow.wait_for_task_state(WORKFLOW, run_id, f"{PREFIX}.track_stage", ["deferred"], timeout=120)
    while_down = {
        "submissions": fetch(airflow.prodops_db_url, "SELECT attempt FROM submissions WHERE request_id = %(r)s",
                             r=request_id),
        "track_log": airflow.task_log(WORKFLOW, run_id, f"{PREFIX}.track_stage"),
        "track_state": airflow.task_instance(WORKFLOW, run_id, f"{PREFIX}.track_stage")["state"],
    }

    flag.unlink()  # dCache is back
    feeder({"service": "dcache", "state": "up", "source": "manual"})
    assert airflow.wait_for_run(DAG, run_id, timeout=400) == "success"
    return run_id, request_id, while_down


def test_failed_jobs_wait_for_the_service_then_are_retried_and_succeed(airflow, outage_run):
    run_id, request_id, while_down = outage_run
    url = airflow.prodops_db_url
    assert [s["attempt"] for s in while_down["submissions"]] == [1]  # nothing resubmitted while dCache was down
    assert "dcache" in while_down["track_log"] and while_down["track_state"] == "deferred"

    verdicts = {v["proc_id"]: v for v in fetch(url, "SELECT v.* FROM triage_verdicts v JOIN submissions s"
                                                    " ON s.id = v.submission_id"
                                                    " WHERE v.request_id = %(r)s AND s.attempt = 1", r=request_id)}
    assert sorted(verdicts) == sorted(STREAMING + [CODE_JOB])
    second = fetch(url, "SELECT * FROM submissions WHERE request_id = %(r)s AND attempt = 2", r=request_id)[0]
    assert second["spec"]["job_indexes"] == STREAMING
    for proc in STREAMING:
        v = verdicts[proc]
        assert (v["category"], v["rule"], v["action"]) == ("service", "xrootd-3011-no-server", "retry"), v
        # other tests of the session may have taken samweb down shortly before: within the margin too
        assert v["confidence"] >= 0.9 and "dcache" in {o["service"] for o in v["outages"]}
        assert "[3011]" in v["evidence"][0]["text"]
        assert (v["action_state"], v["retry_submission_id"]) == ("done", second["id"])
    retried = fetch(url, "SELECT state, exit_code FROM job_attempts WHERE submission_id = %(s)s", s=second["id"])
    assert [(j["state"], j["exit_code"]) for j in retried] == [("completed", 0)] * len(STREAMING)
    assert fetch(url, "SELECT count(*) AS n FROM submissions WHERE request_id = %(r)s", r=request_id)[0]["n"] == 2

    report = fetch(url, "SELECT report FROM stage_reports WHERE request_id = %(r)s", r=request_id)[0]["report"]
    assert (report["jobs"], report["attempts"], report["retried_jobs"], report["recovered_jobs"]) == (4, 7, 3, 3)
    assert report["outcomes"] == {"failed": 1, "succeeded": 3}
    outputs = fetch(url, "SELECT count(*) AS n FROM job_outputs o JOIN submissions s ON s.id = o.submission_id"
                         " WHERE s.request_id = %(r)s", r=request_id)
    assert outputs[0]["n"] == 0  # the demo jobs declare no manifest; the report and checks above saw all four jobs
    log = airflow.task_log(WORKFLOW, run_id, f"{PREFIX}.track_stage", try_number=1)
    assert "retry round attempt 2, 3 jobs" in log and "is complete: 1 retry rounds, 3 jobs resubmitted" in log


def test_the_code_failure_is_not_retried_and_is_listed_with_its_evidence(airflow, outage_run):
    run_id, request_id, _ = outage_run
    v = fetch(airflow.prodops_db_url, "SELECT * FROM triage_verdicts WHERE request_id = %(r)s AND job_index = %(j)s",
              r=request_id, j=CODE_JOB)
    assert len(v) == 1  # one attempt only
    v = v[0]
    assert (v["category"], v["rule"], v["action"], v["retry_submission_id"]) == (
        "code", "art:ProductNotFound", "debug_rerun", None)
    # the evidence is the innermost exception's message, not the block's BEGIN line
    assert v["evidence"][0]["text"].strip().startswith("getByLabel") and v["evidence"][0]["line"]
    assert v["signature"] and v["decision"]["winner"] == "art:ProductNotFound"

    log = airflow.task_log(WORKFLOW, run_id, f"{PREFIX}.triage_failures")
    assert "For a debug rerun (code failures, not retried)" in log and "getByLabel" in log
    groups = airflow.call("GET", f"/prodops/api/v1/triage/{request_id}")
    assert any(g["category"] == "code" and g["rule"] == "art:ProductNotFound" and g["signature"] == v["signature"]
               for g in groups["groups"])
    page = airflow.request("GET", f"/prodops/triage/{request_id}").text
    assert f'data-signature="{v["signature"]}"' in page
    request = fetch(airflow.prodops_db_url, "SELECT state FROM requests WHERE id = %(r)s", r=request_id)[0]
    assert request["state"] == "failed"  # a job still needs a person


@pytest.fixture(scope="module")
def debug_run(airflow, outage_run):
    """The code failure rerun with debug through the debug_rerun DAG; returns its run id."""
    _, request_id, _ = outage_run
    airflow.wait_for_dag("debug_rerun")
    airflow.unpause("debug_rerun")
    run_id = airflow.trigger("debug_rerun", {"request_id": request_id, "job_indexes": [CODE_JOB], "level": "trace",
                                             "overrides": {"records": 5, "sleep_s": 0}})
    assert airflow.wait_for_run("debug_rerun", run_id, timeout=400) == "success"
    return run_id


def test_the_code_failure_rerun_with_debug_is_linked_triaged_shown_and_accounted(airflow, outage_run, debug_run):
    _, request_id, _ = outage_run
    url = airflow.prodops_db_url
    [link] = fetch(url, "SELECT * FROM debug_reruns WHERE request_id = %(r)s", r=request_id)
    first = fetch(url, "SELECT id FROM submissions WHERE request_id = %(r)s AND attempt = 1", r=request_id)[0]["id"]
    assert (link["rerun_of_submission_id"], link["rerun_of_proc_id"], link["job_index"]) == (first, CODE_JOB, CODE_JOB)
    assert link["run_id"] == debug_run
    rerun = fetch(url, "SELECT * FROM submissions WHERE id = %(s)s", s=link["submission_id"])[0]
    assert (rerun["kind"], rerun["attempt"], rerun["spec"]["job_indexes"]) == ("debug", 3, [CODE_JOB])
    assert rerun["spec"]["environment"]["DEMO_LOG_LEVEL"] == "trace"
    v = fetch(url, "SELECT * FROM triage_verdicts WHERE submission_id = %(s)s", s=link["submission_id"])[0]
    assert (v["category"], v["rule"], v["job_index"]) == ("code", "art:ProductNotFound", CODE_JOB)
    # the job reported its phases itself (to the API, or as stdout markers if a post could not go)
    phases = fetch(url, "SELECT phase, state, source FROM job_phases WHERE submission_id = %(s)s",
                   s=link["submission_id"])
    assert ("process", "started") in {(p["phase"], p["state"]) for p in phases}, phases
    # the job's production attempt is still the original one
    latest = fetch(url, "SELECT submission_id FROM stage_job_attempts WHERE request_id = %(r)s AND job_index = %(j)s"
                        " AND latest", r=request_id, j=CODE_JOB)
    assert [r["submission_id"] for r in latest] == [first]

    page = airflow.request("GET", f"/prodops/requests/{request_id}").text
    assert f'data-rerun="{link["submission_id"]}.0"' in page and "DEBUG config: log_level = trace" in page
    [pair] = airflow.call("GET", f"/prodops/api/v1/requests/{request_id}")["debug_reruns"]
    assert (pair["original"]["exit_code"], pair["rerun"]["exit_code"]) == (65, 65)
    assert pair["original"]["category"] == pair["rerun"]["category"] == "code"
    assert "job 2: attempt 1 exit 65 code/art:ProductNotFound -> debug attempt 3 exit 65" in airflow.task_log(
        "debug_rerun", debug_run, "triage_rerun")

    # the accounting rows that follow (as the job_accounting DAG rolls them up): its wall time is wasted, for debug
    with connect(url) as conn:
        roll_up(conn)
        conn.commit()
    ledger = fetch(url, "SELECT waste_cause, wall_s, wasted_debug_rerun_s FROM accounting_attempts"
                        " WHERE submission_id = %(s)s", s=link["submission_id"])[0]
    assert ledger["waste_cause"] == "debug_rerun" and ledger["wasted_debug_rerun_s"] == ledger["wall_s"]

