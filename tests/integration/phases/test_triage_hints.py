"""Phases feed triage: a weak verdict of a job that stopped inside copy-out points at storage;
a strong verdict stays; a finished copy-out changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from prodops.phases.markers import PhaseFields, PhaseSource, PhaseState
from prodops.phases.store import phases_of, record_phases
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from prodops.triage.service import triage_stage
from tests.integration.fakes import job_ad
from tests.integration.phases.conftest import submit

pytestmark = pytest.mark.integration

ART_ERROR = """%MSG-s ArtException:  PostEndJob 25-Nov-2026 10:00:00 CST ModuleEndJob
---- ProductNotFound BEGIN
  getByLabel: Found zero products matching all criteria
---- ProductNotFound END
%MSG
Art has completed and will exit with status 65."""


def _failed_stage(db_url, tmp_path, stdout: dict[int, str], stderr: dict[int, str], posted):
    made = submit(db_url, tmp_path, cluster_id=720)
    workdir = Path(made.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for proc in range(3):
        (workdir / f"job.{proc}.out").write_text(stdout.get(proc, f"job {proc} working\n"))
        (workdir / f"job.{proc}.err").write_text(stderr.get(proc, ""))
    with connect(db_url) as conn:
        for job_index, fields in posted:
            record_phases(conn, made.submission_id, [(job_index, fields)], PhaseSource.API)
        conn.commit()
    made.backend.ads = [job_ad(720, proc, 4, ExitCode=1, ExitBySignal=False, RemoteWallClockTime=60.0)
                        for proc in range(3)]
    assert SubmissionTracker(backend=made.backend, db_url=db_url, submission_id=made.submission_id).cycle().done
    triage_stage(db_url, made.request_id, "run")
    with connect(db_url) as conn:
        verdicts = {r["proc_id"]: r for r in conn.execute(
            "SELECT proc_id, category, service, rule, evidence FROM triage_verdicts ORDER BY proc_id")}
        phases = phases_of(conn, [(made.submission_id, j) for j in range(3)])
    return made, verdicts, phases


def test_a_failure_inside_copy_out_points_at_storage_when_nothing_else_is_known(db_url, tmp_path):
    copy_out = PhaseFields(phase="copy-out", state=PhaseState.STARTED)
    done = PhaseFields(phase="copy-out", state=PhaseState.FINISHED, status=0)
    made, verdicts, phases = _failed_stage(
        db_url, tmp_path,
        stdout={1: "job 1 working\n@@prodops phase=copy-out state=started time=2026-12-02T10:00:00Z\ncopying\n"},
        stderr={2: ART_ERROR},
        posted=[(0, copy_out), (2, copy_out), (1, done.model_copy(update={"phase": "process"}))],
    )
    for proc in (0, 1):  # posted, and from the stdout tail: both are storage now
        v = verdicts[proc]
        assert (v["category"], v["service"], v["rule"]) == ("service", "storage", "phase-storage-unfinished")
        assert v["evidence"][0]["stream"] == "phases" and "copy-out started" in v["evidence"][0]["text"]
    assert [(r.phase, r.source) for r in phases[(made.submission_id, 1)] if r.phase == "copy-out"] == [
        ("copy-out", PhaseSource.STDOUT)]
    assert verdicts[2]["category"] == "code"  # a strong verdict is not overridden by the phase


def test_a_finished_copy_out_or_no_phases_leaves_the_verdict(db_url, tmp_path):
    started = PhaseFields(phase="copy-out", state=PhaseState.STARTED)
    finished = PhaseFields(phase="copy-out", state=PhaseState.FINISHED, status=0)
    process = PhaseFields(phase="process", state=PhaseState.STARTED)
    _, verdicts, _ = _failed_stage(db_url, tmp_path, stdout={}, stderr={},
                                   posted=[(0, finished), (0, started), (1, process)])
    assert {v["category"] for v in verdicts.values()} == {"unknown"}
    assert all(v["rule"] != "phase-storage-unfinished" for v in verdicts.values())


def test_the_attempt_page_and_its_json_show_the_phases_and_the_one_left_open(db_url, tmp_path):
    from fastapi.testclient import TestClient

    from prodops.web.app import create_app, viewer

    t0 = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)
    process = PhaseFields(phase="process", state=PhaseState.FINISHED, status=0, cpu=75.0, wall=90.0, events=1000,
                          time=t0)
    copy_out = PhaseFields(phase="copy-out", state=PhaseState.STARTED, time=t0 + timedelta(seconds=1))
    made, _, _ = _failed_stage(db_url, tmp_path, stdout={}, stderr={}, posted=[(0, copy_out), (0, process)])
    app = create_app(db_url, sync_registry=False)
    app.dependency_overrides[viewer] = lambda: None
    with TestClient(app) as client:
        data = client.get(f"/api/v1/triage/attempts/{made.submission_id}/0").json()
        page = client.get(f"/triage/attempts/{made.submission_id}/0")
        other = client.get(f"/triage/attempts/{made.submission_id}/1").text
    assert [(p["phase"], p["state"], p["open"], p["source"]) for p in data["phases"]] == [
        ("process", "finished", False, "api"), ("copy-out", "started", True, "api")]
    assert page.status_code == 200
    section = page.text[page.text.index("<h2>Phases</h2>"):page.text.index("</table>", page.text.index("<h2>Phases"))]
    assert "<td>copy-out</td><td>started <b>and never finished</b></td>" in section
    assert "<td>process</td><td>finished</td><td>0</td>" in section and "<td>1000</td>" in section
    assert "<h2>Phases</h2>" not in other  # job 1 reported nothing
