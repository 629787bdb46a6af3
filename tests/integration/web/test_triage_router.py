"""The triage API and pages (router mounted on a bare app, as prodops.web.app mounts it)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from prodops.store.db import connect
from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import PluginRunner
from prodops.triage.service import triage_stage
from prodops.web.triage import triage_router
from tests.integration.triage.test_triage_stage import NOW, T0, dcache_outage, make_request, write_jobs

pytestmark = pytest.mark.integration


class Pool:
    def __init__(self, url: str) -> None:
        self.url = url

    def connection(self):
        return connect(self.url)


@pytest.fixture
def client(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir)
    dcache_outage(db_url, T0 + timedelta(minutes=2), T0 + timedelta(minutes=30))
    triage_stage(db_url, rid, "run", now=NOW, classifier=Classifier(load_library(), PluginRunner([])))
    app = FastAPI()
    app.include_router(triage_router(Pool(db_url), lambda: None))
    return TestClient(app), rid, sid


def test_groups_and_one_attempt_with_highlighted_lines(client):
    c, rid, sid = client
    data = c.get(f"/api/v1/triage/{rid}").json()
    assert data["failed"] == 5 and {g["rule"] for g in data["groups"]} >= {"xrootd-3011-no-server", "memory-limit"}
    one = c.get(f"/api/v1/triage/attempts/{sid}/1", params={"lines": 10}).json()
    assert one["verdict"]["rule"] == "xrootd-3011-no-server"
    [line] = [l for l in one["tails"]["stderr"]["lines"] if l["evidence"]]
    assert "[3011]" in line["text"] and "xrootd-3011-no-server" in line["rules"] and line["n"] == 1
    page = c.get(f"/triage/attempts/{sid}/1").text
    assert 'class="evidence"' in page and "Server responded with an error" in page
    groups = {g["rule"]: g for g in data["groups"]}
    assert (groups["xrootd-3011-no-server"]["retry_planned"], groups["xrootd-3011-no-server"]["debug_rerun"]) == (1, 0)
    page = c.get(f"/triage/{rid}").text
    assert "xrootd-3011-no-server" in page and "retry planned 1" in page and "for a debug rerun" in page
    xrootd = groups["xrootd-3011-no-server"]
    assert xrootd["sample_attempts"] == [f"{sid}/1"] and "[3011]" in xrootd["example"]["text"]
    assert [o["service"] for o in xrootd["outages"]] == ["dcache"]
    assert f'href="/triage/attempts/{sid}/1"' in page and "overlapping: dcache outage" in page


def test_bad_line_count_and_unknown_attempt(client):
    c, rid, sid = client
    bad = c.get(f"/api/v1/triage/attempts/{sid}/1", params={"lines": 5000})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "lines"
    assert c.get(f"/api/v1/triage/attempts/{sid}/0").status_code == 404  # succeeded: no verdict


def test_job_output_on_the_attempt_page_is_text_not_markup(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    hostile = '<script>alert("job output")</script> Error: <img src=x onerror=alert(1)>'
    write_jobs(db_url, sid, workdir, jobs={0: ({"ExitCode": 1, "ExitBySignal": False}, "", hostile + "\n")})
    triage_stage(db_url, rid, "run", now=NOW, classifier=Classifier(load_library(), PluginRunner([])))
    app = FastAPI()
    app.include_router(triage_router(Pool(db_url), lambda: None))
    page = TestClient(app).get(f"/triage/attempts/{sid}/0").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


def test_the_attempt_page_shows_the_jobs_facts_and_its_chain_of_attempts(db_url, tmp_path):
    import dataclasses

    from prodops.stage import stage_spec, submit_stage
    from prodops.store import records
    from prodops.workflows import load_templates
    from tests.integration.fakes import ScriptedBackend

    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir)
    with connect(db_url) as conn:
        request = records.get_request(conn, rid)
    first = stage_spec(request_id=rid, request=request, template=load_templates()["demo-grid"], stage="run",
                       home=tmp_path)
    retry = dataclasses.replace(first, attempt=2, items=[first.items[4]], job_indexes=[4],
                                workdir=str(tmp_path / "attempt-2"))
    sid2 = submit_stage(db_url=db_url, backend=ScriptedBackend(cluster_id=701), spec=retry)
    write_jobs(db_url, sid2, Path(retry.workdir), jobs={0: ({"ExitCode": 0}, "recovered\n", "")}, cluster=701)
    triage_stage(db_url, rid, "run", now=NOW, classifier=Classifier(load_library(), PluginRunner([])))
    app = FastAPI()
    app.include_router(triage_router(Pool(db_url), lambda: None))
    client = TestClient(app)

    data = client.get(f"/api/v1/triage/attempts/{sid}/4").json()
    job = data["job"]
    assert (job["hold_reason_code"], job["hold_reason_subcode"], job["site"], job["outcome"]) == (34, 102, "FNAL", "held")
    assert (job["memory_usage_mb"], job["request_memory_mb"]) == (1400, 1000)
    assert [(a["attempt"], a["submission_id"], a["proc_id"], a["state"]) for a in data["chain"]] == [
        (1, sid, 4, "held"), (2, sid2, 0, "completed")]
    page = client.get(f"/triage/attempts/{sid}/4").text
    assert "Job facts" in page and "code 34/102" in page and "used 1400 MB of 1000 MB requested" in page
    assert "Attempts of job 4" in page and "job 701.0 completed (exit 0)" in page


def test_an_unknown_failure_shows_its_probable_cause_line_on_the_triage_page(db_url, tmp_path):
    rid, sid, workdir = make_request(db_url, tmp_path)
    log = "setting up\nreading calibration\nthe frobnicator lost its quorum at step 7; cannot continue\nbye\n"
    write_jobs(db_url, sid, workdir, jobs={0: ({"ExitCode": 42, "ExitBySignal": False}, log, "")})
    triage_stage(db_url, rid, "run", now=NOW, classifier=Classifier(load_library(), PluginRunner([])))
    app = FastAPI()
    app.include_router(triage_router(Pool(db_url), lambda: None))
    client = TestClient(app)
    [group] = client.get(f"/api/v1/triage/{rid}").json()["groups"]
    assert group["category"] == "unknown" and group["example"]["rule"] == "probable-cause"
    assert "lost its quorum" in group["example"]["text"] and group["signature"]
    page = client.get(f"/triage/{rid}").text
    assert "probable cause:" in page and "lost its quorum" in page and f'data-signature="{group["signature"]}"' in page
    attempt = client.get(f"/triage/attempts/{sid}/0").text
    assert "Why this verdict" in attempt and "probable cause" in attempt
