"""The outage history, uptime and outage-events endpoints: small answers, events paged apart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from prodops.status import records
from prodops.status.events import from_native
from prodops.store.db import connect
from prodops.web.app import create_app, viewer

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)
M = timedelta(minutes=1)


@pytest.fixture
def client(db_url):
    app = create_app(db_url)
    app.dependency_overrides[viewer] = lambda: None
    with TestClient(app) as c:
        yield c


def test_an_outage_carries_counts_and_its_events_come_in_pages(db_url, client):
    client.get("/api/v1/board")  # loads the registry
    events = [{"service": "fts", "state": "up", "time": (NOW - 120 * M).isoformat(), "id": "u0"}]
    events += [{"service": "fts", "state": "down", "time": (NOW - (60 - i) * M).isoformat(), "id": f"d{i}"}
               for i in range(7)]
    events.append({"service": "fts", "state": "up", "time": (NOW - 30 * M).isoformat(), "id": "u1"})
    with connect(db_url) as conn:
        records.insert_events(conn, from_native({"events": events}, feed="ops", now=NOW))
        conn.commit()
    fts = next(s for s in client.get("/api/v1/board").json()["services"] if s["name"] == "fts")
    [outage] = fts["outages"]
    assert outage["event_count"] == 8 and len(outage["event_ids"]) == 2 and not outage["open"]
    assert "8 events</td>" in client.get("/").text  # the page counts them all, not the two ids it carries
    history = client.get("/api/v1/services/fts/outages").json()
    assert [o["start"] for o in history["outages"]] == [outage["start"]] and history["next_before"] is None
    pages, url, params = [], f"/api/v1{outage['events_url'][len('/api/v1'):]}", {"limit": 3}
    while True:
        page = client.get(url, params=params).json()
        pages.append([e["external_id"] for e in page["events"]])
        if page["next"] is None:
            break
        params = {"limit": 3, "after": page["next"]["after"], "after_id": page["next"]["after_id"]}
    assert pages == [["d0", "d1", "d2"], ["d3", "d4", "d5"], ["d6", "u1"]]
    assert [e["id"] for e in page["events"]][-1] == outage["last_event_id"]
    uptime = client.get("/api/v1/services/fts/uptime").json()["uptime"]
    assert uptime["24h"]["down_s"] == 30 * 60
    assert client.get("/api/v1/services/nosuch/outages").status_code == 404
    assert client.get(f"/api/v1/services/fts/outages/{(NOW - 5 * M).isoformat()}/events").status_code == 404
