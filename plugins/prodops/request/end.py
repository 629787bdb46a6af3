"""How a request ended, and the sentence that says why: one pure decision, read by the page.

Rules, first that applies:

1. a stage's critical data-quality expectation failed: ``stopped_by_dq``, naming the stage,
   the expectations and the stages that did not run;
2. a task of the run failed (or could not run because one before it failed): ``failed``,
   naming the first failed task and the stages that did not run;
3. a stage of the workflow never ran: ``failed``, naming it;
4. a stage has jobs that did not succeed (after retries): ``failed``, naming how many, where;
5. otherwise ``succeeded``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prodops.constants import Outcome, RequestState


@dataclass(frozen=True)
class RequestEnd:
    state: RequestState
    reason: str


def decide_end(
    *,
    stages: Sequence[str],
    reports: Mapping[str, Mapping[str, Any]],
    critical_failed: Mapping[str, Sequence[str]],
    failed_tasks: Sequence[str] = (),
) -> RequestEnd:
    """The end of a request whose workflow has ``stages`` (in order), from what ran."""
    not_run = [s for s in stages if s not in reports]
    unrun = f"; stages not run: {', '.join(not_run)}" if not_run else ""
    for stage in stages:
        if critical_failed.get(stage):
            return RequestEnd(RequestState.STOPPED_BY_DQ,
                              f"data quality stopped the chain after stage {stage}: critical expectation"
                              f" {', '.join(critical_failed[stage])} failed{unrun}")
    if failed_tasks:
        more = f" (and {len(failed_tasks) - 1} more)" if len(failed_tasks) > 1 else ""
        return RequestEnd(RequestState.FAILED, f"task {failed_tasks[0]} failed{more}{unrun}")
    if not_run:
        return RequestEnd(RequestState.FAILED, f"stages not run: {', '.join(not_run)}")
    for stage in stages:
        report = reports[stage]
        succeeded = report["outcomes"].get(Outcome.SUCCEEDED.value, 0)
        if report["jobs"] == 0 or succeeded != report["jobs"]:
            others = ", ".join(f"{k} {v}" for k, v in sorted(report["outcomes"].items())
                               if k != Outcome.SUCCEEDED.value)
            return RequestEnd(RequestState.FAILED, f"stage {stage}: {report['jobs'] - succeeded} of {report['jobs']}"
                                                   f" jobs did not succeed ({others or 'no jobs'})")
    return RequestEnd(RequestState.SUCCEEDED, f"every job of the {len(stages)} stage(s) succeeded")


FAILED_TASK_STATES = ("failed", "upstream_failed")


def failed_tasks(states: Mapping[str, str | None], order: Sequence[str]) -> list[str]:
    """The run's failed tasks first (the causes), then those that could not run, each in DAG order."""
    rank = {task: n for n, task in enumerate(order)}
    return [task for state in FAILED_TASK_STATES
            for task in sorted((t for t, s in states.items() if s == state), key=lambda t: rank.get(t, len(rank)))]
