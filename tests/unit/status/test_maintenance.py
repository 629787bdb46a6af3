"""Maintenance overlap rules, window and announcement payloads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.status.events import PayloadInvalid
from prodops.status.maintenance import MaintenanceWindow, blocking_windows, parse_announcement, parse_window

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def window(start_h: float, end_h: float, services=("dcache",), id=1) -> MaintenanceWindow:
    return MaintenanceWindow(NOW + start_h * H, NOW + end_h * H, "upgrade", tuple(services), id=id)


@pytest.mark.parametrize(
    ("start_h", "end_h", "overlaps"),
    [
        (-2, -1, False),  # over before the run
        (-1, 0, False),  # ends exactly when the run starts: touching is not overlapping
        (-1, 0.5, True),  # going on now
        (1, 2, True),  # starts during the run
        (3, 4, False),  # starts exactly when the run ends
        (-1, 5, True),  # covers the whole run
        (0.5, 1, True),  # inside the run
    ],
)
def test_half_open_overlap(start_h, end_h, overlaps):
    assert window(start_h, end_h).overlaps(NOW, NOW + 3 * H) is overlaps


def test_blocking_windows_match_services_and_global_windows_block_everyone():
    ws = [window(1, 2, ["dcache"], 1), window(1, 2, ["fts"], 2), window(2, 3, [], 3)]
    assert [(s, w.id) for s, w in blocking_windows(ws, ["dcache", "samweb"], NOW, NOW + 4 * H)] == [("dcache", 1), ("*", 3)]
    assert [(s, w.id) for s, w in blocking_windows(ws, [], NOW, NOW + 4 * H)] == [("*", 3)]


def test_parse_window_and_its_natural_id_is_stable():
    payload = {"services": ["fts", "dcache"], "start": "2026-11-26T08:00:00Z", "end": "2026-11-26T10:00:00Z",
               "reason": "dCache upgrade"}
    w = parse_window(payload, feed="ops", source="manual", now=NOW, known={"fts", "dcache"}.__contains__)
    assert w.services == ("dcache", "fts") and w.created_by == "ops"
    assert w.external_id == parse_window(payload, feed="ops", source="manual", now=NOW).external_id
    assert parse_window({**payload, "services": "all"}, feed="ops", source="manual", now=NOW).is_global


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"end": "2026-11-26T07:00:00Z"}, ("end",)),
        ({"end": "2027-02-26T07:00:00Z"}, ("end",)),
        ({"reason": ""}, ("reason",)),
        ({"services": ["nosuch"]}, ("services", 0)),
        ({"services": "dcache"}, ("services",)),
        ({"start": None}, ("start",)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_parse_window_invalid_names_the_field(change, loc):
    payload = {"services": ["dcache"], "start": "2026-11-26T08:00:00Z", "end": "2026-11-26T10:00:00Z", "reason": "x"}
    payload.update(change)
    payload = {k: v for k, v in payload.items() if v is not None}
    with pytest.raises(PayloadInvalid) as exc:
        parse_window(payload, feed="ops", source="manual", now=NOW, known={"dcache"}.__contains__)
    assert loc in [l for l, _ in exc.value.errors], exc.value.errors


def test_announcement_defaults_and_errors():
    a = parse_announcement({"text": "Reprocessing freeze from Friday"}, feed="ops", now=NOW)
    assert (a.severity, a.starts_at, a.ends_at, a.author) == ("info", NOW, None, "ops")
    assert a.active_at(NOW) and not a.active_at(NOW - H)
    with pytest.raises(PayloadInvalid) as exc:
        parse_announcement({"text": "", "severity": "urgent", "end": "2020-01-01T00:00:00Z"}, feed="ops", now=NOW)
    assert {l for l, _ in exc.value.errors} == {("text",), ("severity",), ("end",)}
