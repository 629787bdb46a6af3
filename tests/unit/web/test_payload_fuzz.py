"""hypothesis on the parsers behind the API (issue 15): the status payload adapters, the maintenance and
announcement parsers and the request form. Any JSON either is refused with the parser's own error
naming fields, or gives records that PostgreSQL can store as they are: no other exception, no
control character, no time outside the window, no overflow.

Derandomized and bounded, so every run checks the same cases.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodops.exceptions import RequestInvalid
from prodops.request.form import form_fields, validate_request
from prodops.status import events
from prodops.status.events import EARLIEST, LATEST_AHEAD, PayloadInvalid, text_problem
from prodops.status.maintenance import parse_announcement, parse_window
from prodops.workflows import load_templates

NOW = datetime.now(timezone.utc)
KNOWN = {"dcache", "samweb", "fts"}
FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e20, -1.9e10, 4e11, 0, 1.5, "up", "down", "major_outage", "firing", "resolved", "4", "all",
                     "2026-11-25T10:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59+00:00", "2026-11-25T10:00",
                     "dcache", "samweb", "fts", "manual", "feed", "inferred", "critical", "info"]),
    st.text(max_size=12), st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0xDFFF),
                                  max_size=6))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)


def shaped(keys: list[str]) -> st.SearchStrategy[dict]:
    """Objects with the parser's own keys (and sometimes others), holding any JSON value."""
    return st.dictionaries(st.sampled_from([*keys, "color"]), json_values, max_size=len(keys) + 1)


EVENT_KEYS = sorted(events.NATIVE_FIELDS)
CHECK_KEYS = sorted(events.NAGIOS_FIELDS)
ALERT_KEYS = ["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"]


def storable_event(e: events.StatusEvent) -> None:
    assert e.service in KNOWN
    assert EARLIEST <= e.observed_at <= datetime.now(timezone.utc) + LATEST_AHEAD
    if e.valid_until is not None:
        assert e.valid_until > e.observed_at
    for name in ("service", "feed", "stream", "external_id", "code"):
        assert text_problem(getattr(e, name), one_line=True) is None, (name, getattr(e, name))
    assert text_problem(e.message) is None
    json.dumps(e.row(), default=str)


def parse_or_refuse(parse, payload) -> list:
    try:
        return parse(payload)
    except PayloadInvalid as err:
        assert err.errors and all(isinstance(loc, tuple) and msg for loc, msg in err.errors)
        str(err)  # the message itself renders
        return []


@pytest.mark.parametrize(("adapter", "key", "keys"), [(events.from_native, "events", EVENT_KEYS),
                                                      (events.from_nagios, "results", CHECK_KEYS)],
                         ids=["native", "icinga"])
@FUZZ
@given(data=st.data())
def test_pushed_events_and_check_results_are_refused_or_storable(adapter, key, keys, data):
    payload = data.draw(st.one_of(json_values, shaped(keys), st.fixed_dictionaries({key: st.lists(shaped(keys),
                                                                                                 max_size=3)})))
    for e in parse_or_refuse(lambda p: adapter(p, feed="fuzz", now=NOW, known=KNOWN.__contains__), payload):
        storable_event(e)
        assert adapter is events.from_native or e.code in {"0", "1", "2", "3"}


@FUZZ
@given(st.one_of(json_values, st.fixed_dictionaries({
    "version": st.sampled_from(["4", 4, "3"]),
    "alerts": st.lists(st.one_of(shaped(ALERT_KEYS), st.fixed_dictionaries({
        "status": st.sampled_from(["firing", "resolved"]), "fingerprint": json_values,
        "labels": st.dictionaries(st.sampled_from(["service", "prodops_service", "severity"]), json_values),
        "annotations": st.dictionaries(st.sampled_from(["summary", "description"]), json_values),
        "startsAt": json_values, "endsAt": json_values})), max_size=3)})))
def test_alertmanager_webhooks_are_refused_or_storable(payload):
    for e in parse_or_refuse(lambda p: events.from_alertmanager(p, feed="fuzz", now=NOW, known=KNOWN.__contains__),
                             payload):
        storable_event(e)


@FUZZ
@given(st.one_of(json_values, st.fixed_dictionaries({"components": st.lists(st.one_of(json_values, shaped(
    ["name", "status", "updated_at", "id", "description"])), max_size=3)})))
def test_pulled_statuspage_components_are_refused_or_storable(payload):
    components = {"dCache": "dcache", "": "samweb", "up": "fts"}
    for e in parse_or_refuse(lambda p: events.from_statuspage(p, feed="fuzz", now=NOW, components=components,
                                                              known=KNOWN.__contains__), payload):
        storable_event(e)


@FUZZ
@given(st.one_of(json_values, shaped(sorted(["services", "start", "end", "reason", "id", "created_by"]))))
def test_maintenance_windows_are_refused_or_storable(payload):
    parse = lambda p: [parse_window(p, feed="fuzz", source="feed", now=NOW, known=KNOWN.__contains__)]  # noqa: E731
    for w in parse_or_refuse(parse, payload):
        assert EARLIEST <= w.starts_at < w.ends_at <= w.starts_at + timedelta(days=32)
        assert set(w.services) <= KNOWN and text_problem(w.reason) is None
        assert text_problem(w.external_id, one_line=True) is None and text_problem(w.created_by, one_line=True) is None


@FUZZ
@given(st.one_of(json_values, shaped(sorted(["text", "severity", "start", "end", "author", "id"]))))
def test_announcements_are_refused_or_storable(payload):
    for a in parse_or_refuse(lambda p: [parse_announcement(p, feed="fuzz", now=NOW)], payload):
        assert a.severity in ("info", "warning", "critical") and 1 <= len(a.text) <= 4000
        assert text_problem(a.text) is None and text_problem(a.author, one_line=True) is None
        assert EARLIEST <= a.starts_at and (a.ends_at is None or a.ends_at > a.starts_at)


@pytest.fixture(scope="module")
def templates():
    return load_templates()


GOOD_FORM = {"experiment": "nova", "campaign": "prod5.1-mc", "workflow": "demo", "n_jobs": 20,
             "request_memory_mb": 256, "request_disk_mb": 100, "max_wall_time_min": 30, "priority": 60,
             "justification": "Monte Carlo for the 2026 oscillation analysis", "contact": "paola@example.org",
             "workflow_options": {}}


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(change=st.dictionaries(st.sampled_from([*GOOD_FORM, "color"]), json_values, max_size=4))
def test_the_request_form_is_refused_naming_fields_or_valid(templates, change):
    """The trigger form: one to four fields of a good form set to any JSON value."""
    try:
        request = validate_request({**GOOD_FORM, **change}, templates)
    except RequestInvalid as err:
        assert err.errors and {k.split(".")[0] for k in err.errors} <= {*form_fields(templates), *change}
        return
    for name, value in request.as_form().items():
        if isinstance(value, str):
            assert text_problem(value) is None, name
        if isinstance(value, float):
            assert math.isfinite(value), name
