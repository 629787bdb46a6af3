"""Derived board rows on a real PostgreSQL: kept up to date on ingest, equal to a rebuild from the events.

The property: whatever the order events arrive in (late, repeated, flapping, with a ttl, on the
override stream, inferred), and whatever maintenance windows are scheduled, moved or cancelled
meanwhile, the rows written incrementally equal the rows :func:`derive.rebuild` writes from the
stored events alone; and they say what :func:`timeline.segments` says.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodops.status import derive, records
from prodops.status.events import StatusEvent
from prodops.status.maintenance import MaintenanceWindow
from prodops.status.registry import Registry, Service, sync_registry
from prodops.status.states import ServiceState
from prodops.status.timeline import ALL_STREAMS, INFERRED_STREAM, EventPoint, Window, segments
from prodops.store.db import connect

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 20, 22, 0, tzinfo=timezone.utc)  # two UTC days in the span
M = timedelta(minutes=1)
SERVICE = "svc"
STREAMS = ("icinga:a", "icinga:b", ALL_STREAMS, INFERRED_STREAM)
DERIVED = {
    "status_segments": "SELECT start_at, end_at, state, run_start, run_worst, run_episodes FROM status_segments"
                       " WHERE service = 'svc' ORDER BY start_at",
    "status_outages": "SELECT start_at, end_at, worst, flapping, episodes, event_count, first_event_id, last_event_id"
                      " FROM status_outages WHERE service = 'svc' ORDER BY start_at",
    "status_daily": "SELECT day, up_s, degraded_s, down_s, maintenance_s FROM status_daily WHERE service = 'svc' ORDER BY day",
    "status_streams": "SELECT stream, event_id, observed_at, state, valid_until FROM status_streams WHERE service = 'svc' ORDER BY stream",
}

event = st.builds(
    lambda minute, state, stream, ttl, ext: (minute, state, stream, ttl, ext),
    st.integers(0, 600), st.sampled_from(list(ServiceState)), st.sampled_from(STREAMS),
    st.one_of(st.none(), st.integers(1, 90)), st.integers(0, 3),
)
window = st.tuples(st.integers(-60, 600), st.integers(1, 240), st.sampled_from(["w1", "w2", "w3"]), st.booleans(),
                   st.booleans())
"""(start minute, length in minutes, id, global, cancelled afterwards)"""
step = st.one_of(st.tuples(st.just("events"), st.lists(event, min_size=1, max_size=8)),
                 st.tuples(st.just("window"), window))


def status_event(minute: int, state: ServiceState, stream: str, ttl: int | None, ext: int,
                 unit: timedelta = M) -> StatusEvent:
    at = T0 + minute * unit
    source = {ALL_STREAMS: "manual", INFERRED_STREAM: "inferred"}.get(stream, "feed")
    return StatusEvent(service=SERVICE, state=state, observed_at=at, source=source, feed=stream, stream=stream,
                       convention="native", external_id=f"e{ext}",
                       valid_until=at + ttl * unit if ttl else None)


@pytest.fixture(scope="module")
def module_db(make_database):
    """One migrated database for the property test (each example rolls its rows back)."""
    import devenv

    url = make_database("prodops_derive")
    devenv.migrate_prodops(url)
    return url


def reset(conn, stale_after_s: int | None) -> None:
    for table in ("status_daily", "status_outages", "status_segments", "status_streams", "status_derived",
                  "status_events", "maintenance_windows"):
        conn.execute(f"DELETE FROM {table}")
    sync_registry(conn, Registry(services=(Service(name=SERVICE, stale_after_s=stale_after_s),
                                           Service(name="other"))))


def snapshot(conn) -> dict[str, list]:
    return {name: conn.execute(sql).fetchall() for name, sql in DERIVED.items()}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=10), stale=st.sampled_from([None, 900, 3600]),
       resend=st.booleans(), unit=st.sampled_from([M, timedelta(seconds=20)]))
def test_incremental_rows_equal_a_rebuild_from_the_events(module_db, steps, stale, resend, unit):
    """``unit``: events a minute apart, or 20 s (most gaps within the flapping gap: long flapping outages)."""
    with connect(module_db) as conn:
        reset(conn, stale)
        for kind, what in steps:
            if kind == "events":
                batch = [status_event(*e, unit=unit) for e in what]
                records.insert_events(conn, batch)
                if resend:  # the same payload again: stored once, nothing changes
                    assert records.insert_events(conn, batch).stored == 0
            else:
                start, length, wid, is_global, cancel = what
                w = MaintenanceWindow(starts_at=T0 + start * M, ends_at=T0 + (start + length) * M, reason="work",
                                      services=() if is_global else (SERVICE,), feed="ops", external_id=wid)
                window_id, _ = records.upsert_window(conn, w)
                if cancel:
                    records.cancel_window(conn, window_id)
        incremental = snapshot(conn)
        derive.rebuild(conn, [SERVICE])
        rebuilt = snapshot(conn)
        expected = timeline_of(conn, stale)
        conn.rollback()
    assert incremental == rebuilt
    got = [(r["start_at"], r["end_at"], r["state"]) for r in incremental["status_segments"]]
    assert got == expected


def timeline_of(conn, stale: int | None) -> list[tuple]:
    """What the board's own rules say over the whole span, from the stored events."""
    evs = [EventPoint(observed_at=r["observed_at"], state=ServiceState(r["state"]), stream=r["stream"], id=r["id"],
                      valid_until=r["valid_until"])
           for r in conn.execute("SELECT * FROM status_events WHERE service = %s", (SERVICE,))]
    wins = [Window(w.starts_at, w.ends_at, w.id) for w in records.windows_overlapping(conn, derive.EPOCH, derive.HORIZON)
            if w.applies_to(SERVICE)]
    return [(s.start, s.end, s.state.value)
            for s in segments(evs, derive.EPOCH, derive.HORIZON, stale_after_s=stale, windows=wins)]


def test_a_late_event_inside_a_closed_outage_is_counted_and_splits_nothing_it_should_not(db_url):
    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, [status_event(0, ServiceState.UP, "icinga:a", None, 0),
                                     status_event(10, ServiceState.DOWN, "icinga:a", None, 0),
                                     status_event(40, ServiceState.UP, "icinga:a", None, 0)])
        records.insert_events(conn, [status_event(42, ServiceState.DOWN, "icinga:a", None, 0),
                                     status_event(44, ServiceState.UP, "icinga:a", None, 0)])  # flapping
        records.insert_events(conn, [status_event(20, ServiceState.DOWN, "icinga:b", None, 1),  # late, inside
                                     status_event(30, ServiceState.UP, "icinga:b", None, 1)])
        [o] = conn.execute("SELECT * FROM status_outages").fetchall()
        assert (o["start_at"], o["end_at"], o["flapping"], o["episodes"], o["event_count"]) == (
            T0 + 10 * M, T0 + 44 * M, True, 2, 6)
        before = snapshot(conn)
        derive.rebuild(conn, [SERVICE])
        assert snapshot(conn) == before


def test_the_repair_command_rebuilds_every_service(db_url, capsys):
    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, [status_event(0, ServiceState.DOWN, "icinga:a", None, 0)])
        conn.execute("DELETE FROM status_outages")
        conn.commit()
    assert derive.main(["rebuild", "--url", db_url]) == 0
    assert "rebuilt for 2 service(s)" in capsys.readouterr().out
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM status_outages").fetchone()["n"] == 1


NOW = T0 + 700 * M


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], report_multiple_bugs=False)
@given(steps=st.lists(step, min_size=1, max_size=8), stale=st.sampled_from([None, 900]),
       at=st.integers(-30, 720))
def test_the_board_read_from_derived_rows_says_what_the_events_say(module_db, steps, stale, at):
    """State, since, uptime and outages as the old read-time derivation gave them, for any `now`."""
    from prodops.status.board import BOARD_OUTAGES, board
    from prodops.status.timeline import current, daily_bars, outages, uptime

    now = T0 + at * M + timedelta(seconds=30)  # events are on the minute: none at `now` itself
    with connect(module_db) as conn:
        reset(conn, stale)
        for kind, what in steps:
            if kind == "events":
                records.insert_events(conn, [status_event(*e) for e in what])
            else:
                start, length, wid, is_global, _ = what
                records.upsert_window(conn, MaintenanceWindow(
                    starts_at=T0 + start * M, ends_at=T0 + (start + length) * M, reason="work",
                    services=() if is_global else (SERVICE,), feed="ops", external_id=wid))
        [svc] = [s for s in board(conn, now)["services"] if s["name"] == SERVICE]
        start = now - timedelta(days=30)
        evs = [EventPoint(observed_at=r["observed_at"], state=ServiceState(r["state"]), stream=r["stream"],
                          id=r["id"], valid_until=r["valid_until"])
               for r in conn.execute("SELECT * FROM status_events WHERE service = %s AND observed_at < %s",
                                     (SERVICE, now))]
        wins = [Window(w.starts_at, w.ends_at, w.id) for w in records.windows_overlapping(conn, start, now)
                if w.applies_to(SERVICE)]
        conn.rollback()
    segs = segments(evs, start, now, stale_after_s=stale, windows=wins)
    state, since = current(segs)
    assert (svc["state"], svc["since"]) == (state.value, since.isoformat() if since else None)
    for key, days in (("24h", 1), ("7d", 7), ("30d", 30)):
        want = uptime(segs, now - timedelta(days=days), now).to_dict()
        for k in ("up_s", "degraded_s", "down_s", "maintenance_s", "unknown_s"):
            assert svc["uptime"][key][k] == pytest.approx(want[k], abs=1e-3), (key, k)
    for got, want in zip(svc["bars"], daily_bars(segs, now, 30)):
        assert got["worst"] == want.to_dict()["worst"] and got["down_s"] == pytest.approx(want.down_s, abs=1e-3)
    if at > 600:  # outages as of a `now` after every event (rows hold what later events said of them)
        old = [o.to_dict() for o in reversed(outages(SERVICE, segs, evs, range_end=now))]
        keys = ("start", "end", "open", "worst", "duration_s", "flapping", "episodes")
        assert [{k: o[k] for k in keys} | {"events": len(o["event_ids"])} for o in old[:BOARD_OUTAGES]] == \
               [{k: o[k] for k in keys} | {"events": o["event_count"]} for o in svc["outages"]]
        assert svc["outage_count"] == len(old) and (svc["outages_more"] is None) == (len(old) <= BOARD_OUTAGES)


def test_the_registry_sync_derives_what_is_missing_and_a_read_writes_nothing(db_url):
    from prodops.status.board import board

    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, [status_event(0, ServiceState.DOWN, "icinga:a", None, 0)])
        derived = snapshot(conn)
        for table in ("status_outages", "status_segments", "status_streams", "status_derived"):
            conn.execute(f"DELETE FROM {table}")  # as events stored before migration 014 left them
        conn.commit()
        board(conn, NOW)
        assert conn.execute("SELECT count(*) AS n FROM status_derived").fetchone()["n"] == 0
        sync_registry(conn, Registry(services=(Service(name=SERVICE), Service(name="other"))))
        assert snapshot(conn) == derived
        assert [r["service"] for r in conn.execute("SELECT service FROM status_derived ORDER BY 1")] == ["other", "svc"]
        conn.rollback()


def test_a_report_that_changes_no_segment_still_counts_in_the_open_outage(db_url):
    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, [status_event(0, ServiceState.UP, "icinga:a", None, 0),
                                     status_event(10, ServiceState.DOWN, "icinga:a", None, 0)])
        segs = snapshot(conn)["status_segments"]
        records.insert_events(conn, [status_event(20, ServiceState.DOWN, "icinga:a", None, 0)])  # still down
        records.insert_events(conn, [status_event(30, ServiceState.UP, "icinga:b", None, 1)])  # b says nothing new
        assert snapshot(conn)["status_segments"] == segs
        [o] = conn.execute("SELECT * FROM status_outages").fetchall()
        assert (o["end_at"], o["event_count"]) == (None, 3)
        before = snapshot(conn)
        derive.rebuild(conn, [SERVICE])
        assert snapshot(conn) == before
        conn.rollback()


def test_an_in_order_batch_adds_its_events_to_the_open_outage_without_counting_them_all_again(db_url):
    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, [status_event(0, ServiceState.UP, "icinga:a", None, 0),
                                     status_event(10, ServiceState.DOWN, "icinga:a", None, 0)])
        records.insert_events(conn, [status_event(20, ServiceState.DOWN, "icinga:a", None, 0),
                                     status_event(30, ServiceState.DEGRADED, "icinga:b", None, 1),
                                     status_event(40, ServiceState.DOWN, "icinga:a", None, 0)])
        [o] = conn.execute("SELECT * FROM status_outages").fetchall()
        ids = {r["observed_at"]: r["id"] for r in conn.execute("SELECT id, observed_at FROM status_events")}
        assert (o["end_at"], o["event_count"], o["first_event_id"], o["last_event_id"]) == (
            None, 4, ids[T0 + 10 * M], ids[T0 + 40 * M])
        before = snapshot(conn)
        derive.rebuild(conn, [SERVICE])
        assert snapshot(conn) == before
        conn.rollback()


def _record_plans(monkeypatch) -> list:
    """The plans the derivation makes (what it read back per service), in order."""
    seen: list = []
    plan = derive._plan

    def recording(row):
        p = plan(row)
        seen.append(p)
        return p

    monkeypatch.setattr(derive, "_plan", recording)
    return seen


def _record_counts(monkeypatch) -> list:
    """What each outage row's count was made from (n None: counted in SQL from all its events)."""
    seen: list = []
    counts = derive._counts

    def recording(*args):
        c = counts(*args)
        seen.append(c)
        return c

    monkeypatch.setattr(derive, "_counts", recording)
    return seen


def flapping_batch(k: int, per_batch: int = 6) -> list[StatusEvent]:
    """Batch k of a service flapping every 20 s (down, up, degraded, up, ...), in order."""
    states = (ServiceState.DOWN, ServiceState.UP, ServiceState.DEGRADED, ServiceState.UP)
    out = []
    for i in range(k * per_batch, (k + 1) * per_batch):
        at = T0 + timedelta(seconds=20 * i)
        out.append(StatusEvent(service=SERVICE, state=states[i % 4], observed_at=at, source="feed", feed="icinga:a",
                               stream="icinga:a", convention="native", external_id=f"f{i}"))
    return out


def test_a_flapping_outage_extended_batch_by_batch_reads_only_what_the_batch_touches(db_url, monkeypatch):
    """Appending in order to an open flapping outage costs the batch: each derivation reads back the
    segment before the change, the one holding it and the outage it extends (never the outage's
    segments or events from its start), and still writes what a rebuild writes."""
    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, flapping_batch(0))
        plans, counts = _record_plans(monkeypatch), _record_counts(monkeypatch)
        for k in range(1, 120):  # 720 events over 4 hours, 360 episodes in one outage
            records.insert_events(conn, flapping_batch(k))
        [o] = conn.execute("SELECT * FROM status_outages").fetchall()  # each batch ends up: closed till the next
        assert (o["start_at"], o["end_at"], o["worst"], o["episodes"], o["event_count"]) == (
            T0, T0 + timedelta(seconds=20 * 719), "down", 360, 720)
        records.insert_events(conn, flapping_batch(120)[:3])  # down, up, degraded: open
        [o] = conn.execute("SELECT * FROM status_outages").fetchall()
        assert (o["end_at"], o["episodes"], o["event_count"]) == (None, 362, 723)
        assert max(len(p.stored) for p in plans) <= 3 and max(len(p.old_outages) for p in plans) == 1
        assert all(p.fresh for p in plans) and counts and all(c[0] is not None for c in counts)
        before = snapshot(conn)
        monkeypatch.undo()
        derive.rebuild(conn, [SERVICE])
        assert snapshot(conn) == before
        conn.rollback()


def test_late_events_inside_a_long_flapping_outage_count_once_and_equal_a_rebuild(db_url, monkeypatch):
    """Out-of-order events landing inside a long flapping outage cost the span since them: re-derived
    from the segment holding them (the outage before it read from its row, not its segments), each
    event counted once, the rows equal a rebuild's. Here a ttl that expires while stream a is up
    ends the outage at 7100 s and the next at 7140 s (stream a up, b unknown), and stream b down
    holds the service down from 7150 s."""
    with connect(db_url) as conn:
        reset(conn, None)
        for k in range(0, 60):  # 360 events over two hours, one outage of 180 episodes
            records.insert_events(conn, flapping_batch(k))
        plans, counts = _record_plans(monkeypatch), _record_counts(monkeypatch)
        late = [
            StatusEvent(service=SERVICE, state=ServiceState.UP, observed_at=T0 + timedelta(seconds=7090),
                        source="feed", feed="icinga:b", stream="icinga:b", convention="native", external_id="late1",
                        valid_until=T0 + timedelta(seconds=7095)),
            StatusEvent(service=SERVICE, state=ServiceState.DOWN, observed_at=T0 + timedelta(seconds=7150),
                        source="feed", feed="icinga:b", stream="icinga:b", convention="native", external_id="late2"),
        ]
        records.insert_events(conn, late[:1])
        records.insert_events(conn, late[1:])
        records.insert_events(conn, flapping_batch(60))  # in order again
        assert [p.fresh for p in plans] == [False, False, True]
        assert max(len(p.stored) for p in plans) <= 12  # the span since the late event, not the 360 segments
        assert all(c[0] is not None for c in counts)  # no outage's events counted again from its start
        rows = conn.execute("SELECT * FROM status_outages ORDER BY start_at").fetchall()
        assert [(r["start_at"], r["end_at"]) for r in rows] == [
            (T0, T0 + timedelta(seconds=7100)), (T0 + timedelta(seconds=7120), T0 + timedelta(seconds=7140)),
            (T0 + timedelta(seconds=7150), None)]
        assert sum(r["event_count"] for r in rows) == 368  # every event is inside one of them, counted once
        before = snapshot(conn)
        monkeypatch.undo()
        derive.rebuild(conn, [SERVICE])
        assert snapshot(conn) == before
        conn.rollback()


def test_one_batch_of_two_services_out_of_order_writes_what_a_rebuild_writes(db_url):
    """One statement writes a batch's derived rows (write_derived): here every part of it at once, for
    two services whose events arrive shuffled within the batch, one late to the stored ones: segments
    rewritten across midnight, an outage closed and one opened, days, heads; and the planner settings
    the derivation used are back to their defaults for the rest of the caller's transaction."""
    def ev(service: str, minute: int, state: ServiceState, stream: str = "icinga:a") -> StatusEvent:
        return StatusEvent(service=service, state=state, observed_at=T0 + minute * M, source="feed", feed=stream,
                           stream=stream, convention="native", external_id=f"{service}-{minute}-{stream}")

    both = ("svc", "other")
    rows = {name: sql.replace("service = 'svc'", "service = %(s)s") for name, sql in DERIVED.items()}

    def derived(conn) -> dict:
        return {s: {name: conn.execute(sql, {"s": s}).fetchall() for name, sql in rows.items()} for s in both}

    with connect(db_url) as conn:
        reset(conn, None)
        records.insert_events(conn, [ev("svc", 0, ServiceState.UP), ev("svc", 30, ServiceState.DOWN),
                                     ev("other", 0, ServiceState.UP), ev("other", 200, ServiceState.UP)])
        batch = [ev("other", 150, ServiceState.DEGRADED, "icinga:b"), ev("svc", 150, ServiceState.UP),
                 ev("other", 100, ServiceState.DOWN), ev("svc", 90, ServiceState.DEGRADED),
                 ev("other", 160, ServiceState.UP, "icinga:b"), ev("svc", 40, ServiceState.DOWN, "icinga:b"),
                 ev("svc", 200, ServiceState.DOWN, "icinga:b"), ev("svc", 60, ServiceState.UP, "icinga:b")]
        assert records.insert_events(conn, batch).stored == len(batch)
        settings = conn.execute("SELECT current_setting('plan_cache_mode') AS plans,"
                                " current_setting('enable_seqscan') AS scans").fetchone()
        incremental = derived(conn)
        outages = {s: [(o["start_at"], o["end_at"]) for o in incremental[s]["status_outages"]] for s in both}
        derive.rebuild(conn, both)
        rebuilt = derived(conn)
        conn.rollback()
    assert settings == {"plans": "auto", "scans": "on"}
    assert outages == {"svc": [(T0 + 30 * M, T0 + 150 * M), (T0 + 200 * M, None)],
                       "other": [(T0 + 100 * M, T0 + 200 * M)]}
    assert incremental == rebuilt
    assert [r["day"] for r in incremental["svc"]["status_daily"]] == [T0.date(), (T0 + 150 * M).date()]
