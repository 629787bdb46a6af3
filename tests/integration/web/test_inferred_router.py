"""Closing an inferred outage and marking it false through the board's API, and the board page showing it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from prodops.status import tokens
from prodops.status.inferred import infer_outages
from prodops.store.db import connect
from prodops.triage.service import triage_stage
from prodops.web.app import create_app, viewer
from tests.integration.status import inferred_stage as stage
from tests.integration.status.inferred_stage import (
    FAILED, classifier, monitor_says_up, run_stage, status_rows, xrootd_failures,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fresh_now(monkeypatch):
    """The scenario's "now" is this test's: the pages judge staleness (15 min) by the real clock,
    and the suite may reach this module long after it was imported."""
    monkeypatch.setattr(stage, "NOW", datetime.now(timezone.utc).replace(microsecond=0))


class User:
    def get_name(self) -> str:
        return "paola"


@pytest.fixture
def outage(db_url, tmp_path) -> int:
    """The id of the event that opened dcache's inferred outage (25 jobs failed with XRootD's "no servers")."""
    monitor_says_up(db_url)
    rid, _ = run_stage(db_url, tmp_path, xrootd_failures(), run_id="manual__web", cluster=700)
    triage_stage(db_url, rid, "run", now=stage.NOW, classifier=classifier())
    [row] = status_rows(db_url)
    return row["id"]


@pytest.fixture
def app(db_url):
    return create_app(db_url)


@pytest.fixture
def client(app, monkeypatch):
    """A client logged in to Airflow as paola (the UI's session cookie)."""
    async def fake_user(request):
        return User()

    monkeypatch.setattr("prodops.web.app.airflow_user", fake_user)
    app.dependency_overrides[viewer] = lambda: None
    with TestClient(app) as c:
        c.cookies.set("_token", "a-session")
        yield c


def reviews(db_url: str) -> list[dict]:
    with connect(db_url) as conn:
        return conn.execute("SELECT event_id, action, service, reviewed_by, note, min_jobs"
                            " FROM inferred_outage_reviews ORDER BY action").fetchall()


def dcache(client: TestClient) -> dict:
    return next(s for s in client.get("/api/v1/board").json()["services"] if s["name"] == "dcache")


def test_the_board_page_shows_the_inferred_outage_with_its_buttons(client, outage):
    page = client.get("/").text
    assert f'data-inferred="{outage}"' in page and f"inferred from {FAILED} failed jobs" in page
    assert "monitoring says <b>up</b>" in page and 'data-review-action="false"' in page
    assert f'data-inferred-outage="{outage}"' in page  # in its outage history too
    assert "(1 inferred from failed jobs)" in page


def test_a_person_closes_it_and_closing_again_changes_nothing(client, outage, db_url):
    r = client.post(f"/api/v1/inferred-outages/{outage}/close", json={"note": "dCache pools back"})
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("event_id", "service", "action", "by", "ended")} == {
        "event_id": outage, "service": "dcache", "action": "closed", "by": "paola", "ended": True}
    assert dcache(client)["state"] == "up" and dcache(client)["inferred"] is None
    opened, ended = status_rows(db_url)
    assert (ended["state"], ended["code"], ended["message"]) == ("up", "closed", "closed by paola: dCache pools back")
    assert reviews(db_url) == [{"event_id": outage, "action": "closed", "service": "dcache", "reviewed_by": "paola",
                                "note": "dCache pools back", "min_jobs": None}]
    again = client.post(f"/api/v1/inferred-outages/{outage}/close", json={})
    assert again.status_code == 200 and again.json()["ended"] is False
    assert len(status_rows(db_url)) == 2
    history = dcache(client)["outages"][0]["inferred"]
    assert history["ended"]["reason"] == "closed" and history["reviews"][0]["by"] == "paola"
    # the failures it was inferred from are not evidence again
    assert infer_outages(db_url, now=stage.NOW).opened == []


def test_marking_it_false_records_who_and_raises_the_signature_threshold(client, outage, db_url):
    r = client.post(f"/api/v1/inferred-outages/{outage}/false", json={"note": "a bad input file", "min_jobs": 60})
    assert r.status_code == 200, r.text
    assert (r.json()["action"], r.json()["ended"], r.json()["min_jobs"]) == ("false", True, 60)
    [review] = reviews(db_url)
    assert (review["action"], review["reviewed_by"], review["min_jobs"]) == ("false", "paola", 60)
    signature = status_rows(db_url)[0]["details"]["signature"]
    with connect(db_url) as conn:
        row = conn.execute("SELECT min_jobs, set_by, event_id FROM inferred_outage_thresholds WHERE signature = %s",
                           (signature,)).fetchone()
    assert row == {"min_jobs": 60, "set_by": "paola", "event_id": outage}
    page = client.get("/").text
    assert "marked false by paola" in page and "threshold raised to 60" in page


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"min_jobs": FAILED}, "min_jobs", f"would not have stopped this inferred outage ({FAILED} failed jobs)"),
    ({"min_jobs": 0}, "min_jobs", "greater than or equal to 1"),
    ({"min_jobs": "lots"}, "min_jobs", "valid integer"),
    ({"note": "x", "why": "?"}, "why", "Extra inputs are not permitted"),
    ({"note": "x" * 2001}, "note", "at most 2000 characters"),
])
def test_a_bad_body_is_422_naming_the_field_and_nothing_changes(client, outage, db_url, body, field, words):
    r = client.post(f"/api/v1/inferred-outages/{outage}/false", json=body)
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == field and err["loc"] == ["body", field] and words in err["msg"]
    assert reviews(db_url) == [] and len(status_rows(db_url)) == 1 and dcache(client)["state"] == "degraded"


def test_closing_takes_no_threshold(client, outage):
    r = client.post(f"/api/v1/inferred-outages/{outage}/close", json={"min_jobs": 50})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "min_jobs"


def test_an_unknown_outage_is_404(client, outage, db_url):
    assert client.post("/api/v1/inferred-outages/999999/close", json={}).status_code == 404
    with connect(db_url) as conn:  # a monitoring event is no inferred outage
        feed_id = conn.execute("SELECT id FROM status_events WHERE source = 'feed' LIMIT 1").fetchone()["id"]
    r = client.post(f"/api/v1/inferred-outages/{feed_id}/false", json={})
    assert r.status_code == 404 and "no inferred outage" in r.json()["detail"]


def test_only_a_person_with_an_airflow_login_may_review(app, outage, db_url):
    with TestClient(app) as anonymous:
        r = anonymous.post(f"/api/v1/inferred-outages/{outage}/close", json={})
        assert r.status_code == 401
        with connect(db_url) as conn:
            _, token = tokens.issue(conn, "icinga")
            conn.commit()
        r = anonymous.post(f"/api/v1/inferred-outages/{outage}/close", json={},
                           headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "Airflow login" in r.json()["detail"]
        anonymous.cookies.set("_token", "a-session")
        form = anonymous.post(f"/api/v1/inferred-outages/{outage}/close", content=b"{}",
                              headers={"Content-Type": "text/plain"})
        assert form.status_code == 415
    assert reviews(db_url) == [] and len(status_rows(db_url)) == 1


def test_the_review_time_is_now(client, outage, db_url):
    before = datetime.now(timezone.utc)
    client.post(f"/api/v1/inferred-outages/{outage}/close", json={})
    with connect(db_url) as conn:
        at = conn.execute("SELECT reviewed_at FROM inferred_outage_reviews").fetchone()["reviewed_at"]
    assert before <= at <= datetime.now(timezone.utc)
