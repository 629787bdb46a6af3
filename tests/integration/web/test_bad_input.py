"""Every input a 4xx naming the field or a correct record, never a 500: the failures an outside probe
(schemathesis and hand-made payloads, issue 15) found, each reproduced here on a real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.status import tokens
from prodops.store.db import connect
from prodops.web.api.body import MAX_BODY_BYTES
from prodops.web.app import viewer

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SOON = NOW + timedelta(hours=1)
EVENT = {"service": "dcache", "state": "down", "message": "pool offline"}
CHECK = {"service": "samweb", "exit_status": 2, "plugin_output": "CRITICAL - timeout"}
WINDOW = {"services": ["dcache"], "start": SOON.isoformat(), "end": (SOON + timedelta(hours=2)).isoformat(),
          "reason": "dCache upgrade"}
ANNOUNCEMENT = {"text": "Tape writes paused", "severity": "warning"}
ALERT = {"version": "4", "alerts": [{"status": "firing", "labels": {"service": "fts", "alertname": "FTSDown"},
                                     "annotations": {"summary": "FTS down"}, "fingerprint": "fp1",
                                     "startsAt": (NOW - timedelta(minutes=5)).isoformat()}]}


@pytest.fixture
def client(synced_app, synced_client):
    synced_app.dependency_overrides[viewer] = lambda: None
    return synced_client


@pytest.fixture
def auth(db_url):
    with connect(db_url) as conn:
        _, tok = tokens.issue(conn, "probe", services=["dcache", "fts", "samweb"])
        conn.commit()
    return {"Authorization": f"Bearer {tok}"}


def stored(db_url: str) -> dict[str, int]:
    with connect(db_url) as conn:
        return {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]  # noqa: S608 - fixed names
                for t in ("status_events", "maintenance_windows", "announcements")}


def with_field(body: dict, path: tuple, value) -> dict:
    """A deep copy of ``body`` with the field at ``path`` (keys and list indexes) set to ``value``."""
    import copy

    out = copy.deepcopy(body)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


# (route, body, path of a free-text field, the field the 422 names)
FREE_TEXT = [
    ("events", EVENT, ("message",), "message"),
    ("events", EVENT, ("service",), "service"),
    ("events", {**EVENT, "id": "e-1"}, ("id",), "id"),
    ("events", {**EVENT, "stream": "s"}, ("stream",), "stream"),
    ("events", {"events": [EVENT, {**EVENT}]}, ("events", 1, "message"), "events[1].message"),
    ("checks", CHECK, ("plugin_output",), "plugin_output"),
    ("checks", {**CHECK, "check_source": "host1"}, ("check_source",), "check_source"),
    ("alertmanager", ALERT, ("alerts", 0, "annotations", "summary"), "alerts[0].annotations"),
    ("alertmanager", ALERT, ("alerts", 0, "fingerprint"), "alerts[0].fingerprint"),
    ("alertmanager", ALERT, ("alerts", 0, "labels", "service"), "alerts[0].labels.service"),
    ("maintenance", WINDOW, ("reason",), "reason"),
    ("maintenance", {**WINDOW, "id": "chg-1"}, ("id",), "id"),
    ("announcements", ANNOUNCEMENT, ("text",), "text"),
    ("announcements", {**ANNOUNCEMENT, "id": "a-1"}, ("id",), "id"),
]


def answers(client, auth, cases, value) -> list[tuple[str, int, list[str]]]:
    """(route and field, status, fields named) of each case's body with its field set to ``value``."""
    out = []
    for route, body, path, field in cases:
        r = client.post(f"/api/v1/{route}", headers={**auth, "Content-Type": "application/json"},
                        content=_json(with_field(body, path, value)))
        out.append((f"{route}:{field}", r.status_code, [d["field"] for d in r.json().get("detail", [])]))
    return out


@pytest.mark.parametrize("bad", ["a\x00b", "a\x07b", "a\ud800b"], ids=["NUL", "BEL", "lone-surrogate"])
def test_control_characters_in_free_text_are_422_naming_the_field(client, auth, db_url, bad):
    """psycopg raised DataError (a 500) on a NUL byte; a lone surrogate could not be encoded at all."""
    got = answers(client, auth, FREE_TEXT, bad)
    assert got == [(f"{route}:{field}", 422, [field]) for route, _, _, field in FREE_TEXT]
    assert stored(db_url) == {"status_events": 0, "maintenance_windows": 0, "announcements": 0}


def test_line_breaks_and_tabs_stay_allowed_in_messages(client, auth, db_url):
    r = client.post("/api/v1/events", headers=auth, json={**EVENT, "message": "pool\toffline\r\nsince 10:00"})
    assert r.status_code == 200, r.text
    assert stored(db_url)["status_events"] == 1


def _json(body: dict) -> bytes:
    """JSON as a careless sender writes it: NaN and Infinity bare, lone surrogates escaped."""
    import json

    return json.dumps(body, allow_nan=True).encode()


# (route, body, path of a number, the field the 422 names)
NUMBERS = [
    ("events", {**EVENT, "time": 0}, ("time",), "time"),
    ("events", {**EVENT, "ttl": 60}, ("ttl",), "ttl"),
    ("checks", {**CHECK, "ttl": 60}, ("ttl",), "ttl"),
    ("checks", {**CHECK, "execution_end": 0}, ("execution_end",), "execution_end"),
    ("checks", CHECK, ("exit_status",), "exit_status"),
    ("maintenance", WINDOW, ("start",), "start"),
    ("announcements", ANNOUNCEMENT, ("end",), "end"),
]


@pytest.mark.parametrize("number", [1e20, float("nan"), float("inf"), float("-inf")],
                         ids=["1e20", "NaN", "Infinity", "-Infinity"])
def test_huge_and_non_finite_numbers_are_422_naming_the_field(client, auth, db_url, number):
    """1e20, NaN and Infinity passed the type checks and raised OverflowError (a 500)."""
    got = answers(client, auth, NUMBERS, number)
    assert [(case, code) for case, code, _ in got] == [(f"{r}:{f}", 422) for r, _, _, f in NUMBERS]
    assert all(field in fields for (_, _, _, field), (_, _, fields) in zip(NUMBERS, got, strict=True))
    assert stored(db_url) == {"status_events": 0, "maintenance_windows": 0, "announcements": 0}


@pytest.mark.parametrize("when", ["9999-01-01T00:00:00Z", "1969-12-31T23:59:59Z", -1.9e10, 4e11,
                                  (NOW + timedelta(days=400)).isoformat()],
                         ids=["year-9999", "before-1970", "year-minus-300", "milliseconds", "400-days-ahead"])
def test_event_times_outside_the_window_are_refused(client, auth, db_url, when):
    """Times of year -300 or 9999 were stored; the window is 1970 to a year from now."""
    r = client.post("/api/v1/events", headers=auth, json={**EVENT, "time": when})
    assert r.status_code == 422, r.text
    [err] = r.json()["detail"]
    assert err["field"] == "time" and "1970-01-01 to a year from now" in err["msg"]
    assert stored(db_url)["status_events"] == 0


def test_times_at_the_window_edges_are_stored(client, auth, db_url):
    r = client.post("/api/v1/events", headers=auth, json={"events": [
        {**EVENT, "time": "1970-01-01T00:00:00Z", "id": "a"},
        {**EVENT, "time": (NOW + timedelta(days=365)).isoformat(), "id": "b"}]})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2


@pytest.mark.parametrize("path", ["/api/v1/triage/1?stage=a%00b", "/api/v1/triage/1/live?stage=a%00b",
                                  "/triage/1?stage=a%00b", "/api/v1/requests?experiment=a%00b",
                                  "/requests/?campaign=x%01y"])
def test_control_characters_in_a_query_are_422_naming_the_parameter(client, path):
    """``?stage=a%00b`` reached PostgreSQL (DataError, a 500)."""
    r = client.get(path)
    assert r.status_code == 422, r.text
    name = path.split("?")[1].split("=")[0]
    assert r.json()["detail"][0]["field"] == name


def test_control_characters_in_a_path_are_422(client):
    r = client.get("/api/v1/campaigns/nova/prod%00x")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "path"


@pytest.mark.parametrize("path", ["/api/v1/triage/987654", "/api/v1/triage/987654/live", "/triage/987654"])
def test_triage_of_a_request_that_does_not_exist_is_404(client, path):
    """It answered 200 with zero counts."""
    r = client.get(path)
    assert r.status_code == 404 and "no production request 987654" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/requests/987654", "/api/v1/campaigns/nova/nosuch",
                                  "/api/v1/services/nosuch/uptime", "/api/v1/services/nosuch/outages",
                                  "/api/v1/triage/attempts/987654/0"])
def test_other_reads_of_what_does_not_exist_are_404(client, path):
    assert client.get(path).status_code == 404


def test_a_large_body_without_a_token_is_401_unread(client, monkeypatch):
    """A 20 MB body was parsed, then refused with 401: authentication now comes first."""
    parsed = []
    monkeypatch.setattr("prodops.web.api.body.parse_json", lambda raw: parsed.append(raw))
    big = b'{"events": [' + b'{"service": "dcache", "state": "up"},' * 560_000 + b'{}]}'
    assert len(big) > 20_000_000
    r = client.post("/api/v1/events", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and parsed == []
    r = client.post("/api/v1/events", content=big, headers={"Authorization": "Bearer pdo_wrong"})
    assert r.status_code == 401 and parsed == []


def test_a_body_over_the_limit_is_413_before_parsing(client, auth, db_url, monkeypatch):
    parsed = []
    monkeypatch.setattr("prodops.web.api.body.parse_json", lambda raw: parsed.append(raw))
    big = b" " * (MAX_BODY_BYTES + 1)
    r = client.post("/api/v1/events", content=big, headers=auth)
    assert r.status_code == 413 and str(MAX_BODY_BYTES) in r.json()["detail"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    r = client.post("/api/v1/events", content=chunks(), headers=auth)
    assert r.status_code == 413 and parsed == []
    assert stored(db_url)["status_events"] == 0


def test_a_body_at_the_limit_is_read(client, auth):
    body = _json(EVENT)
    padded = body + b" " * (MAX_BODY_BYTES - len(body))
    r = client.post("/api/v1/events", content=padded, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"],
                         ids=["empty", "malformed", "deep", "not-utf8"])
def test_unreadable_bodies_are_422(client, auth, raw):
    r = client.post("/api/v1/events", content=raw, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["stored"] == 0
