"""The follower's pure decisions: which files are new, which batches go within the cap."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.keepup.plan import day_start, new_files, next_day, plan_batches


def keepup_jobs(n: int) -> int:
    """keepup's chain: reco takes 2 files a job, merge one job for all."""
    return (n + 1) // 2 + 1


def test_new_files_are_the_listed_ones_not_claimed_in_the_listed_order_each_once():
    assert new_files(["c", "a", "b", "a", "d"], {"b"}) == ["c", "a", "d"]
    assert new_files(["a", "b"], {"a", "b"}) == []


def test_files_are_cut_into_requests_of_files_per_request_in_order():
    plan = plan_batches(list("abcdefg"), 3, room=100, jobs_of=keepup_jobs)
    assert plan.batches == (("a", "b", "c"), ("d", "e", "f"), ("g",))
    assert plan.jobs == (3, 3, 2) and plan.total_jobs == 8 and plan.waiting == 0


def test_the_cap_cuts_the_last_batch_to_what_fits_and_the_rest_waits():
    plan = plan_batches(list("abcdefg"), 4, room=5, jobs_of=keepup_jobs)
    # 4 files make 3 jobs; 2 jobs are left: 1 or 2 files make 2 jobs
    assert plan.batches == (("a", "b", "c", "d"), ("e", "f"))
    assert plan.jobs == (3, 2) and plan.waiting == 1


def test_no_room_claims_nothing_and_every_file_waits():
    for room in (0, 1, -4):
        plan = plan_batches(list("abc"), 2, room=room, jobs_of=keepup_jobs)
        assert plan.batches == () and plan.waiting == 3


def test_a_later_file_never_goes_before_an_earlier_one_that_waits():
    def grows_fast(n: int) -> int:
        return 10 * n

    plan = plan_batches(list("abc"), 1, room=15, jobs_of=grows_fast)
    assert plan.batches == (("a",),) and plan.waiting == 2


def test_files_per_request_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        plan_batches(["a"], 0, room=10, jobs_of=keepup_jobs)


def test_the_cap_counts_the_utc_day():
    late = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-6)))  # 05:30 UTC on March 2
    assert day_start(late) == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert next_day(late) == datetime(2026, 3, 3, tzinfo=timezone.utc)
