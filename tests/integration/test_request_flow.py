"""The request's steps against a real PostgreSQL: record, decide, submit, track, report."""

from __future__ import annotations

import pytest

from prodops.batch.base import JobEventRecord
from prodops.constants import RequestState
from prodops.exceptions import RequestInvalid
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.stage import stage_spec, submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from prodops.workflows import load_templates

from .fakes import ScriptedBackend, job_ad

pytestmark = pytest.mark.integration

FORM = {
    "experiment": "nova", "campaign": "it", "workflow": "demo", "n_jobs": 4, "request_memory_mb": 128,
    "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 40,
    "justification": "integration test of the request flow", "contact": "ops@example.org",
}


def count(db_url: str, table: str) -> int:
    with connect(db_url) as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]  # noqa: S608 - test constant


@pytest.fixture
def approved(db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="manual__1", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=70, decided_by="anna")
    return made["request_id"]


def test_invalid_request_writes_nothing(db_url):
    with pytest.raises(RequestInvalid, match="contact"):
        service.record_request(db_url, dag_id="production_request", run_id="r", conf={**FORM, "contact": "x"})
    assert count(db_url, "requests") == 0 and count(db_url, "stages") == 0


def test_recording_twice_keeps_one_request(db_url):
    first = service.record_request(db_url, dag_id="production_request", run_id="r", conf=FORM)
    second = service.record_request(db_url, dag_id="production_request", run_id="r", conf=FORM)
    assert first == second and count(db_url, "requests") == 1 and count(db_url, "stages") == 1
    with connect(db_url) as conn:
        assert records.get_request(conn, first["request_id"])["state"] == "pending_approval"


def test_decision_is_stored(db_url, approved):
    with connect(db_url) as conn:
        row = records.get_request(conn, approved)
    assert (row["state"], row["priority"], row["decided_by"]) == ("approved", 70, "anna")


def test_unapproved_request_is_not_submitted(db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="r2", conf=FORM)
    backend = ScriptedBackend()
    with pytest.raises(RuntimeError, match="not approved"):
        service.submit_workflow_stage(db_url, backend, made["request_id"], "run")
    assert backend.submits == [] and count(db_url, "submissions") == 0


def test_submit_is_idempotent(db_url, approved, tmp_path):
    backend = ScriptedBackend()
    with connect(db_url) as conn:
        request = records.get_request(conn, approved)
    spec = stage_spec(request_id=approved, request=request, template=load_templates()["demo"], stage="run",
                      home=tmp_path)
    first = submit_stage(db_url=db_url, backend=backend, spec=spec)
    second = submit_stage(db_url=db_url, backend=backend, spec=spec)
    assert first == second and len(backend.submits) == 1 and count(db_url, "submissions") == 1
    assert spec.priority == 70  # the approver's priority, not the requested 40
    assert service.submit_workflow_stage(db_url, backend, approved, "run") == first and len(backend.submits) == 1


def test_tracking_writes_only_changes_and_survives_a_restart(db_url, approved):
    backend = ScriptedBackend(cluster_id=77)
    submission_id = service.submit_workflow_stage(db_url, backend, approved, "run")
    backend.ads = [job_ad(77, p, 1, QDate=1764057600) for p in range(4)]
    tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)

    first = tracker.cycle()
    assert (first.polled, first.written, first.done) == (4, 4, False)
    assert tracker.cycle().written == 0

    backend.ads[0] = job_ad(77, 0, 4, ExitCode=0, ExitBySignal=False, RemoteWallClockTime=10.0, RemoteUserCpu=8.0)
    backend.ads[1] = job_ad(77, 1, 4, ExitCode=3, ExitBySignal=False, RemoteWallClockTime=5.0, RemoteUserCpu=1.0)
    backend.events = [JobEventRecord(77, 0, "JOB_TERMINATED", 1764058000.0, {"ReturnValue": 0}, log_offset=120),
                      JobEventRecord(77, 1, "JOB_TERMINATED", 1764058001.0, {"ReturnValue": 3}, log_offset=240)]
    second = tracker.cycle()
    assert second.written == 2 and second.events == 2 and not second.done

    restarted = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)
    again = restarted.cycle()
    assert again.written == 0 and again.events == 0  # offset was committed with the rows

    backend.ads[2] = job_ad(77, 2, 4, ExitBySignal=True, ExitSignal=9, RemoteWallClockTime=2.0)
    backend.ads[3] = job_ad(77, 3, 5, HoldReason="Job has gone over memory limit", HoldReasonCode=34,
                            HoldReasonSubCode=0)
    last = restarted.cycle()
    assert last.done and last.states == {"completed": 3, "held": 1}
    assert count(db_url, "job_attempts") == 4 and count(db_url, "job_events") == 2
    with connect(db_url) as conn:
        sub = records.get_submission(conn, submission_id)
        rows = {r["proc_id"]: r for r in conn.execute("SELECT * FROM job_attempts ORDER BY proc_id")}
    assert sub["state"] == "done" and sub["event_log_offset"] == 240
    assert rows[1]["exit_code"] == 3 and rows[2]["exit_signal"] == 9 and rows[3]["hold_reason_code"] == 34

    ended = service.report_request(db_url, approved)
    report, text = ended.reports["run"], ended.text
    assert ended.end.state == RequestState.FAILED and ended.end.reason.startswith("stage run: 3 of 4 jobs did not succeed")
    assert report["outcomes"] == {"failed": 1, "held": 1, "killed": 1, "succeeded": 1}
    service.report_request(db_url, approved)
    assert count(db_url, "stage_reports") == 1
    assert service.submit_workflow_stage(db_url, backend, approved, "run") == submission_id  # a re-run after the end
    assert len(backend.submits) == 1
    with connect(db_url) as conn:
        assert records.get_request(conn, approved)["state"] == "failed"
        assert records.get_stage_report(conn, approved, "run") == report
    assert "killed=1" in text


def test_a_bad_ad_is_counted_and_the_rest_recorded(db_url, approved):
    backend = ScriptedBackend(cluster_id=5)
    submission_id = service.submit_workflow_stage(db_url, backend, approved, "run")
    backend.ads = [job_ad(5, 0, 4, ExitCode=0), job_ad(5, 1, 4, ExitCode="zero"), job_ad(5, 2, 2), job_ad(5, 3, 1)]
    result = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id).cycle()
    assert (result.bad_ads, result.written) == (1, 3)
    assert count(db_url, "job_attempts") == 3


def test_a_workflow_dag_submits_only_an_approved_request_of_its_own_workflow(db_url, approved):
    """A workflow DAG triggered by hand with another request's id: its submit says which DAG to use."""
    backend = ScriptedBackend()
    with pytest.raises(service.RequestNotRunnable, match="runs workflow 'demo', not 'mc_chain'; its DAG is workflow_demo"):
        service.submit_workflow_stage(db_url, backend, approved, "gen", workflow="mc_chain")
    with pytest.raises(service.RequestNotRunnable, match="request 999999 is not in the prodops database; new requests"
                                                         " come through production_request"):
        service.submit_workflow_stage(db_url, backend, 999999, "run", workflow="demo")
    pending = service.record_request(db_url, dag_id="production_request", run_id="manual__2", conf=FORM)["request_id"]
    with pytest.raises(service.RequestNotRunnable, match="'pending_approval', not approved; only approved"):
        service.submit_workflow_stage(db_url, backend, pending, "run", workflow="demo")
    assert backend.submits == [] and count(db_url, "submissions") == 0
    assert service.submit_workflow_stage(db_url, backend, approved, "run", workflow="demo") > 0
