"""The campaign page, the request list's filters and pages, the live JSON, and pages free of
``None``, on a real PostgreSQL with recorded attempts and triage verdicts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from prodops.constants import RequestState
from prodops.report import build_report
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.request.views import progress
from prodops.store import records
from prodops.store.db import connect, q
from prodops.triage.service import triage_stage
from tests.integration.triage.test_triage_stage import FORM, NOW, T0, classifier, dcache_outage, make_request, write_jobs

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert('reason')</script>"


@pytest.fixture
def campaign(db_url, tmp_path):
    """Request A of campaign nova/triage ran six jobs (five failed, triaged); request B was rejected."""
    rid, sid, workdir = make_request(db_url, tmp_path)
    write_jobs(db_url, sid, workdir)
    dcache_outage(db_url, T0 + timedelta(minutes=10), T0 + timedelta(minutes=40))
    triage_stage(db_url, rid, "run", now=NOW, classifier=classifier())
    other = service.record_request(db_url, dag_id="production_request", run_id="manual__other", conf=FORM)["request_id"]
    record_decision(db_url, other, state=RequestState.REJECTED, decided_by="anna", note="not this week")
    with connect(db_url) as conn:
        conn.execute(q("end_request"), {"request_id": other, "state": "rejected", "reason": HOSTILE})
        conn.execute(q("upsert_dq_result"), {
            "request_id": rid, "stage": "run", "expectation_id": "no_empty_files", "suite": "run",
            "expectation": "expect_x", "data_table": "outputs", "severity": "critical", "success": False,
            "observed": '{"unexpected_count": 1}', "details": "{}"})
        conn.commit()
    return rid, sid, other


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_live_progress_counts_as_the_stage_report_does(db_url, campaign):
    rid, _, _ = campaign
    with connect(db_url) as conn:
        live = progress(conn, [rid])[rid]["run"]
        report = build_report(records.jobs_of_stage(conn, rid, "run"))
    assert live.jobs == report["jobs"] == 6 and live.attempts == report["attempts"]
    assert live.done == report["outcomes"]["succeeded"] == 1
    assert live.failed == report["jobs"] - report["outcomes"]["succeeded"] == 5 and live.running == 0
    assert live.wasted_s == pytest.approx(report["wasted_wall_time_s"])
    assert live.cpu_efficiency == report["cpu_efficiency"] or live.cpu_efficiency == pytest.approx(report["cpu_efficiency"])


def test_campaign_page_shows_every_request_progress_failures_efficiency_and_quality(client, campaign):
    rid, _, other = campaign
    data = client.get("/api/v1/campaigns/nova/triage").json()
    assert [r["id"] for r in data["requests"]] == [rid, other]
    mine = data["requests"][0]
    assert (mine["progress"]["jobs"], mine["progress"]["done"], mine["progress"]["failed"]) == (6, 1, 5)
    assert sum(mine["failures"].values()) == 5 and mine["dq"]["critical_failed"] == ["run/no_empty_files"]
    assert [s["name"] for s in mine["stages"]] == ["run"]
    assert data["progress"]["wasted_s"] == pytest.approx(5 * 1740.0) and data["failures"] == mine["failures"]

    html = client.get("/campaigns/nova/triage").text
    assert "Campaign nova / triage" in html and f'href="/requests/{rid}"' in html and f'href="/requests/{other}"' in html
    assert f'class="pill c-service" href="/triage/{rid}"' in html  # failures by category link to triage
    assert "critical: run/no_empty_files" in html and "2.4 h" in html  # 5 x 1740 s wasted
    assert 'alt="Bar chart of job attempts ended per' in html and 'alt="Bar chart of failed attempts by triage category' in html
    assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html
    assert client.get("/campaigns/nova/none-such").status_code == 404


def test_request_list_filters_by_experiment_campaign_state_and_date_and_pages(client, db_url, campaign):
    rid, _, other = campaign
    made = [service.record_request(db_url, dag_id="production_request", run_id=f"list-{k}",
                                   conf={**FORM, "experiment": "dune" if k % 2 else "nova", "campaign": f"c{k % 3}"})
            ["request_id"] for k in range(7)]
    with connect(db_url) as conn:
        conn.execute("UPDATE requests SET created_at = %(t)s WHERE id = ANY(%(ids)s)",
                     {"t": NOW - timedelta(days=10), "ids": made[:3]})
        conn.commit()

    def ids(**params):
        return [r["id"] for r in client.get("/api/v1/requests", params=params).json()["requests"]]

    assert ids(experiment="dune") == [m for m in reversed(made) if (made.index(m)) % 2]
    assert ids(campaign="c0") == [made[6], made[3], made[0]]
    assert ids(state="rejected") == [other]
    assert ids(experiment="nova", campaign="triage") == [other, rid]
    day = (NOW - timedelta(days=10)).date().isoformat()
    assert ids(created_from=day, created_to=day) == list(reversed(made[:3]))
    assert set(ids(created_from=(NOW - timedelta(days=1)).date().isoformat())) == {rid, other, *made[3:]}
    first = client.get("/api/v1/requests", params={"per_page": 4}).json()
    last = client.get("/api/v1/requests", params={"per_page": 4, "page": 3}).json()
    assert (first["total"], first["pages"], len(first["requests"])) == (9, 3, 4) and len(last["requests"]) == 1
    beyond = client.get("/api/v1/requests", params={"per_page": 4, "page": 9}).json()
    assert (beyond["requests"], beyond["total"]) == ([], 9)
    assert ids(experiment="nova' OR '1'='1") == [] and ids(campaign="%") == []  # values, never SQL
    bad = client.get("/api/v1/requests", params={"state": "exploded", "created_from": "yesterday"})
    assert bad.status_code == 422 and {e["loc"][-1] for e in bad.json()["detail"]} == {"state", "created_from"}

    html = client.get("/requests/", params={"experiment": "dune", "per_page": 2}).text
    assert "3 requests match; page 1 of 2" in html and 'rel="next"' in html and "experiment=dune" in html
    assert '<option selected>dune</option>' in html and 'label for="f-state"' in html
    empty = client.get("/requests/", params={"state": "expired", "experiment": "", "created_to": ""}).text
    assert "No request matches these filters." in empty


def test_live_json_renders_the_parts_and_stops_when_the_request_ended(client, db_url, campaign):
    rid, _, other = campaign
    live = client.get(f"/api/v1/requests/{rid}/live").json()
    assert live["live"] is True and set(live["parts"]) == {"summary", "stages", "charts", "quality", "jobs"}
    assert live["figures"]["failed"] == 5 and 'data-figure="failed">5<' in live["parts"]["summary"]
    assert live["updated_at"] and live["updated_at_text"].endswith("UTC")
    triage = client.get(f"/api/v1/triage/{rid}/live", params={"stage": "run"}).json()
    assert triage["live"] is True and triage["figures"]["failed"] == 5 and set(triage["parts"]) == {"summary", "groups"}
    assert client.get("/api/v1/campaigns/nova/triage/live").json()["live"] is True
    page = client.get(f"/requests/{rid}").text
    assert f'data-live-url="/api/v1/requests/{rid}/live"' in page and 'data-live="true"' in page
    assert 'id="updated"' in page and "Last updated" in page
    with connect(db_url) as conn:
        conn.execute(q("end_request"), {"request_id": rid, "state": "failed", "reason": "5 jobs failed"})
        conn.commit()
    assert client.get(f"/api/v1/requests/{rid}/live").json()["live"] is False
    assert client.get("/api/v1/campaigns/nova/triage/live").json()["live"] is False
    assert 'data-live="false"' in client.get(f"/triage/{rid}").text


def test_no_page_shows_none_and_a_hold_reason_has_no_line_number(client, campaign):
    rid, sid, other = campaign
    pages = {path: client.get(path) for path in (
        "/requests/", f"/requests/{rid}", f"/requests/{other}", "/campaigns/nova/triage", f"/triage/{rid}",
        f"/triage/{rid}?stage=run", *(f"/triage/attempts/{sid}/{proc}" for proc in range(1, 6)))}
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert not re.search(r"\bNone\b", visible_text(page.text)), path
    held = pages[f"/triage/attempts/{sid}/4"].text
    assert "reason: Error from slot1_1@wn: Job has gone over memory limit" in held and "-None" not in held
