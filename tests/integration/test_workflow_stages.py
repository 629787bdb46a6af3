"""Stages chained on the real local pool: outputs recorded from manifests, checked with GX,
the next stage submitted from them; a zero-size output stops the chain with a named expectation."""

from __future__ import annotations

import time

import pytest

from prodops.batch.local import LocalPoolBackend
from prodops.constants import RequestState
from prodops.quality.stage import DataQualityFailed, check_stage_outputs, collect_stage_outputs
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.stage import stage_input_files
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from prodops.workflows import load_templates

pytestmark = pytest.mark.integration

FORM = {
    "experiment": "nova", "campaign": "chain", "workflow": "mc_chain", "n_jobs": 3, "request_memory_mb": 200,
    "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 50, "justification": "chained stages on the local pool",
    "contact": "ops@example.org", "workflow_options": {"events_per_job": 10, "sleep_s": 0},
}


@pytest.fixture
def backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    return LocalPoolBackend(pool_dir=tmp_path / "pool")


def approved(db_url, run_id: str, **options) -> int:
    conf = {**FORM, "workflow_options": {**FORM["workflow_options"], **options}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id=run_id, conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    return request_id


def run_stage(db_url, backend, request_id: int, stage: str, timeout: float = 60) -> None:
    submission_id = service.submit_workflow_stage(db_url, backend, request_id, stage)
    tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)
    deadline = time.monotonic() + timeout
    while not tracker.cycle().done:
        assert time.monotonic() < deadline, f"stage {stage} did not finish in {timeout}s"
        time.sleep(0.3)
    collect_stage_outputs(db_url, request_id, stage)


def rows(db_url, sql: str, **params):
    with connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_each_stage_reads_the_previous_stage_outputs_and_passes_its_checks(db_url, backend):
    chain = load_templates()["mc_chain"]
    request_id = approved(db_url, "chain-ok")
    run_stage(db_url, backend, request_id, "gen")
    assert check_stage_outputs(db_url, request_id, "gen", chain)
    run_stage(db_url, backend, request_id, "g4")
    results = check_stage_outputs(db_url, request_id, "g4", chain)
    assert {r.id for r in results if r.success} >= {"every_input_consumed", "inputs_consumed_once", "events_conserved"}

    gen_paths = {r["path"] for r in rows(db_url, "SELECT o.path FROM job_outputs o JOIN submissions s"
                                                 " ON s.id = o.submission_id WHERE s.stage = 'gen'")}
    g4 = rows(db_url, "SELECT spec FROM submissions WHERE request_id = %(r)s AND stage = 'g4'", r=request_id)[0]
    assert set(g4["spec"]["inputs"]) == gen_paths and len(gen_paths) == 3
    events = rows(db_url, "SELECT sum(o.events) AS n FROM job_outputs o JOIN submissions s ON s.id = o.submission_id"
                          " WHERE s.stage = 'g4'")[0]["n"]
    assert events == 30
    before = rows(db_url, "SELECT * FROM job_outputs ORDER BY submission_id, file")
    collect_stage_outputs(db_url, request_id, "g4")
    assert rows(db_url, "SELECT * FROM job_outputs ORDER BY submission_id, file") == before


def test_a_zero_size_output_fails_a_critical_expectation_and_is_recorded(db_url, backend):
    chain = load_templates()["mc_chain"]
    request_id = approved(db_url, "chain-bad", zero_size={"g4": [1]})
    run_stage(db_url, backend, request_id, "gen")
    check_stage_outputs(db_url, request_id, "gen", chain)
    run_stage(db_url, backend, request_id, "g4")
    with pytest.raises(DataQualityFailed) as err:
        check_stage_outputs(db_url, request_id, "g4", chain)
    message = str(err.value)
    assert "no_empty_files" in message and "unexpected_count': 1" in message and "next stage will not run" in message
    result = rows(db_url, "SELECT success, observed FROM dq_results WHERE request_id = %(r)s AND stage = 'g4'"
                          " AND expectation_id = 'no_empty_files'", r=request_id)[0]
    assert result["success"] is False and result["observed"]["unexpected_count"] == 1
    reco_inputs = stage_input_files(connect(db_url), service_request(db_url, request_id), chain, "reco")
    assert len(reco_inputs) == 2  # the empty file is never handed on


def service_request(db_url, request_id):
    return rows(db_url, "SELECT * FROM requests WHERE id = %(r)s", r=request_id)[0]


def test_keepup_reconstructs_dataset_files_and_merges_them(db_url, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(tmp_path))
    raw = tmp_path / "raw"
    raw.mkdir()
    for n in range(5):
        (raw / f"run{n}.raw").write_text("".join(f"raw run={n} event={i}\n" for i in range(4)))
    keepup = load_templates()["keepup"]
    conf = {**FORM, "workflow": "keepup", "n_jobs": None, "input_dataset": f"file://{raw}/*.raw",
            "workflow_options": {"sleep_s": 0}}
    request_id = service.record_request(db_url, dag_id="production_request", run_id="keepup", conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=50)
    run_stage(db_url, backend, request_id, "reco")
    assert {r.id for r in check_stage_outputs(db_url, request_id, "reco", keepup) if r.success} >= {
        "every_input_consumed", "events_conserved"}
    run_stage(db_url, backend, request_id, "merge")
    check_stage_outputs(db_url, request_id, "merge", keepup)
    merged = rows(db_url, "SELECT o.events FROM job_outputs o JOIN submissions s ON s.id = o.submission_id"
                          " WHERE s.request_id = %(r)s AND s.stage = 'merge'", r=request_id)
    assert [m["events"] for m in merged] == [20]
    reco_jobs = rows(db_url, "SELECT num_jobs FROM submissions WHERE request_id = %(r)s AND stage = 'reco'", r=request_id)
    assert reco_jobs[0]["num_jobs"] == 3  # 5 files, 2 per job
