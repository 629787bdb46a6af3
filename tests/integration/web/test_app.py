"""The push API on a real PostgreSQL: each payload format, tokens, 422 naming the field, duplicates."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from prodops.status import tokens
from prodops.store.db import connect
from prodops.web.app import create_app, token_admin, viewer

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ALERT = {
    "version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing", "receiver": "prodops",
    "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example",
    "alerts": [{"status": "firing", "labels": {"alertname": "FTSDown", "service": "fts"},
                "annotations": {"summary": "FTS down"}, "startsAt": (NOW - timedelta(minutes=5)).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "fp1"}],
}


@pytest.fixture
def app(db_url):
    return create_app(db_url)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def token(db_url, client):
    client.get("/openapi.json")  # nothing needs it; the registry loads on the first real use below
    with connect(db_url) as conn:
        _, tok = tokens.issue(conn, "icinga", services=["dcache", "fts", "samweb"])  # fts is alertmanager's
        conn.commit()
    return tok


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def count_events(db_url: str) -> int:
    with connect(db_url) as conn:
        return conn.execute("SELECT count(*) AS n FROM status_events").fetchone()["n"]


def test_native_event_stored_and_repeat_stored_once(client, token, db_url):
    body = {"service": "dcache", "state": "down", "time": NOW.isoformat(), "id": "e-1"}
    r = client.post("/api/v1/events", json=body, headers=auth(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "stored": 1, "duplicates": 0}
    r = client.post("/api/v1/events", json={"events": [body, body]}, headers=auth(token))
    assert r.json() == {"received": 2, "stored": 0, "duplicates": 2}
    with connect(db_url) as conn:
        row = conn.execute("SELECT source, feed, state FROM status_events").fetchone()
    assert row == {"source": "feed", "feed": "icinga", "state": "down"}


def test_bad_payload_is_422_naming_the_field_and_nothing_is_stored(client, token, db_url):
    r = client.post("/api/v1/events", headers=auth(token), json={"events": [
        {"service": "dcache", "state": "up"}, {"service": "dcache", "state": "sideways"}]})
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "events", 1, "state"] and err["field"] == "events[1].state"
    assert "'sideways' is not a state" in err["msg"]
    r = client.post("/api/v1/events", headers={**auth(token), "Content-Type": "application/json"}, content=b"{not json")
    assert r.status_code == 422
    assert count_events(db_url) == 0


def test_alertmanager_webhook(client, token, db_url):
    assert client.post("/api/v1/alertmanager", json=ALERT, headers=auth(token)).json()["stored"] == 1
    assert client.post("/api/v1/alertmanager", json=ALERT, headers=auth(token)).json()["duplicates"] == 1
    bad = copy.deepcopy(ALERT)
    del bad["alerts"][0]["labels"]["service"]
    r = client.post("/api/v1/alertmanager", json=bad, headers=auth(token))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "alerts[0].labels.service"
    assert count_events(db_url) == 1


def test_icinga_check_result(client, token):
    r = client.post("/api/v1/checks", headers=auth(token), json={
        "service": "samweb", "exit_status": 2, "plugin_output": "CRITICAL - timeout", "ttl": 300,
        "execution_end": NOW.timestamp()})
    assert r.json()["stored"] == 1
    r = client.post("/api/v1/checks", headers=auth(token), json={"service": "samweb", "exit_status": 9, "plugin_output": "?"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "exit_status"


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, "no credentials"),
        ({"Authorization": "Bearer pdo_wrong"}, "unknown or revoked"),
    ],
)
def test_missing_or_wrong_token_is_401(client, token, headers, words):
    r = client.post("/api/v1/events", json={"service": "dcache", "state": "up"}, headers=headers)
    assert r.status_code == 401 and words in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_401(client, token, db_url):
    with connect(db_url) as conn:
        tokens.revoke(conn, feeder="icinga")
        conn.commit()
    r = client.post("/api/v1/events", json={"service": "dcache", "state": "up"}, headers=auth(token))
    assert r.status_code == 401
    assert count_events(db_url) == 0


def test_human_pages_need_an_airflow_login(client):
    assert client.get("/").status_code == 401
    assert client.get("/api/v1/board").status_code == 401
    assert client.get("/api/v1/tokens").status_code == 401


def test_board_json_and_page_with_a_login(app, client, token):
    app.dependency_overrides[viewer] = lambda: None
    client.post("/api/v1/events", json={"service": "dcache", "state": "down"}, headers=auth(token))
    data = client.get("/api/v1/board").json()
    assert next(s for s in data["services"] if s["name"] == "dcache")["state"] == "down"
    page = client.get("/")
    assert page.status_code == 200 and 'data-service="dcache" data-state="down"' in page.text


def test_maintenance_and_announcements_api(client, token):
    window = {"id": "chg-42", "services": ["dcache"], "start": (NOW + timedelta(hours=1)).isoformat(),
              "end": (NOW + timedelta(hours=3)).isoformat(), "reason": "dCache upgrade"}
    r = client.post("/api/v1/maintenance", json=window, headers=auth(token))
    assert r.status_code == 201
    again = client.post("/api/v1/maintenance", json=window, headers=auth(token))
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    bad = client.post("/api/v1/maintenance", json={**window, "end": window["start"]}, headers=auth(token))
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "end"
    assert client.delete(f"/api/v1/maintenance/{r.json()['id']}", headers=auth(token)).json()["cancelled"]
    assert client.delete("/api/v1/maintenance/999999", headers=auth(token)).status_code == 404
    a = client.post("/api/v1/announcements", json={"text": "Tape writes paused", "severity": "warning"}, headers=auth(token))
    assert a.status_code == 201
    bad = client.post("/api/v1/announcements", json={"text": "x", "severity": "loud"}, headers=auth(token))
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "severity"


def test_token_api_for_admins(app, client, db_url):
    app.dependency_overrides[token_admin] = lambda: None
    issued = client.post("/api/v1/tokens", json={"feeder": "alertmanager", "note": "prod AM"})
    assert issued.status_code == 201
    tok = issued.json()["token"]
    assert client.post("/api/v1/alertmanager", json=ALERT, headers=auth(tok)).status_code == 200
    listed = client.get("/api/v1/tokens").json()
    assert [t["feeder"] for t in listed] == ["alertmanager"] and "token" not in listed[0]
    assert client.delete(f"/api/v1/tokens/{issued.json()['id']}").json()["revoked"]
    assert client.post("/api/v1/alertmanager", json=ALERT, headers=auth(tok)).status_code == 401
    assert client.post("/api/v1/tokens", json={"feeder": "no spaces"}).status_code == 422


def test_a_person_writes_with_the_airflow_login_as_manual(app, client, monkeypatch, db_url):
    class User:
        def get_name(self):
            return "paola"

    async def fake_user(request):
        return User()

    monkeypatch.setattr("prodops.web.app.airflow_user", fake_user)
    monkeypatch.setattr("prodops.web.app.is_operator", lambda user: True)  # announcements need operator rights
    client.cookies.set("_token", "a-session")
    r = client.post("/api/v1/events", json={"service": "dcache", "state": "down", "source": "feed"})
    assert r.status_code == 200, r.text
    a = client.post("/api/v1/announcements", json={"text": "Pause keep-up", "author": "someone else"})
    assert a.status_code == 201
    with connect(db_url) as conn:
        assert conn.execute("SELECT source, feed, stream FROM status_events").fetchone() == {
            "source": "manual", "feed": "paola", "stream": "*"}
        assert conn.execute("SELECT author FROM announcements").fetchone() == {"author": "paola"}
    form_post = client.post("/api/v1/events", content=b'{"service": "dcache", "state": "up"}',
                            headers={"Content-Type": "text/plain"})
    assert form_post.status_code == 415
