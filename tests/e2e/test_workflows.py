"""The MC chain through a running Airflow: four stages on the local pool, manifests, data
quality and merged output, reco held at its own preflight while dCache is down; a zero-size
file stops the chain before the next stage."""

from __future__ import annotations

import requests

from prodops.store.db import connect

DAG = "production_request"
WORKFLOW = "workflow_mc_chain"
CHAIN = ("gen", "g4", "reco", "merge")
FORM = {
    "experiment": "nova", "campaign": "e2e-mc", "workflow": "mc_chain", "n_jobs": 4, "request_memory_mb": 200,
    "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 50,
    "justification": "end-to-end test of the Monte Carlo chain", "contact": "mc@example.org",
    "workflow_options": {"events_per_job": 25, "sleep_s": 0.2},
}


def fetch(url: str, sql: str, **params) -> list[dict]:
    with connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def run_approved(airflow, conf: dict) -> tuple[str, str]:
    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, conf)
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 60, "note": "mc"})
    return run_id, airflow.wait_for_run(DAG, run_id, timeout=420)


def request_id_of(airflow, run_id: str) -> int:
    return fetch(airflow.prodops_db_url, "SELECT id FROM requests WHERE run_id = %(r)s", r=run_id)[0]["id"]


def report_manual(airflow, events: list[dict]) -> None:
    """A person's word on the board (the Airflow login's token: a feeder may not post `manual`)."""
    r = requests.post(f"{airflow.base_url}/prodops/api/v1/events", json={"events": events},
                      headers={"Authorization": f"Bearer {airflow.token()}"}, timeout=30)
    assert r.status_code == 200 and r.json()["stored"] == len(events), r.text


def test_mc_chain_runs_all_four_stages_with_checked_outputs(airflow):
    """Every stage gated by its own services: the chain starts (the workflow as a whole needs
    nothing), gen and g4 run, and reco, which needs dCache, waits at its own preflight with nothing
    submitted until dCache is reported up; then the chain ends with checked outputs."""
    report_manual(airflow, [{"service": "dcache", "state": "down", "source": "manual"},
                            {"service": "conditions-db", "state": "up", "source": "manual"}])
    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, FORM)
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 60, "note": "mc"})
    airflow.wait_for_task_state(WORKFLOW, run_id, "reco.preflight", ["deferred"], timeout=600)
    held = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(WORKFLOW, run_id)}
    assert held["preflight"] == "success" and held["g4.check_outputs"] == "success", held
    submitted = fetch(airflow.prodops_db_url, "SELECT DISTINCT s.stage FROM submissions s JOIN requests r"
                      " ON r.id = s.request_id WHERE r.run_id = %(r)s", r=run_id)
    assert {s["stage"] for s in submitted} == {"gen", "g4"}  # nothing of reco went into the outage
    # dCache comes back once the scheduler has seen the wait begin (as an outage would: Airflow 3.3.2
    # fails a try whose trigger fires before that; the sensor's retry would recover, this keeps one try)
    airflow.wait_until_answerable(WORKFLOW, run_id, "reco.preflight")
    report_manual(airflow, [{"service": "dcache", "state": "up", "source": "manual"}])
    state = airflow.wait_for_run(DAG, run_id, timeout=600)
    assert state == "success"
    preflight_log = airflow.task_log(WORKFLOW, run_id, "reco.preflight")
    assert "stage reco of workflow mc_chain" in preflight_log and "dcache: is down" in preflight_log
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(WORKFLOW, run_id)}
    for stage in CHAIN:
        for task in ("submit_stage", "track_stage", "triage_failures", "retry_failures", "collect_outputs", "check_outputs"):
            assert states[f"{stage}.{task}"] == "success", (stage, task, states)
    assert states["report"] == "success" and set(states.values()) == {"success"}  # no other workflow's tasks

    url, request_id = airflow.prodops_db_url, request_id_of(airflow, run_id)
    outputs = fetch(url, "SELECT s.stage, count(*) AS files, sum(o.events) AS events, bool_and(o.readable) AS ok"
                         " FROM job_outputs o JOIN submissions s ON s.id = o.submission_id"
                         " WHERE s.request_id = %(r)s GROUP BY s.stage", r=request_id)
    assert {r["stage"]: (r["files"], r["events"], r["ok"]) for r in outputs} == {
        "gen": (4, 100, True), "g4": (4, 100, True), "reco": (4, 100, True), "merge": (1, 100, True)}
    merged = fetch(url, "SELECT o.path FROM job_outputs o JOIN submissions s ON s.id = o.submission_id"
                        " WHERE s.request_id = %(r)s AND s.stage = 'merge'", r=request_id)[0]["path"]
    with open(merged) as handle:
        assert sum(1 for _ in handle) == 100

    results = fetch(url, "SELECT stage, expectation_id, severity, success FROM dq_results WHERE request_id = %(r)s",
                    r=request_id)
    assert {r["stage"] for r in results} == set(CHAIN)
    assert all(r["success"] for r in results if r["severity"] == "critical")
    assert ("merge", "events_sum_through_merge") in {(r["stage"], r["expectation_id"]) for r in results}

    log = airflow.task_log(WORKFLOW, run_id, "report")
    assert all(f"=== Stage {stage}:" in log for stage in CHAIN)

    events = airflow.call("GET", "/api/v2/assets/events", params={"limit": 100})["asset_events"]
    mine = [e for e in events if e["uri"] == "prodops://mc_chain/merge" and e["extra"].get("request_id") == request_id]
    assert len(mine) == 1 and mine[0]["extra"]["dq"]["failed"] == []


def test_zero_size_output_stops_the_chain_before_the_next_stage(airflow):
    conf = {**FORM, "campaign": "e2e-mc-bad", "workflow_options": {**FORM["workflow_options"], "zero_size": {"g4": [1]}}}
    run_id, state = run_approved(airflow, conf)
    assert state == "failed"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(WORKFLOW, run_id)}
    assert states["gen.check_outputs"] == "success"
    assert states["g4.check_outputs"] == "failed"
    assert states["reco.submit_stage"] == "upstream_failed"
    log = airflow.task_log(WORKFLOW, run_id, "g4.check_outputs")
    assert "critical expectation no_empty_files" in log and "unexpected_count" in log
    request_id = request_id_of(airflow, run_id)
    detail = airflow.call("GET", f"/prodops/api/v1/requests/{request_id}")
    g4 = next(s for s in detail["stages"] if s["name"] == "g4")
    assert "no_empty_files" in g4["dq"]["critical_failed"]  # and events_conserved: the empty file lost its events
    page = airflow.request("GET", f"/prodops/requests/{request_id}")
    assert page.status_code == 200 and 'data-expectation="g4/no_empty_files"' in page.text
    assert [r["stage"] for r in fetch(airflow.prodops_db_url, "SELECT stage FROM submissions WHERE request_id = %(r)s"
                                      " ORDER BY id", r=request_id)] == ["gen", "g4"]
    # the request ends as it ended: report runs anyway, writes the stages that ran and says why it stopped
    assert states["report"] == "failed"
    request = fetch(airflow.prodops_db_url, "SELECT state, ended_reason FROM requests WHERE id = %(r)s", r=request_id)[0]
    assert request["state"] == "stopped_by_dq"
    assert request["ended_reason"].startswith("data quality stopped the chain after stage g4: critical expectation")
    assert "stages not run: reco, merge" in request["ended_reason"]
    reported = fetch(airflow.prodops_db_url, "SELECT stage FROM stage_reports WHERE request_id = %(r)s ORDER BY stage",
                     r=request_id)
    assert [r["stage"] for r in reported] == ["g4", "gen"]
    assert 'data-end="stopped_by_dq"' in airflow.request("GET", f"/prodops/requests/{request_id}").text
    assert "ended stopped_by_dq" in airflow.task_log(WORKFLOW, run_id, "report")
