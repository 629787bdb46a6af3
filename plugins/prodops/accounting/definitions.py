"""What an attempt's hours count as: cpu efficiency, wasted wall time and its cause.

Defined here once, for the stage report (prodops.report) and the accounting rollups, whose SQL
(``accounting_waste_cause`` in include/sql/migrations/018_accounting.sql) a test holds to
:func:`waste_cause` over every combination. docs/accounting.md says the same in words.
"""

from __future__ import annotations

import enum

from prodops.constants import Outcome


class WasteCause(str, enum.Enum):
    """Why the wall time of an ended attempt was not kept."""

    FAILED = "failed"
    """Completed with a non-zero exit code (or none)."""
    KILLED = "killed"
    """Terminated by a signal."""
    HELD = "held"
    """Held by the batch system (a limit, a transfer, a policy) and not released to finish."""
    REMOVED = "removed"
    """Removed (by a person, a policy or prodops) before it finished."""
    RETRIED_AWAY = "retried_away"
    """It succeeded, but its job ran again and a later attempt's work is the one kept."""
    DEBUG_RERUN = "debug_rerun"
    """A rerun with debug turned up: its output is for a person, never production."""
    EVICTED = "evicted"
    """Runs lost to eviction before the run whose work was kept (cms-htcondor-es' badput)."""


def waste_cause(outcome: Outcome | str, *, latest: bool, debug: bool) -> WasteCause | None:
    """Why an attempt's whole wall time is wasted, or None when its work is kept (or it has not ended).

    A debug rerun is always waste; otherwise an attempt that failed, was killed, held or removed
    is waste by its outcome; a success is kept only when it is its job's latest attempt.
    """
    outcome = Outcome(outcome)
    if outcome is Outcome.UNFINISHED:
        return None
    if debug:
        return WasteCause.DEBUG_RERUN
    if outcome is not Outcome.SUCCEEDED:
        return WasteCause(outcome.value)
    return None if latest else WasteCause.RETRIED_AWAY


def eviction_badput_s(wall_s: float, committed_s: float | None) -> float:
    """Wall time of the runs lost to eviction: RemoteWallClockTime - CommittedTime, never below 0.

    As cms-htcondor-es computes ``Badput`` (src/htcondor_es/convert_to_json.py: CoreHr -
    CommittedCoreHr, floored at 0), in wall seconds. Unknown CommittedTime: no badput known.
    """
    if committed_s is None:
        return 0.0
    return max(wall_s - committed_s, 0.0)


def wasted_wall_s(
    outcome: Outcome | str, *, latest: bool, debug: bool, wall_s: float, committed_s: float | None = None
) -> float:
    """An attempt's wasted wall time: all of it when :func:`waste_cause` names a cause, else its eviction badput."""
    if waste_cause(outcome, latest=latest, debug=debug) is not None:
        return wall_s
    if Outcome(outcome) is Outcome.UNFINISHED:
        return 0.0
    return eviction_badput_s(wall_s, committed_s)


def cpu_efficiency(cpu_s: float, wall_s: float) -> float | None:
    """CPU time over wall time (one core a job); None without wall time."""
    return cpu_s / wall_s if wall_s else None
