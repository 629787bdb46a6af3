"""The production request pages and API on a real PostgreSQL: stages, reports, data quality."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.store import records
from prodops.store.db import connect, q
from prodops.web.app import create_app

pytestmark = pytest.mark.integration

FORM = {
    "experiment": "nova", "campaign": "pages", "workflow": "mc_chain", "n_jobs": 2, "request_memory_mb": 200,
    "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 30, "justification": "request page test data",
    "contact": "ops@example.org",
}


@pytest.fixture
def request_id(db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="pages-1", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=70, decided_by="anna",
                    note="ship it")
    with connect(db_url) as conn:
        records.upsert_stage_report(conn, made["request_id"], "gen", {
            "jobs": 2, "outcomes": {"succeeded": 2}, "cpu_efficiency": 0.5, "wasted_wall_time_s": 0,
            "attempts": 3, "retried_jobs": 1, "recovered_jobs": 1,
            "triage": {"failed_attempts": 1, "by_category": {"service": 1}, "by_action": {"retry (done)": 1}}})
        for expectation, success, observed in [("no_empty_files", False, {"unexpected_count": 1}),
                                               ("one_file_per_job", True, 2)]:
            conn.execute(q("upsert_dq_result"), {
                "request_id": made["request_id"], "stage": "gen", "expectation_id": expectation, "suite": "gen",
                "expectation": "expect_x", "data_table": "outputs", "severity": "critical", "success": success,
                "observed": Jsonb(observed), "details": Jsonb({})})
        conn.commit()
    return made["request_id"]


def test_request_api_shows_stages_reports_and_data_quality(client, request_id):
    listed = client.get("/api/v1/requests").json()["requests"]
    assert [(r["id"], r["state"], r["priority"]) for r in listed] == [(request_id, "approved", 70)]
    detail = client.get(f"/api/v1/requests/{request_id}").json()
    assert [s["name"] for s in detail["stages"]] == ["gen", "g4", "reco", "merge"]
    gen = detail["stages"][0]
    assert gen["report"]["outcomes"] == {"succeeded": 2}
    assert gen["dq"] == {"passed": 1, "failed": 1, "critical_failed": ["no_empty_files"]}
    assert detail["request"]["decision_note"] == "ship it"


def test_request_page_reads_at_a_glance(client, request_id):
    page = client.get(f"/requests/{request_id}")
    assert page.status_code == 200
    html = page.text
    assert f"Request {request_id}: nova / pages" in html and "decided by anna" in html
    assert 'data-expectation="gen/no_empty_files"' in html and "unexpected_count" in html
    assert "1 passed, 1 failed" in html
    assert f'href="/triage/{request_id}"' in html
    assert "3 attempts: 1 jobs retried," in html and "1 recovered" in html
    assert 'class="pill c-service">service 1' in html and "retry (done) 1" in html
    assert client.get("/requests/").status_code == 200 and f'href="{request_id}"' in client.get("/requests/").text


def test_unknown_request_is_404(client):
    assert client.get("/api/v1/requests/999").status_code == 404


def test_request_pages_need_an_airflow_login(db_url):
    with TestClient(create_app(db_url, sync_registry=False)) as anonymous:
        assert anonymous.get("/api/v1/requests").status_code in (401, 403)
        assert anonymous.get("/requests/").status_code in (401, 403)


def test_request_page_shows_hostile_text_as_text(client, db_url):
    made = service.record_request(db_url, dag_id="production_request", run_id="pages-xss",
                                  conf={**FORM, "campaign": "x-1", "justification": "<b>bold</b> and <script>alert(1)</script>"})
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=10, decided_by="<i>eve</i>",
                    note='<img src=x onerror="alert(1)">')
    html = client.get(f"/requests/{made['request_id']}").text
    assert "<img src=x" not in html and "<i>eve</i>" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html or "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
