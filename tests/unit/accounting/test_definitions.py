"""What an attempt's hours count as: waste causes, eviction badput, cpu efficiency (no database)."""

from __future__ import annotations

import pytest

from prodops.accounting.definitions import WasteCause, cpu_efficiency, eviction_badput_s, waste_cause, wasted_wall_s
from prodops.constants import Outcome


@pytest.mark.parametrize(
    ("outcome", "latest", "debug", "cause"),
    [
        (Outcome.SUCCEEDED, True, False, None),  # kept
        (Outcome.SUCCEEDED, False, False, WasteCause.RETRIED_AWAY),
        (Outcome.SUCCEEDED, False, True, WasteCause.DEBUG_RERUN),
        (Outcome.FAILED, True, False, WasteCause.FAILED),
        (Outcome.FAILED, False, False, WasteCause.FAILED),  # its outcome, not the retry, says why
        (Outcome.FAILED, False, True, WasteCause.DEBUG_RERUN),
        (Outcome.KILLED, True, False, WasteCause.KILLED),
        (Outcome.HELD, True, False, WasteCause.HELD),
        (Outcome.REMOVED, False, False, WasteCause.REMOVED),
        (Outcome.UNFINISHED, True, True, None),  # not ended: not accounted yet
    ],
)
def test_waste_cause(outcome, latest, debug, cause):
    assert waste_cause(outcome, latest=latest, debug=debug) is cause
    assert waste_cause(outcome.value, latest=latest, debug=debug) is cause


def test_eviction_badput_is_wall_time_before_the_committed_run_never_negative():
    assert eviction_badput_s(1000.0, 600.0) == 400.0
    assert eviction_badput_s(100.0, 200.0) == 0.0
    assert eviction_badput_s(100.0, None) == 0.0


def test_wasted_wall_time_is_all_of_a_wasted_attempt_or_the_badput_of_a_kept_one():
    assert wasted_wall_s(Outcome.FAILED, latest=True, debug=False, wall_s=500.0, committed_s=100.0) == 500.0
    assert wasted_wall_s(Outcome.SUCCEEDED, latest=True, debug=False, wall_s=1000.0, committed_s=600.0) == 400.0
    assert wasted_wall_s(Outcome.SUCCEEDED, latest=False, debug=False, wall_s=1000.0, committed_s=600.0) == 1000.0
    assert wasted_wall_s(Outcome.UNFINISHED, latest=True, debug=False, wall_s=50.0, committed_s=0.0) == 0.0


def test_cpu_efficiency_needs_wall_time():
    assert cpu_efficiency(50.0, 100.0) == 0.5
    assert cpu_efficiency(5.0, 0.0) is None
