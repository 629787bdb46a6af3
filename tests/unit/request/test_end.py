"""How a request ended, and why: one decision, first rule that applies."""

from __future__ import annotations

from prodops.constants import RequestState
from prodops.request.end import decide_end, failed_tasks

STAGES = ["gen", "g4", "reco"]


def ok(jobs: int = 4) -> dict:
    return {"jobs": jobs, "outcomes": {"succeeded": jobs}}


def test_every_job_of_every_stage_succeeded():
    end = decide_end(stages=STAGES, reports={s: ok() for s in STAGES}, critical_failed={})
    assert end.state == RequestState.SUCCEEDED and "3 stage(s)" in end.reason


def test_a_critical_expectation_stops_the_chain_and_says_where():
    end = decide_end(stages=STAGES, reports={"gen": ok(), "g4": ok()}, critical_failed={"g4": ["no_empty_files"]},
                     failed_tasks=["mc_chain.g4.check_outputs", "mc_chain.reco.submit_stage"])
    assert end.state == RequestState.STOPPED_BY_DQ
    assert end.reason == ("data quality stopped the chain after stage g4: critical expectation no_empty_files failed;"
                          " stages not run: reco")


def test_a_failed_task_ends_the_request_failed_naming_it_first():
    end = decide_end(stages=STAGES, reports={"gen": ok()}, critical_failed={},
                     failed_tasks=["mc_chain.g4.submit_stage", "mc_chain.g4.track_stage"])
    assert end.state == RequestState.FAILED
    assert end.reason == "task mc_chain.g4.submit_stage failed (and 1 more); stages not run: g4, reco"


def test_jobs_that_did_not_succeed_fail_the_request_with_counts():
    reports = {**{s: ok() for s in STAGES}, "g4": {"jobs": 4, "outcomes": {"succeeded": 2, "failed": 1, "held": 1}}}
    end = decide_end(stages=STAGES, reports=reports, critical_failed={})
    assert end.state == RequestState.FAILED and end.reason == "stage g4: 2 of 4 jobs did not succeed (failed 1, held 1)"


def test_a_stage_that_never_ran_is_named():
    end = decide_end(stages=STAGES, reports={"gen": ok()}, critical_failed={})
    assert end.reason == "stages not run: g4, reco"


def test_failed_tasks_puts_causes_before_what_could_not_run_in_dag_order():
    states = {"c": "upstream_failed", "b": "failed", "a": "success", "d": "upstream_failed", "e": "failed"}
    assert failed_tasks(states, ["a", "e", "b", "d", "c"]) == ["e", "b", "d", "c"]
