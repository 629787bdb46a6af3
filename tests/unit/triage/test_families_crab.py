"""CRAB family (include/triage/patterns/crab.yaml), on CRABServer's own strings (verbatim)."""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

CRAB = "https://github.com/dmwm/CRABServer/blob/419cd950e98957a08b0e629901bfc5465e44b3cd/src/python/TaskWorker/Actions/"

# (line, pattern id, retryable, source)
LINES = [
    ("Not retrying job due to CPU limit (using more CPU than Wall Clock)", "crab-cpu-limit", False, CRAB + "RetryJob.py"),
    ("Not retrying job due to excessive idle time (job automatically killed on the grid scheduler)",
     "crab-idle-time-limit", True, CRAB + "RetryJob.py"),
    ("Removed due to idle time limit", "crab-idle-time-limit", True, CRAB + "DagmanCreator.py"),
]


@pytest.mark.parametrize("line, pid, retryable, source", LINES, ids=[row[1] + ":" + row[0][:40] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, retryable, source):
    best = best_pattern(line, "reason")
    assert (best.id, best.category.value, best.retryable) == (pid, "infrastructure", retryable), source
