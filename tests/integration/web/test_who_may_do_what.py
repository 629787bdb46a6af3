"""Who may do what with the write API (issue 15): a feeder token reports its scope and never acts as a
person; maintenance and announcements by people need operator rights. On a real PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from prodops.status import tokens
from prodops.store.db import connect
from prodops.web.alerts import AnnouncementAlerts
from prodops.web.app import token_admin

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SOON = NOW + timedelta(hours=1)


def window(services, hours: float = 2, **extra) -> dict:
    return {"services": services, "start": SOON.isoformat(), "end": (SOON + timedelta(hours=hours)).isoformat(),
            "reason": "upgrade", **extra}


class User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


@pytest.fixture
def app(synced_app):
    return synced_app


@pytest.fixture
def client(synced_client):
    """The registry loads on the first request (icinga reports dcache and samweb, alertmanager fts ...)."""
    return synced_client


def issue(db_url: str, feeder: str, **scope) -> dict[str, str]:
    with connect(db_url) as conn:
        _, tok = tokens.issue(conn, feeder, **scope)
        conn.commit()
    return {"Authorization": f"Bearer {tok}"}


@pytest.fixture
def icinga(db_url, client):
    """A token whose scope is the registry's: the services with ``feed: icinga`` (dcache, samweb)."""
    return issue(db_url, "icinga")


@pytest.fixture
def person(client, monkeypatch):
    """Log in as ``paola``; returns a switch for her operator rights (on by default)."""
    rights = {"operator": True}

    async def fake_user(request):
        return User("paola")

    monkeypatch.setattr("prodops.web.app.airflow_user", fake_user)
    monkeypatch.setattr("prodops.web.app.is_operator", lambda user: rights["operator"])
    client.cookies.set("_token", "a-session")
    return rights


def fields(r) -> list[str]:
    return [d["field"] for d in r.json()["detail"]]


def count(db_url: str, table: str) -> int:
    with connect(db_url) as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]  # noqa: S608 - fixed names


def test_a_token_reports_only_the_services_its_feed_reports(client, icinga, db_url):
    assert client.post("/api/v1/events", headers=icinga, json={"service": "dcache", "state": "up"}).status_code == 200
    r = client.post("/api/v1/events", headers=icinga, json={"events": [
        {"service": "samweb", "state": "up"}, {"service": "fts", "state": "down"}]})
    assert r.status_code == 403 and fields(r) == ["events[1].service"]
    assert "dcache, samweb" in r.json()["detail"][0]["msg"]
    r = client.post("/api/v1/checks", headers=icinga, json={"service": "batch-pool", "exit_status": 2,
                                                            "plugin_output": "CRITICAL"})
    assert r.status_code == 403 and fields(r) == ["service"]
    r = client.post("/api/v1/alertmanager", headers=icinga, json={"version": "4", "alerts": [
        {"status": "firing", "labels": {"prodops_service": "fts"}, "fingerprint": "f",
         "startsAt": NOW.isoformat()}]})
    assert r.status_code == 403 and fields(r) == ["alerts[0].labels.prodops_service"]
    assert count(db_url, "status_events") == 1


def test_a_token_scoped_at_issue_reports_those_services_only(client, db_url):
    am = issue(db_url, "alertmanager", services=["fts"])
    assert client.post("/api/v1/events", headers=am, json={"service": "fts", "state": "up"}).status_code == 200
    assert client.post("/api/v1/events", headers=am, json={"service": "batch-pool", "state": "up"}).status_code == 403


def test_a_token_cannot_post_as_a_person(client, icinga, db_url):
    r = client.post("/api/v1/events", headers=icinga, json={"service": "dcache", "state": "down", "source": "manual"})
    assert r.status_code == 403 and fields(r) == ["source"]
    r = client.post("/api/v1/announcements", headers=icinga, json={"text": "x", "author": "paola"})
    assert r.status_code == 403 and fields(r) == ["author"]
    r = client.post("/api/v1/maintenance", headers=icinga, json=window(["dcache"], created_by="paola"))
    assert r.status_code == 403 and fields(r) == ["created_by"]
    assert count(db_url, "status_events") + count(db_url, "announcements") + count(db_url, "maintenance_windows") == 0


def test_a_token_cannot_hold_every_service_or_for_long(client, icinga, db_url, monkeypatch):
    """A 31-day window for all services would hold every production at preflight."""
    r = client.post("/api/v1/maintenance", headers=icinga, json=window("all", hours=31 * 24 - 2))
    assert r.status_code == 403 and fields(r) == ["services", "end"]
    r = client.post("/api/v1/maintenance", headers=icinga, json=window(["dcache", "fts"]))
    assert r.status_code == 403 and fields(r) == ["services[1]"]
    monkeypatch.setenv("PRODOPS_FEEDER_MAX_WINDOW_HOURS", "4")
    assert client.post("/api/v1/maintenance", headers=icinga, json=window(["dcache"], hours=5)).status_code == 403
    assert client.post("/api/v1/maintenance", headers=icinga, json=window(["dcache"], hours=4)).status_code == 201
    assert count(db_url, "maintenance_windows") == 1


def test_a_token_undoes_only_what_its_feeder_made(client, icinga, db_url, person):
    mine = client.post("/api/v1/maintenance", headers=icinga, json=window(["dcache"], id="w-mine")).json()["id"]
    theirs = client.post("/api/v1/maintenance", json=window(["dcache"], id="w-paola")).json()["id"]
    other = issue(db_url, "icinga2", services=["dcache"])
    ann_person = client.post("/api/v1/announcements", json={"text": "Pause keep-up"}).json()["id"]
    ann_mine = client.post("/api/v1/announcements", headers=icinga, json={"text": "Icinga says"}).json()["id"]

    r = client.delete(f"/api/v1/maintenance/{theirs}", headers=icinga)
    assert r.status_code == 403 and "ask an operator" in r.json()["detail"]
    assert client.delete(f"/api/v1/maintenance/{mine}", headers=other).status_code == 403
    assert client.delete(f"/api/v1/announcements/{ann_person}", headers=icinga).status_code == 403
    assert client.delete(f"/api/v1/maintenance/{mine}", headers=icinga).json() == {"id": mine, "cancelled": True}
    assert client.delete(f"/api/v1/announcements/{ann_mine}", headers=icinga).json()["ended"]
    with connect(db_url) as conn:
        assert conn.execute("SELECT id FROM maintenance_windows WHERE cancelled_at IS NOT NULL").fetchall() == [
            {"id": mine}]
        assert conn.execute("SELECT source FROM announcements ORDER BY id").fetchall() == [
            {"source": "manual"}, {"source": "feed"}]
    # an operator may undo anything
    assert client.delete(f"/api/v1/maintenance/{theirs}").status_code == 200
    assert client.delete(f"/api/v1/announcements/{ann_person}").status_code == 200


def test_maintenance_and_announcements_by_people_need_operator_rights(client, person, db_url):
    person["operator"] = False
    r = client.post("/api/v1/announcements", json={"text": "Pause keep-up"})
    assert r.status_code == 403 and "operator rights" in r.json()["detail"]
    assert client.post("/api/v1/maintenance", json=window(["dcache"])).status_code == 403
    assert client.delete("/api/v1/maintenance/1").status_code == 403
    assert client.delete("/api/v1/announcements/1").status_code == 403
    # any person may still give their word on a service
    assert client.post("/api/v1/events", json={"service": "dcache", "state": "down"}).status_code == 200
    person["operator"] = True
    assert client.post("/api/v1/announcements", json={"text": "Pause keep-up"}).status_code == 201
    assert client.post("/api/v1/maintenance", json=window("all")).status_code == 201  # a person may hold everything
    assert count(db_url, "announcements") == count(db_url, "maintenance_windows") == 1


def test_an_expired_token_is_refused_like_a_revoked_one(client, db_url):
    soon = datetime.now(timezone.utc) + timedelta(hours=1)
    auth = issue(db_url, "icinga", expires_at=soon)
    assert client.post("/api/v1/events", headers=auth, json={"service": "dcache", "state": "up"}).status_code == 200
    with connect(db_url) as conn:
        conn.execute("UPDATE feeder_tokens SET expires_at = now() - interval '1 second'")
        conn.commit()
    r = client.post("/api/v1/events", headers=auth, json={"service": "dcache", "state": "up"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    with pytest.raises(ValueError, match="in the future"):
        issue(db_url, "icinga", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))


def test_the_token_api_issues_scoped_expiring_tokens(app, client, db_url):
    app.dependency_overrides[token_admin] = lambda: None
    until = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
    r = client.post("/api/v1/tokens", json={"feeder": "am", "services": ["fts"], "expires_at": until.isoformat()})
    assert r.status_code == 201, r.text
    [listed] = client.get("/api/v1/tokens").json()
    assert listed["services"] == ["fts"] and datetime.fromisoformat(listed["expires_at"]) == until
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.post("/api/v1/events", headers=auth, json={"service": "fts", "state": "up"}).status_code == 200
    bad = client.post("/api/v1/tokens", json={"feeder": "am", "services": ["FTS!"]})
    assert bad.status_code == 422 and fields(bad) == ["services"]
    bad = client.post("/api/v1/tokens", json={"feeder": "am", "expires_at": "2001-01-01T00:00:00Z"})
    assert bad.status_code == 422 and fields(bad) == ["expires_at"]
    bad = client.post("/api/v1/tokens", json={"feeder": "am", "color": "red"})
    assert bad.status_code == 422 and fields(bad) == ["color"]


def test_a_tokens_announcement_reaches_the_dashboard_as_plain_text(client, icinga, person, db_url):
    """It reached Airflow's dashboard alerts as markdown with links."""
    text = "Read [this](http://evil.example) ![x](http://evil.example/x.png) or www.evil.example *now*"
    assert client.post("/api/v1/announcements", headers=icinga, json={"text": text}).status_code == 201
    assert client.post("/api/v1/announcements", json={"text": "See [the plan](https://wiki.example/plan)"}
                       ).status_code == 201
    alerts = {a.text.split(" (")[0]: a for a in AnnouncementAlerts(db_url).alerts()}
    feeder_text = next(t for t in alerts if "evil" in t)
    assert not re.search(r"(?<!\\)[\[\]()]", feeder_text) and "\\[this\\]" in feeder_text  # no bracket unescaped
    assert "http\\://evil.example" in feeder_text and "www\\.evil" in feeder_text and "\\*now\\*" in feeder_text
    assert "See [the plan](https://wiki.example/plan)" in alerts  # a person's markdown is kept


def test_the_token_command_issues_scoped_expiring_tokens(client, db_url, capsys):
    assert tokens.main(["--url", db_url, "issue", "am", "--service", "fts", "--expires-in-days", "2"]) == 0
    token = capsys.readouterr().out.split()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/events", headers=auth, json={"service": "fts", "state": "up"}).status_code == 200
    assert client.post("/api/v1/events", headers=auth, json={"service": "dcache", "state": "up"}).status_code == 403
    with connect(db_url) as conn:
        row = conn.execute("SELECT services, expires_at - created_at AS life FROM feeder_tokens").fetchone()
    assert row["services"] == ["fts"] and timedelta(days=1.99) < row["life"] <= timedelta(days=2)
