"""Payload adapters: each format valid, each kind of invalid (naming the field), and nothing half read."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from prodops.status.events import (
    PayloadInvalid, from_alertmanager, from_nagios, from_native, from_statuspage, parse_time, stale_event,
)
from prodops.status.states import ServiceState

S = ServiceState
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
KNOWN = {"dcache", "samweb", "fts"}.__contains__

ALERTMANAGER = {
    "version": "4",
    "groupKey": "{}:{alertname=\"FTSDown\"}",
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "prodops",
    "groupLabels": {"alertname": "FTSDown"},
    "commonLabels": {"alertname": "FTSDown"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "FTSDown", "service": "fts", "severity": "critical"},
            "annotations": {"summary": "FTS server not answering"},
            "startsAt": "2026-11-25T11:50:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": "a1b2c3d4",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DcacheSlow", "service": "dcache", "severity": "warning"},
            "annotations": {},
            "startsAt": "2026-11-25T11:00:00Z",
            "endsAt": "2026-11-25T11:40:00Z",
            "generatorURL": "",
            "fingerprint": "e5f6",
        },
    ],
}


def locs(exc: pytest.ExceptionInfo[PayloadInvalid]) -> list[tuple]:
    return [loc for loc, _ in exc.value.errors]


def test_parse_time_accepts_z_offsets_and_epoch_and_refuses_naive():
    assert parse_time("2026-11-25T10:00:00Z") == datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    assert parse_time("2026-11-25T11:00:00+01:00") == datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    assert parse_time(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="no time zone; add Z"):
        parse_time("2026-11-25T10:00:00")
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_time("yesterday")


# --- native ---------------------------------------------------------------------------------

def test_native_single_event_with_defaults():
    [e] = from_native({"service": "dcache", "state": "down"}, feed="ops", now=NOW, known=KNOWN)
    assert (e.service, e.state, e.observed_at, e.source, e.feed, e.stream) == ("dcache", S.DOWN, NOW, "feed", "ops", "ops")


def test_native_batch_with_statuspage_codes_ttl_id_and_manual_override():
    events = from_native(
        {"events": [
            {"service": "dcache", "state": "major_outage", "time": "2026-11-25T11:00:00Z", "id": "e1", "ttl": 600},
            {"service": "samweb", "state": "up", "source": "manual", "message": "checked by hand"},
        ]},
        feed="ops", now=NOW, known=KNOWN,
    )
    assert [e.state for e in events] == [S.DOWN, S.UP]
    assert events[0].external_id == "e1"
    assert events[0].valid_until == datetime(2026, 11, 25, 11, 10, tzinfo=timezone.utc)
    assert (events[1].source, events[1].stream) == ("manual", "*")


@pytest.mark.parametrize(
    ("payload", "loc", "words"),
    [
        ({"state": "up"}, ("service",), "is required"),
        ({"service": "nosuch", "state": "up"}, ("service",), "not a registered service"),
        ({"service": "dcache"}, ("state",), "is required"),
        ({"service": "dcache", "state": "sideways"}, ("state",), "'sideways' is not a state"),
        ({"service": "dcache", "state": "up", "time": "2026-11-25 10:00"}, ("time",), "no time zone"),
        ({"service": "dcache", "state": "up", "ttl": -5}, ("ttl",), "positive number"),
        ({"service": "dcache", "state": "up", "source": "system"}, ("source",), "use feed or manual"),
        ({"service": "dcache", "state": "down", "source": "inferred"}, ("source",), "prodops posts inferred outages"),
        ({"service": "dcache", "state": "up", "stream": "inferred"}, ("stream",), "reserved for the outages"),
        ({"service": "dcache", "stat": "up", "state": "up"}, ("stat",), "unknown field"),
        ({"events": []}, ("events",), "is empty"),
        ({"events": "x"}, ("events",), "must be a list"),
        ([1, 2], (), "must be a JSON object"),
    ],
)
def test_native_invalid_names_the_field(payload, loc, words):
    with pytest.raises(PayloadInvalid) as exc:
        from_native(payload, feed="ops", now=NOW, known=KNOWN)
    assert loc in locs(exc)
    assert any(words in msg for _, msg in exc.value.errors), exc.value.errors


def test_native_one_bad_event_rejects_the_whole_batch_and_names_its_index():
    with pytest.raises(PayloadInvalid) as exc:
        from_native({"events": [{"service": "dcache", "state": "up"}, {"service": "dcache", "state": "??"}]},
                    feed="ops", now=NOW, known=KNOWN)
    assert locs(exc) == [("events", 1, "state")]
    assert "events[1].state" in str(exc.value)


# --- Alertmanager -----------------------------------------------------------------------------

def test_alertmanager_v4_one_event_per_alert():
    firing, resolved = from_alertmanager(ALERTMANAGER, feed="am", now=NOW, known=KNOWN)
    assert (firing.service, firing.state, firing.observed_at) == ("fts", S.DOWN, datetime(2026, 11, 25, 11, 50, tzinfo=timezone.utc))
    assert (firing.external_id, firing.stream, firing.message) == ("a1b2c3d4", "alertmanager:a1b2c3d4", "FTS server not answering")
    assert (resolved.state, resolved.observed_at) == (S.UP, datetime(2026, 11, 25, 11, 40, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda p: p.update(version="3"), ("version",)),
        (lambda p: p.update(alerts=[]), ("alerts",)),
        (lambda p: p["alerts"][0]["labels"].pop("service"), ("alerts", 0, "labels", "service")),
        (lambda p: p["alerts"][0]["labels"].update(service="nosuch"), ("alerts", 0, "labels", "service")),
        (lambda p: p["alerts"][1].update(status="pending"), ("alerts", 1, "status")),
        (lambda p: p["alerts"][0].pop("fingerprint"), ("alerts", 0, "fingerprint")),
        (lambda p: p["alerts"][0].update(startsAt="soon"), ("alerts", 0, "startsAt")),
        (lambda p: p["alerts"][1].update(endsAt="0001-01-01T00:00:00Z"), ("alerts", 1, "endsAt")),
    ],
)
def test_alertmanager_invalid_names_the_field(mutate, loc):
    import copy

    payload = copy.deepcopy(ALERTMANAGER)
    mutate(payload)
    with pytest.raises(PayloadInvalid) as exc:
        from_alertmanager(payload, feed="am", now=NOW, known=KNOWN)
    assert loc in locs(exc), exc.value.errors


# --- Icinga / Nagios --------------------------------------------------------------------------

def test_nagios_check_result_with_ttl_and_execution_end():
    [e] = from_nagios(
        {"service": "samweb", "exit_status": 1, "plugin_output": "WARNING - slow", "ttl": 300,
         "execution_end": 1795000000, "check_source": "icinga-1", "performance_data": ["time=3s"]},
        feed="icinga", now=NOW, known=KNOWN,
    )
    assert (e.state, e.code, e.message, e.external_id) == (S.DEGRADED, "1", "WARNING - slow", "icinga-1")
    assert (e.valid_until - e.observed_at).total_seconds() == 300


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"service": "samweb", "plugin_output": "x"}, ("exit_status",)),
        ({"service": "samweb", "exit_status": 7, "plugin_output": "x"}, ("exit_status",)),
        ({"service": "samweb", "exit_status": "2", "plugin_output": "x"}, ("exit_status",)),
        ({"service": "samweb", "exit_status": 0}, ("plugin_output",)),
        ({"service": "samweb", "exit_status": 0, "plugin_output": "x", "ttl": "long"}, ("ttl",)),
        ({"results": [{"service": "samweb", "exit_status": 0, "plugin_output": "x"}, {"exit_status": 0, "plugin_output": "x"}]},
         ("results", 1, "service")),
    ],
)
def test_nagios_invalid_names_the_field(payload, loc):
    with pytest.raises(PayloadInvalid) as exc:
        from_nagios(payload, feed="icinga", now=NOW, known=KNOWN)
    assert loc in locs(exc), exc.value.errors


# --- Statuspage -------------------------------------------------------------------------------

def test_statuspage_maps_known_components_and_ignores_the_rest():
    payload = {"components": [
        {"id": "c1", "name": "SAM web", "status": "partial_outage", "updated_at": "2026-11-25T11:00:00Z"},
        {"id": "c2", "name": "Coffee machine", "status": "major_outage", "updated_at": "2026-11-25T11:00:00Z"},
    ]}
    [e] = from_statuspage(payload, feed="sp", now=NOW, components={"SAM web": "samweb"}, known=KNOWN)
    assert (e.service, e.state, e.stream) == ("samweb", S.DEGRADED, "sp:c1")
    with pytest.raises(PayloadInvalid) as exc:
        from_statuspage({"components": [{"name": "SAM web", "status": "on fire"}]}, feed="sp", now=NOW,
                        components={"SAM web": "samweb"})
    assert locs(exc) == [("components", 0, "status")]


def test_stale_event_is_a_system_unknown_at_the_limit():
    e = stale_event("samweb", NOW, 900)
    assert (e.state, e.source, e.stream, e.observed_at) == (S.UNKNOWN, "system", "*", datetime(2026, 11, 25, 12, 15, tzinfo=timezone.utc))


def test_row_has_every_field_of_the_event_once():
    from dataclasses import fields
    from datetime import datetime, timezone

    from prodops.status.events import StatusEvent
    from prodops.status.states import ServiceState

    e = StatusEvent(service="dcache", state=ServiceState.DOWN, observed_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                    source="feed", feed="f", stream="f", convention="native", details={"count": 3})
    row = e.row()
    assert set(row) == {f.name for f in fields(StatusEvent)}
    assert (row["state"], row["details"]) == ("down", '{"count":3}')
