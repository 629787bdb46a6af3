"""The stdout marker format: what a valid line says, and what a malformed one is told."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from prodops.phases.markers import (
    MarkerInvalid,
    PhaseFields,
    PhaseState,
    format_marker,
    is_marker,
    parse_marker,
    scan_markers,
)

FULL = "@@prodops phase=copy-out state=finished status=0 cpu=12.5 wall=30 events=1000 time=2026-12-02T10:00:00Z"


def test_a_full_marker_says_every_field():
    fields = parse_marker(FULL)
    assert fields == PhaseFields(phase="copy-out", state=PhaseState.FINISHED, status=0, cpu=12.5, wall=30.0,
                                 events=1000, time=datetime(2026, 12, 2, 10, tzinfo=timezone.utc))


def test_text_before_the_marker_is_a_wrapper_prefix_and_ignored():
    fields = parse_marker("2026-12-02 10:00:01 INFO @@prodops phase=process state=started")
    assert (fields.phase, fields.state, fields.status) == ("process", PhaseState.STARTED, None)


def test_epoch_seconds_and_times_without_offset_are_utc():
    assert parse_marker("@@prodops phase=p state=started time=0").time == datetime(1970, 1, 1, tzinfo=timezone.utc)
    naive = parse_marker("@@prodops phase=p state=started time=2026-12-02T10:00:00").time
    assert naive == datetime(2026, 12, 2, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(("line", "names"), [
    ("@@prodops state=started", "'phase' is missing"),
    ("@@prodops phase=copy-out", "'state' is missing"),
    ("@@prodops phase=copy-out state=begun", "state='begun'"),
    ("@@prodops phase=Copy_Out state=started", "phase='Copy_Out'"),
    ("@@prodops phase=copy-out state=finished status=ok", "status='ok'"),
    ("@@prodops phase=copy-out state=finished cpu=-1", "cpu='-1'"),
    ("@@prodops phase=copy-out state=finished wall=fast", "wall='fast'"),
    ("@@prodops phase=copy-out state=finished events=1.5", "events='1.5'"),
    ("@@prodops phase=copy-out state=finished time=yesterday", "time='yesterday'"),
    ("@@prodops phase=copy-out state=finished site=x", "unknown field 'site'"),
    ("@@prodops phase=copy-out phase=process state=started", "'phase' is given twice"),
    ("@@prodops phase=copy-out state", "'state' is not key=value"),
    ("@@prodops phase= state=started", "'phase' is empty"),
    ("@@prodopsphase=x state=started", "must be followed by a space"),
    ("@@prodops " + "x" * 5000, "characters long"),
])
def test_a_malformed_marker_names_its_field(line, names):
    with pytest.raises(MarkerInvalid) as caught:
        parse_marker(line)
    assert names in str(caught.value)


def test_a_scan_keeps_good_markers_in_order_and_numbers_the_bad_lines():
    lines = [
        "starting\n",
        "@@prodops phase=process state=started\n",
        "@@prodops phase=process state=done\n",
        "work work\n",
        "@@prodops phase=process state=finished status=0\n",
    ]
    scan = scan_markers(lines)
    assert [(m.phase, m.state) for m in scan.markers] == [("process", PhaseState.STARTED),
                                                          ("process", PhaseState.FINISHED)]
    assert [(p.line_number, p.text) for p in scan.problems] == [(3, "@@prodops phase=process state=done")]
    assert "state='done'" in scan.problems[0].error


def test_a_formatted_marker_parses_back_to_the_same_fields():
    fields = parse_marker(FULL)
    assert parse_marker(format_marker(fields)) == fields
    assert is_marker(format_marker(fields)) and not is_marker("copy-out finished")


@pytest.mark.parametrize(("env", "url"), [
    ({}, ""),
    ({"AIRFLOW__API__PORT": "8081"}, "http://localhost:8081/prodops"),
    ({"AIRFLOW__API__PORT": "8081", "AIRFLOW__API__HOST": "127.0.0.1"}, "http://127.0.0.1:8081/prodops"),
    ({"AIRFLOW__API__BASE_URL": "https://ops.example.org/", "AIRFLOW__API__PORT": "8081"},
     "https://ops.example.org/prodops"),
    ({"PRODOPS_API_URL": "http://api.pool:8080/prodops/", "AIRFLOW__API__PORT": "8081"},
     "http://api.pool:8080/prodops"),
])
def test_the_api_url_jobs_are_given(monkeypatch, env, url):
    from prodops import config

    for name in ("PRODOPS_API_URL", "AIRFLOW__API__BASE_URL", "AIRFLOW__API__PORT", "AIRFLOW__API__HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert config.phase_api_url() == url
