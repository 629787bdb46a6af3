"""Outage derivation (flapping, overlapping streams, staleness, ttl, maintenance) and uptime arithmetic."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodops.status.states import ServiceState
from prodops.status.timeline import (
    INFERRED_STREAM, EventPoint, Segment, Window, current, daily_bars, outages, segments, uptime,
)

S = ServiceState
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(minute: float, state: S, stream: str = "icinga", id: int = 0, ttl_min: float | None = None) -> EventPoint:
    return EventPoint(at(minute), state, stream, id or int(minute * 10) + 1,
                      at(minute + ttl_min) if ttl_min else None)


def states(segs):
    return [(round((s.start - T0).total_seconds() / 60), round((s.end - T0).total_seconds() / 60), s.state.value)
            for s in segs]


def test_before_any_event_the_state_is_unknown_then_each_event_holds_until_the_next():
    segs = segments([ev(10, S.UP), ev(20, S.DOWN), ev(50, S.UP)], at(0), at(60))
    assert states(segs) == [(0, 10, "unknown"), (10, 20, "up"), (20, 50, "down"), (50, 60, "up")]


def test_state_carried_in_from_before_the_range():
    segs = segments([ev(-100, S.DOWN), ev(30, S.UP)], at(0), at(60))
    assert states(segs) == [(0, 30, "down"), (30, 60, "up")]
    [o] = outages("dcache", segs)
    assert o.started_before_range and o.end == at(30)


def test_one_outage_with_worst_state_duration_and_events():
    evs = [ev(0, S.UP), ev(10, S.DEGRADED, id=2), ev(20, S.DOWN, id=3), ev(40, S.UP, id=4)]
    segs = segments(evs, at(0), at(60))
    [o] = outages("dcache", segs, evs)
    assert (o.start, o.end, o.worst, o.duration_s) == (at(10), at(40), S.DOWN, 30 * 60)
    assert o.event_ids == [2, 3, 4] and not o.flapping


def test_an_outage_still_going_on_is_open():
    segs = segments([ev(0, S.UP), ev(50, S.DOWN)], at(0), at(60))
    [o] = outages("dcache", segs, range_end=at(60))
    assert o.end is None and o.duration_s == 600
    assert current(segs) == (S.DOWN, at(50))


def test_flapping_is_one_outage_with_episodes():
    # down/up every minute for 6 minutes: up gaps shorter than the flap gap (5 min) join
    evs = [ev(0, S.UP)] + [ev(10 + k, S.DOWN if k % 2 == 0 else S.UP, id=100 + k) for k in range(6)]
    segs = segments(evs, at(0), at(60))
    [o] = outages("fts", segs, evs)
    assert o.flapping and o.episodes == 3
    assert (o.start, o.end) == (at(10), at(15))


def test_up_for_longer_than_the_flap_gap_separates_outages():
    evs = [ev(0, S.UP), ev(10, S.DOWN), ev(12, S.UP), ev(30, S.DOWN), ev(31, S.UP)]
    found = outages("fts", segments(evs, at(0), at(60)), evs)
    assert [(o.start, o.end, o.flapping) for o in found] == [(at(10), at(12), False), (at(30), at(31), False)]


def test_overlapping_alerts_keep_the_service_down_until_both_resolve():
    evs = [
        ev(10, S.DOWN, stream="alertmanager:a", id=1),
        ev(20, S.DEGRADED, stream="alertmanager:b", id=2),
        ev(30, S.UP, stream="alertmanager:a", id=3),
        ev(40, S.UP, stream="alertmanager:b", id=4),
    ]
    segs = segments(evs, at(0), at(60))
    assert states(segs) == [(0, 10, "unknown"), (10, 30, "down"), (30, 40, "degraded"), (40, 60, "up")]
    [o] = outages("fts", segs, evs)
    assert (o.start, o.end, o.worst) == (at(10), at(40), S.DOWN)


def test_a_manual_override_replaces_every_stream_until_the_next_report():
    evs = [ev(10, S.DOWN, stream="alertmanager:a"), ev(20, S.UP, stream="*"), ev(30, S.DEGRADED, stream="icinga"),
           ev(40, S.UP, stream="icinga")]
    assert states(segments(evs, at(0), at(60))) == [(0, 10, "unknown"), (10, 20, "down"), (20, 30, "up"),
                                                    (30, 40, "degraded"), (40, 60, "up")]


def test_stale_feed_turns_unknown_and_ends_the_outage_and_a_new_report_revives_it():
    evs = [ev(0, S.DOWN), ev(45, S.UP)]
    segs = segments(evs, at(0), at(60), stale_after_s=15 * 60)
    assert states(segs) == [(0, 15, "down"), (15, 45, "unknown"), (45, 60, "up")]
    [o] = outages("samweb", segs)
    assert o.end == at(15)


def test_a_system_staleness_event_does_not_hide_the_next_report():
    evs = [ev(0, S.UP), ev(15, S.UNKNOWN, stream="*"), ev(20, S.UP)]
    assert states(segments(evs, at(0), at(60))) == [(0, 15, "up"), (15, 20, "unknown"), (20, 60, "up")]


def test_an_inferred_outage_is_one_more_stream_that_only_its_own_up_ends():
    evs = [ev(0, S.UP), ev(10, S.DEGRADED, stream=INFERRED_STREAM), ev(20, S.UP),  # the feed keeps saying up
           ev(30, S.UP, stream="*"), ev(40, S.UP, stream=INFERRED_STREAM)]        # a manual up does not end it
    segs = segments(evs, at(0), at(60))
    assert states(segs) == [(0, 10, "up"), (10, 40, "degraded"), (40, 60, "up")]
    [o] = outages("dcache", segs, evs)
    assert (o.start, o.end, o.worst) == (at(10), at(40), S.DEGRADED)


def test_an_inferred_outage_outlives_staleness_and_does_not_reset_the_stale_clock():
    evs = [ev(0, S.UP), ev(10, S.DEGRADED, stream=INFERRED_STREAM), ev(15, S.UNKNOWN, stream="*")]
    segs = segments(evs, at(0), at(60), stale_after_s=15 * 60)
    assert states(segs) == [(0, 10, "up"), (10, 60, "degraded")]
    # without it the service would be unknown from minute 15 (the inferred event is no report)
    assert states(segments([ev(0, S.UP), ev(10, S.UP, stream=INFERRED_STREAM)], at(0), at(60),
                           stale_after_s=15 * 60)) == [(0, 15, "up"), (15, 60, "unknown")]


def test_a_service_never_reported_shows_its_inferred_outage():
    segs = segments([ev(10, S.DEGRADED, stream=INFERRED_STREAM)], at(0), at(60))
    assert states(segs) == [(0, 10, "unknown"), (10, 60, "degraded")]


def test_check_result_ttl_expires_into_unknown():
    segs = segments([ev(0, S.UP, ttl_min=10)], at(0), at(60))
    assert states(segs) == [(0, 10, "up"), (10, 60, "unknown")]


def test_maintenance_window_overrides_the_feed_and_is_not_an_outage():
    evs = [ev(0, S.UP), ev(20, S.DOWN), ev(40, S.UP)]
    segs = segments(evs, at(0), at(60), windows=[Window(at(15), at(45))])
    assert states(segs) == [(0, 15, "up"), (15, 45, "maintenance"), (45, 60, "up")]
    assert outages("x", segs) == []


def test_out_of_order_events_give_the_same_timeline():
    evs = [ev(0, S.UP), ev(20, S.DOWN), ev(40, S.UP)]
    assert segments(list(reversed(evs)), at(0), at(60)) == segments(evs, at(0), at(60))


def test_uptime_counts_degraded_half_and_leaves_maintenance_and_unknown_out():
    # 0-10 unknown, 10-30 up, 30-40 degraded, 40-50 down, 50-60 maintenance
    evs = [ev(10, S.UP), ev(30, S.DEGRADED), ev(40, S.DOWN), ev(50, S.UP)]
    segs = segments(evs, at(0), at(60), windows=[Window(at(50), at(60))])
    u = uptime(segs, at(0), at(60))
    assert (u.up_s, u.degraded_s, u.down_s, u.maintenance_s, u.unknown_s) == (1200, 600, 600, 600, 600)
    assert u.percent == pytest.approx(100 * (1200 + 0.5 * 600) / 2400)  # 62.5
    assert u.worst is S.DOWN


def test_uptime_clips_to_the_period_and_is_none_without_known_time():
    segs = segments([ev(30, S.UP)], at(0), at(60))
    assert uptime(segs, at(45), at(60)).percent == 100.0
    assert uptime(segs, at(0), at(30)).percent is None


def test_daily_bars_cover_the_last_days_oldest_first():
    segs = segments([EventPoint(T0 - timedelta(days=3), S.UP, "f", 1), EventPoint(T0 - timedelta(days=1), S.DOWN, "f", 2)],
                    T0 - timedelta(days=5), T0 + timedelta(hours=12))
    bars = daily_bars(segs, T0 + timedelta(hours=12), 3)
    assert [b.start for b in bars] == [T0 - timedelta(days=2), T0 - timedelta(days=1), T0]
    assert [b.percent for b in bars] == [100.0, 0.0, 0.0]
    assert bars[-1].end == T0 + timedelta(hours=12)


_stream = st.sampled_from(["icinga:a", "icinga:b", "*", INFERRED_STREAM])
_event = st.tuples(st.integers(0, 300), st.sampled_from(list(S)), _stream, st.one_of(st.none(), st.integers(1, 60)))


@settings(max_examples=300, deadline=None)
@given(evs=st.lists(_event, max_size=25), stale=st.sampled_from([None, 15, 45]),
       window=st.one_of(st.none(), st.tuples(st.integers(-20, 300), st.integers(1, 90))))
def test_skipped_expiries_and_repeats_cut_nothing_every_point_would_have_cut(evs, stale, window):
    """segments() leaves out ttl and staleness deadlines a later event makes moot, and reports that
    repeat their stream's state: the timeline equals the one read piece by piece between every event
    time, expiry, staleness deadline and window edge."""
    points = [EventPoint(at(m), state, stream, i + 1, at(m + ttl) if ttl else None)
              for i, (m, state, stream, ttl) in enumerate(evs)]
    wins = [Window(at(window[0]), at(window[0] + window[1]))] if window else []
    start, end = at(-10), at(400)
    want = segments(points, start, end, stale_after_s=stale * 60 if stale else None, windows=wins)
    times = {start, end}
    for e in points:
        times |= {e.observed_at, e.observed_at + timedelta(minutes=stale or 0), e.valid_until or e.observed_at}
    times |= {t for w in wins for t in (w.starts_at, w.ends_at)}
    edges = sorted(t for t in times if start <= t <= end)
    pieces = [s for a, b in zip(edges, edges[1:])
              for s in segments(points, a, b, stale_after_s=stale * 60 if stale else None, windows=wins)]
    merged = []
    for s in pieces:
        if merged and merged[-1].state is s.state:
            merged[-1] = Segment(merged[-1].start, s.end, s.state)
        else:
            merged.append(s)
    assert want == merged
