"""HTCondor job events in their ClassAd (XML/JSON) forms and the executable-error event
(include/triage/patterns/condor_events.yaml), read from condor_event.cpp.

The XML lines are the ClassAd XML writer's form of an attribute (xmlSink.cpp: ``<a n="<name>">``
around ``<s>...</s>``, indented by four) with the values toClassAd sets (MyType, EventDescription);
the JSON line is the same attribute as the JSON log writes it; the text line is the user log's
header ``"NNN (cluster.proc.subproc) date time "`` then ExecutableErrorEvent::formatBody's
``"(%d) Job file not executable."`` (CONDOR_EVENT_NOT_EXECUTABLE is 0, CONDOR_EVENT_BAD_LINK 1 in
condor_event.h). Job ids and dates are ours.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

EVENT = "https://github.com/htcondor/htcondor/blob/7491a145f64a1c2393ed0933375874344fa44f9f/src/condor_utils/condor_event.cpp"

# (event-log lines, pattern id, category, retryable)
CASES = [
    (['    <a n="MyType"><s>JobReconnectFailedEvent</s></a>',
      '    <a n="EventDescription"><s>Job reconnect impossible: rescheduling job</s></a>'],
     "condor-event-reconnect-impossible", "infrastructure", True),
    (['    "EventDescription": "Job reconnect impossible: rescheduling job",'],
     "condor-event-reconnect-impossible", "infrastructure", True),
    (['    <a n="MyType"><s>ShadowExceptionEvent</s></a>'], "condor-event-shadow-exception-ad", "infrastructure", True),
    (["002 (1234.000.000) 2026-12-01 07:00:00 (0) Job file not executable."],
     "condor-event-executable-error", "code", False),
    (["002 (1234.000.000) 2026-12-01 07:00:00 (1) Job not properly linked for Condor."],
     "condor-event-executable-error", "code", False),
    (['    "MyType": "ExecutableErrorEvent",'], "condor-event-executable-error", "code", False),
]


@pytest.mark.parametrize("lines, pid, category, retryable", CASES, ids=[c[0][-1][:60] for c in CASES])
def test_the_event_s_form_is_read(lines, pid, category, retryable):
    best = best_pattern(lines, "eventlog", source=EVENT)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)


def test_the_text_form_of_a_failed_reconnection_stays_eviction_yaml_s_with_the_same_reading():
    lines = ["024 (1234.000.000) 2026-12-01 07:00:00 Job reconnection failed",
             "    Can not reconnect to slot1@node.example.org, rescheduling job"]
    best = best_pattern(lines, "eventlog")
    assert best.id in {"condor-reconnect-failed", "condor-job-gone-from-node"}
    assert (best.category.value, best.retryable) == ("infrastructure", True)
