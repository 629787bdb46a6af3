"""The service board against a real PostgreSQL: registry, dedupe, staleness, windows, tokens, preflight."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.status import records, tokens
from prodops.status.board import board, current_states
from prodops.triage.outages import load_intervals
from prodops.status.events import from_alertmanager, from_native, stale_event
from prodops.status.maintenance import parse_announcement, parse_window
from prodops.status.preflight import preflight
from prodops.status.registry import Registry, Service, load_registry, sync_registry
from prodops.status.states import ServiceState
from prodops.store.db import connect

pytestmark = pytest.mark.integration

S = ServiceState
NOW = datetime.now(timezone.utc).replace(microsecond=0)
H = timedelta(hours=1)


@pytest.fixture
def conn(db_url):
    with connect(db_url) as c:
        sync_registry(c, load_registry())
        c.commit()
        yield c


def native(conn, *events, feed="ops"):
    result = records.insert_events(conn, from_native({"events": list(events)}, feed=feed, now=NOW))
    conn.commit()
    return result


def iso(t: datetime) -> str:
    return t.isoformat()


def test_registry_sync_is_idempotent_and_deactivates_removed_services(conn):
    before = records.active_services(conn)
    sync_registry(conn, load_registry())
    assert records.active_services(conn) == before
    sync_registry(conn, Registry(services=(Service(name="dcache"),)))
    assert [s["name"] for s in records.active_services(conn)] == ["dcache"]


def test_repeated_events_are_stored_once(conn):
    e = {"service": "dcache", "state": "down", "time": iso(NOW - H), "id": "evt-1"}
    assert native(conn, e, e).to_dict() == {"received": 2, "stored": 1, "duplicates": 1}
    assert native(conn, e).stored == 0
    assert native(conn, {**e, "time": iso(NOW - H + timedelta(seconds=1))}).stored == 1
    assert records.count_events(conn) == 2


def test_alertmanager_resend_of_a_firing_alert_is_stored_once(conn):
    payload = {"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": {"service": "fts"}, "annotations": {}, "fingerprint": "f1",
         "startsAt": iso(NOW - H), "endsAt": "0001-01-01T00:00:00Z"}]}
    for _ in range(3):
        records.insert_events(conn, from_alertmanager(payload, feed="am", now=NOW))
    conn.commit()
    assert records.count_events(conn) == 1
    assert current_states(conn, NOW)["fts"].state is S.DOWN


def test_current_state_since_when_and_staleness(conn):
    native(conn, {"service": "dcache", "state": "up", "time": iso(NOW - 3 * H)},
           {"service": "dcache", "state": "down", "time": iso(NOW - 2 * H)},
           {"service": "samweb", "state": "up", "time": iso(NOW - H)})  # samweb: stale after 15 min
    states = current_states(conn, NOW)
    assert (states["dcache"].state, states["dcache"].since) == (S.UNKNOWN, NOW - 2 * H + timedelta(minutes=15))
    assert states["samweb"].state is S.UNKNOWN
    native(conn, {"service": "dcache", "state": "down", "time": iso(NOW - timedelta(minutes=1))})
    assert current_states(conn, NOW)["dcache"].state is S.DOWN
    assert current_states(conn, NOW)["fts"].state is S.UNKNOWN  # never reported


def test_stale_system_event_is_idempotent(conn):
    native(conn, {"service": "samweb", "state": "up", "time": iso(NOW - H)})
    for _ in range(2):
        records.insert_events(conn, [stale_event("samweb", NOW - H, 900)])
    conn.commit()
    assert records.count_events(conn) == 2


def test_board_has_uptime_bars_outages_windows_and_announcements(conn):
    native(conn, {"service": "fts", "state": "up", "time": iso(NOW - 48 * H)},
           {"service": "fts", "state": "down", "time": iso(NOW - 10 * H), "id": "x1"},
           {"service": "fts", "state": "up", "time": iso(NOW - 7 * H), "id": "x2"})
    w = parse_window({"services": ["fts"], "start": iso(NOW + H), "end": iso(NOW + 2 * H), "reason": "FTS upgrade"},
                     feed="ops", source="manual", now=NOW)
    records.upsert_window(conn, w)
    records.upsert_announcement(conn, parse_announcement({"text": "Keep-up paused", "severity": "warning"}, feed="ops", now=NOW - H))
    conn.commit()
    data = board(conn, NOW, {"demo": ["fts"]})
    fts = next(s for s in data["services"] if s["name"] == "fts")
    assert fts["state"] == "up" and fts["since"] == iso(NOW - 7 * H)
    assert fts["uptime"]["24h"]["percent"] == pytest.approx(100 * 21 / 24)
    assert len(fts["bars"]) == 30 and "demo" in fts["workflows"]
    [outage] = fts["outages"]
    assert (outage["start"], outage["end"], outage["duration_s"], outage["worst"]) == (iso(NOW - 10 * H), iso(NOW - 7 * H), 3 * 3600, "down")
    assert len(outage["event_ids"]) == 2
    assert [m["reason"] for m in data["maintenance"]] == ["FTS upgrade"]
    assert [a["text"] for a in data["announcements"]] == ["Keep-up paused"]


def test_window_upsert_by_natural_key_and_cancel(conn):
    payload = {"id": "chg-1", "services": ["dcache"], "start": iso(NOW + H), "end": iso(NOW + 2 * H), "reason": "a"}
    first, created = records.upsert_window(conn, parse_window(payload, feed="ops", source="manual", now=NOW))
    again, created_again = records.upsert_window(
        conn, parse_window({**payload, "reason": "b"}, feed="ops", source="manual", now=NOW))
    assert first == again and created and not created_again
    assert [w.reason for w in records.windows_overlapping(conn, NOW, NOW + 3 * H)] == ["b"]
    assert records.cancel_window(conn, first)
    assert records.windows_overlapping(conn, NOW, NOW + 3 * H) == []


def test_announcement_ends(conn):
    aid, _ = records.upsert_announcement(conn, parse_announcement({"text": "hello"}, feed="ops", now=NOW - H))
    assert [a.id for a in records.active_announcements(conn, NOW)] == [aid]
    assert records.end_announcement(conn, aid, NOW)
    assert records.active_announcements(conn, NOW) == []


def test_tokens_issue_verify_revoke(conn):
    tid, token = tokens.issue(conn, "icinga", "main Icinga")
    assert tokens.feeder_for(conn, token) == "icinga"
    assert tokens.feeder_for(conn, token + "x") is None
    assert tokens.feeder_for(conn, "Bearer nonsense") is None
    stored = conn.execute("SELECT token_hash, prefix FROM feeder_tokens WHERE id = %s", (tid,)).fetchone()
    assert token not in stored.values() and stored["token_hash"] == tokens.hash_token(token)
    assert [r["id"] for r in tokens.revoke(conn, prefix=token[:12])] == [tid]
    assert tokens.feeder_for(conn, token) is None
    with pytest.raises(ValueError, match="not a valid name"):
        tokens.issue(conn, "bad name")


def test_preflight_rules(conn):
    native(conn, {"service": "dcache", "state": "up", "time": iso(NOW - timedelta(minutes=1))},
           {"service": "samweb", "state": "degraded", "time": iso(NOW - timedelta(minutes=1))})
    assert preflight(conn, [], now=NOW, run_for=H).ok
    assert preflight(conn, ["dcache"], now=NOW, run_for=H).ok
    blocked = preflight(conn, ["dcache", "samweb"], now=NOW, run_for=H)
    assert not blocked.ok and [b["service"] for b in blocked.blockers] == ["samweb"]
    assert "samweb: is degraded" in blocked.summary()
    assert preflight(conn, ["samweb"], now=NOW, run_for=H, allow_degraded=True).ok
    assert not preflight(conn, ["fts"], now=NOW, run_for=H).ok  # never reported: unknown
    assert "not a registered service" in preflight(conn, ["nosuch"], now=NOW, run_for=H).summary()
    # a window for dcache starting in 2 h blocks a 3 h run, not a 1 h run; a global one blocks everyone
    records.upsert_window(conn, parse_window({"services": ["dcache"], "start": iso(NOW + 2 * H), "end": iso(NOW + 4 * H),
                                              "reason": "dCache upgrade"}, feed="ops", source="manual", now=NOW))
    assert preflight(conn, ["dcache"], now=NOW, run_for=H).ok
    result = preflight(conn, ["dcache"], now=NOW, run_for=3 * H)
    assert not result.ok and result.blockers[0]["until"] == iso(NOW + 4 * H)
    records.upsert_window(conn, parse_window({"services": [], "start": iso(NOW - H), "end": iso(NOW + H),
                                              "reason": "site power work"}, feed="ops", source="manual", now=NOW))
    result = preflight(conn, [], now=NOW, run_for=H)
    assert not result.ok and result.blockers[0]["service"] == "all services"


def test_triage_sees_which_outage_overlapped_a_job_with_its_real_start(conn):
    native(conn, {"service": "fts", "state": "up", "time": iso(NOW - 5 * H)},
           {"service": "fts", "state": "down", "time": iso(NOW - 4 * H)},
           {"service": "fts", "state": "up", "time": iso(NOW - 3 * H)},
           {"service": "batch-pool", "state": "up", "time": iso(NOW - 5 * H)})
    [o] = load_intervals(conn, ["fts", "batch-pool"], NOW - 3.5 * H, NOW - 2 * H)  # a job in its second half
    assert (o.service, o.kind, o.start, o.end) == ("fts", "outage", NOW - 4 * H, NOW - 3 * H)
    assert load_intervals(conn, ["fts"], NOW - 2 * H, NOW - H) == []
    assert load_intervals(conn, ["batch-pool"], NOW - 5 * H, NOW) == []
