"""One definition of how an attempt ended: the stored column ``job_attempts.outcome``.

PostgreSQL computes it (include/sql/migrations/010_outcome.sql); triage, the report, the
request page and the Python mirror (:func:`prodops.batch.classads.outcome_of`) all agree with
it, over every combination of its inputs; a completed attempt without an exit code is failed
everywhere, so it is triaged (issue 12, item 2).
"""

from __future__ import annotations

import itertools

import pytest

from prodops.batch.classads import outcome, outcome_of
from prodops.constants import JobState, Outcome, RequestState
from prodops.request import service as request_service
from prodops.request.decision import record_decision
from prodops.stage import stage_spec, submit_stage
from prodops.store import records
from prodops.store.db import connect, q
from prodops.tracking import SubmissionTracker
from prodops.triage import store as triage_store
from prodops.triage.service import triage_stage
from prodops.workflows import load_templates
from tests.integration.fakes import ScriptedBackend, job_ad

pytestmark = pytest.mark.integration

EXIT_CODES = (None, 0, 1, 2, 127, 255, -1)
BY_SIGNAL = (None, False, True)
SIGNALS = (None, 9)
FORM = {
    "experiment": "nova", "campaign": "outcome", "workflow": "demo-grid", "n_jobs": 3, "request_memory_mb": 1000,
    "request_disk_mb": 100, "max_wall_time_min": 60, "priority": 40,
    "justification": "integration test of the outcome column", "contact": "ops@example.org",
}
CLUSTER = 810


def test_the_outcome_column_and_its_python_mirror_agree_on_every_combination(db_url):
    combinations = list(itertools.product(JobState, EXIT_CODES, BY_SIGNAL, SIGNALS))
    with connect(db_url) as conn:
        generated = conn.execute(
            "SELECT is_generated, generation_expression FROM information_schema.columns"
            " WHERE table_name = 'job_attempts' AND column_name = 'outcome'").fetchone()
        assert generated is not None and generated["is_generated"] == "ALWAYS"
        # the table's own expression, on a copy of its definition (no submissions needed)
        conn.execute("CREATE TEMP TABLE outcome_cases (LIKE job_attempts INCLUDING DEFAULTS INCLUDING GENERATED)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO outcome_cases (submission_id, proc_id, cluster_id, state, exit_code, exit_by_signal,"
                " exit_signal, ad, ad_hash) VALUES (1, %s, 1, %s, %s, %s, %s, '{}', '')",
                [(i, state.value, code, by_signal, signal)
                 for i, (state, code, by_signal, signal) in enumerate(combinations)],
            )
        stored = {r["proc_id"]: r for r in conn.execute("SELECT * FROM outcome_cases")}
    assert len(stored) == len(combinations)
    for i, (state, code, by_signal, signal) in enumerate(combinations):
        row = stored[i]
        mirror = outcome_of(state, code, by_signal)
        assert (row["outcome"], outcome(row)) == (mirror.value, mirror), (state, code, by_signal, signal)
        assert outcome({k: v for k, v in row.items() if k != "outcome"}) is mirror  # a row not stored yet
    assert {r["outcome"] for r in stored.values()} == {o.value for o in Outcome}
    assert outcome_of("completed", None, None) is outcome_of("completed", None, False) is Outcome.FAILED


def make_stage(db_url, tmp_path) -> tuple[int, int, ScriptedBackend]:
    made = request_service.record_request(db_url, dag_id="production_request", run_id="outcome", conf=FORM)
    rid = made["request_id"]
    record_decision(db_url, rid, state=RequestState.APPROVED, priority=50, decided_by="anna")
    with connect(db_url) as conn:
        request = records.get_request(conn, rid)
    spec = stage_spec(request_id=rid, request=request, template=load_templates()["demo-grid"], stage="run",
                      home=tmp_path)
    backend = ScriptedBackend(cluster_id=CLUSTER)
    sid = submit_stage(db_url=db_url, backend=backend, spec=spec)
    return rid, sid, backend


def test_a_completed_attempt_without_exit_code_is_failed_everywhere_and_triaged(db_url, tmp_path):
    rid, sid, backend = make_stage(db_url, tmp_path)
    tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=sid)
    backend.ads = [job_ad(CLUSTER, proc, 2, RemoteWallClockTime=10.0) for proc in range(3)]
    assert not tracker.cycle().done
    backend.ads = [
        job_ad(CLUSTER, 0, 4, ExitCode=0, ExitBySignal=False, RemoteWallClockTime=100.0),
        job_ad(CLUSTER, 1, 4, RemoteWallClockTime=100.0),  # a truncated history ad: no ExitCode
        job_ad(CLUSTER, 2, 4, ExitCode=2, ExitBySignal=False, RemoteWallClockTime=100.0),
    ]
    assert tracker.cycle().done  # rows that exist take the stage-and-merge path: the column follows
    with connect(db_url) as conn:
        stored = {r["proc_id"]: (r["state"], r["exit_code"], r["outcome"])
                  for r in conn.execute("SELECT proc_id, state, exit_code, outcome FROM job_attempts")}
        failed = [r["proc_id"] for r in triage_store.failed_attempts(conn, rid, "run")]
        listed = conn.execute(q("request_unsuccessful_jobs"), {"request_id": rid, "limit": 10}).fetchall()
    assert stored == {0: ("completed", 0, "succeeded"), 1: ("completed", None, "failed"),
                      2: ("completed", 2, "failed")}
    assert failed == [1, 2]
    assert [(r["proc_id"], r["outcome"]) for r in listed] == [(1, "failed"), (2, "failed")]

    summary = triage_stage(db_url, rid, "run")
    with connect(db_url) as conn:
        verdicts = {v["proc_id"]: v for v in triage_store.verdicts_of_stage(conn, rid, "run")}
    assert sorted(verdicts) == [1, 2] and summary["failed"] == 2  # triaged, like any failed attempt

    report, text = request_service.report_stage(db_url, rid, "run")
    assert report["outcomes"] == {"failed": 2, "succeeded": 1}
    assert [(j["job"], j["outcome"]) for j in report["unsuccessful_jobs"]] == [(f"{CLUSTER}.1", "failed"),
                                                                              (f"{CLUSTER}.2", "failed")]
    assert "failed=2, succeeded=1" in text
