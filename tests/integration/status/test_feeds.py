"""Pull feeds against a local HTTP server: mapping, retries with backoff, timeouts, staleness."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from prodops.status import records
from prodops.status.board import current_states
from prodops.status.events import PayloadInvalid, from_native
from prodops.status.feeds import FeedUnavailable, feed_url, fetch, mark_stale, pull_feed, session
from prodops.status.registry import PullFeed, load_registry, sync_registry
from prodops.status.states import ServiceState
from prodops.store.db import connect

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FEED = PullFeed(name="statuspage", conn_id="unused", path="/components.json", timeout_s=1.0,
                components={"SAM web": "samweb", "Conditions DB": "conditions-db"})
COMPONENTS = {"components": [
    {"id": "c1", "name": "SAM web", "status": "major_outage", "updated_at": (NOW - timedelta(minutes=3)).isoformat()},
    {"id": "c2", "name": "Conditions DB", "status": "operational", "updated_at": (NOW - timedelta(minutes=3)).isoformat()},
    {"id": "c3", "name": "Website", "status": "operational", "updated_at": NOW.isoformat()},
]}


class Feed:
    """A local monitoring feed: answers the scripted (status, body, delay) in turn, then the last."""

    def __init__(self, script):
        self.script = list(script)
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                status, body, delay = outer.script[min(outer.hits, len(outer.script) - 1)]
                outer.hits += 1
                time.sleep(delay)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/components.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def db(db_url):
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        conn.commit()
    return db_url


@pytest.fixture
def feed_server():
    made = []

    def make(*script):
        f = Feed(script)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def test_statuspage_feed_is_mapped_and_stored_once(db, feed_server):
    f = feed_server((200, COMPONENTS, 0))
    assert pull_feed(db, FEED, f.url, now=NOW).to_dict() == {"received": 2, "stored": 2, "duplicates": 0}
    assert pull_feed(db, FEED, f.url, now=NOW).stored == 0  # same updated_at: the same events
    with connect(db) as conn:
        states = current_states(conn, NOW)
    assert states["samweb"].state is ServiceState.DOWN and states["conditions-db"].state is ServiceState.UP


def test_statuspage_scheduled_maintenance_becomes_a_window_updated_in_place(db, feed_server):
    start, end = NOW + timedelta(days=1), NOW + timedelta(days=1, hours=2)
    maint = {"id": "m1", "name": "SAM web database upgrade", "status": "scheduled", "scheduled_for": start.isoformat(),
             "scheduled_until": end.isoformat(), "components": [{"name": "SAM web"}]}
    other = {**maint, "id": "m2", "components": [{"name": "Website"}]}
    f = feed_server((200, {**COMPONENTS, "scheduled_maintenances": [maint, other]}, 0),
                    (200, {**COMPONENTS, "scheduled_maintenances": [{**maint, "scheduled_until": (end + timedelta(hours=1)).isoformat()}]}, 0))
    pull_feed(db, FEED, f.url, now=NOW)
    pull_feed(db, FEED, f.url, now=NOW)
    with connect(db) as conn:
        [w] = records.windows_overlapping(conn, NOW, NOW + timedelta(days=3))
    assert (w.services, w.reason, w.source, w.ends_at) == (("samweb",), "SAM web database upgrade", "feed", end + timedelta(hours=1))


def test_server_errors_are_retried_with_backoff(db, feed_server):
    f = feed_server((503, "busy", 0), (502, "busy", 0), (200, COMPONENTS, 0))
    started = time.monotonic()
    assert pull_feed(db, FEED, f.url, now=NOW, http=session(backoff_s=0.1)).stored == 2
    assert f.hits == 3 and time.monotonic() - started >= 0.1


def test_a_feed_that_stays_down_fails_clearly_and_stores_nothing(db, feed_server):
    f = feed_server((503, "down for maintenance", 0))
    with pytest.raises(FeedUnavailable, match="HTTP 503"):
        pull_feed(db, FEED, f.url, now=NOW, http=session(retries=2, backoff_s=0.01))
    assert f.hits == 3
    with connect(db) as conn:
        assert records.count_events(conn) == 0


def test_a_slow_feed_times_out(feed_server):
    f = feed_server((200, COMPONENTS, 3))
    started = time.monotonic()
    with pytest.raises(FeedUnavailable, match="Timeout|timed out"):
        fetch(f.url, timeout_s=0.3, http=session(retries=0))
    assert time.monotonic() - started < 2.5


def test_not_json_and_bad_payload(db, feed_server):
    with pytest.raises(FeedUnavailable, match="did not answer JSON"):
        fetch(feed_server((200, "<html>", 0)).url, timeout_s=1)
    bad = {"components": [{"name": "SAM web", "status": "on fire", "updated_at": NOW.isoformat()}]}
    with pytest.raises(PayloadInvalid, match=r"components\[0\].status"):
        pull_feed(db, FEED, feed_server((200, bad, 0)).url, now=NOW)


def test_feed_url_from_a_connection():
    assert feed_url(SimpleNamespace(host="status.example.org", schema="https", port=None), "/api/v2/components.json") \
        == "https://status.example.org/api/v2/components.json"
    assert feed_url(SimpleNamespace(host="http://10.0.0.1", schema=None, port=8080), "x") == "http://10.0.0.1:8080/x"


def test_stale_services_are_marked_unknown_once(db):
    with connect(db) as conn:
        records.insert_events(conn, from_native({"events": [
            {"service": "samweb", "state": "up", "time": (NOW - timedelta(hours=1)).isoformat()},  # limit 15 min
            {"service": "dcache", "state": "up", "time": (NOW - timedelta(minutes=5)).isoformat()},
            {"service": "fts", "state": "up", "time": (NOW - timedelta(days=9)).isoformat()},  # no limit
        ]}, feed="t", now=NOW))
        conn.commit()
    stale = mark_stale(db, now=NOW)
    assert [(s.service, s.stale_since) for s in stale] == [("samweb", NOW - timedelta(minutes=45))]
    mark_stale(db, now=NOW + timedelta(minutes=1))
    with connect(db) as conn:
        rows = conn.execute("SELECT service, source, state FROM status_events WHERE source = 'system'").fetchall()
        assert rows == [{"service": "samweb", "source": "system", "state": "unknown"}]
        assert current_states(conn, NOW)["samweb"].state is ServiceState.UNKNOWN
