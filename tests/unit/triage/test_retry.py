"""Building a retry round's submission from the stage's earlier submissions (no database)."""

from __future__ import annotations

import pytest

from prodops.batch.base import SubmissionSpec
from prodops.triage.retry import RetryRound, round_spec

FIRST = SubmissionSpec(request_id=7, stage="reco", attempt=1, executable="/bin/reco", workdir="/w/7/reco/attempt-1",
                       items=[f"--job {i}" for i in range(4)], request_memory_mb=1000, request_disk_mb=2000,
                       max_wall_time_s=3600, priority=40, inputs=("a", "b"))
SECOND = SubmissionSpec(request_id=7, stage="reco", attempt=2, executable="/bin/reco", workdir="/w/7/reco/attempt-2",
                        items=["--job 1", "--job 3"], job_indexes=[1, 3],
                        job_resources=[{"request_memory_mb": 1500, "request_disk_mb": 2000, "max_wall_time_s": 3600},
                                       {"request_memory_mb": 1000, "request_disk_mb": 2000, "max_wall_time_s": 3600}],
                        request_memory_mb=1000, request_disk_mb=2000, max_wall_time_s=3600, priority=40)
SUBMISSIONS = [{"attempt": 1, "spec": FIRST.to_dict()}, {"attempt": 2, "spec": SECOND.to_dict()}]


def action(job: int, attempt: int, **params) -> dict:
    return {"submission_id": attempt, "proc_id": job, "job_index": job, "attempt": attempt, "service": None,
            "category": "infrastructure" if params else "service",
            "action": "retry_more_resources" if params else "retry", "action_params": params}


def plan(*actions: dict, attempt: int = 3, priority: int = 40) -> RetryRound:
    return RetryRound(request_id=7, stage="reco", workflow="w", attempt=attempt, actions=actions, services=(),
                      run_for_min=60, priority=priority, submissions=tuple(SUBMISSIONS))


def test_a_round_resubmits_each_job_with_its_latest_item_and_raised_requests():
    spec = round_spec(plan(action(1, 2, request_memory_mb=2250), action(3, 2), action(0, 1, max_wall_time_min=90),
                           priority=70))
    assert (spec.attempt, spec.workdir, spec.priority, list(spec.inputs)) == (3, "/w/7/reco/attempt-3", 70, ["a", "b"])
    assert spec.job_indexes == [0, 1, 3] and spec.items == ["--job 0", "--job 1", "--job 3"]
    assert [r["request_memory_mb"] for r in spec.job_resources] == [1000, 2250, 1000]
    assert [r["max_wall_time_s"] for r in spec.job_resources] == [5400, 3600, 3600]


def test_a_plain_retry_keeps_what_an_earlier_resource_retry_gave_the_job():
    spec = round_spec(plan(action(1, 2)))
    assert spec.job_resources[0]["request_memory_mb"] == 1500


def test_a_job_in_no_submission_cannot_be_rebuilt():
    with pytest.raises(LookupError, match="job 9 of stage reco is in no submission"):
        round_spec(plan(action(9, 1)))

