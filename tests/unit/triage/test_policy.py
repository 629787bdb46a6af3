"""The action policy (a pure function), the settings file, and how outages change verdicts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.constants import Category
from prodops.triage.outages import Interval, apply, overlapping
from prodops.triage.policy import Action, Budget, History, Policy, decide
from prodops.triage.settings import SettingsInvalid, TriageSettings, load_settings, parse_settings
from prodops.triage.verdict import JobFacts, Verdict

C = Category
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
FACTS = JobFacts(submission_id=1, proc_id=3, cluster_id=9, request_memory_mb=2000, memory_usage_mb=2100,
                 started=T0, ended=T0 + timedelta(hours=1))
LIMITS = {"request_memory_mb": 2000, "request_disk_mb": 1000, "max_wall_time_min": 60}


def verdict(category: Category, **kw) -> Verdict:
    return Verdict(category=category, rule=kw.pop("rule", "r"), source="pattern", explain="why", **kw)


def test_service_failures_are_retried_after_preflight_on_their_own_budget():
    d = decide(verdict(C.SERVICE, retryable=True, service="dcache"), FACTS, History(service=1, experiment=0))
    assert (d.action, d.budget, d.params) == (Action.RETRY, Budget.SERVICE, {"after_preflight": True})
    assert "2/3" in d.reason and "not counted against the experiment's retries" in d.reason
    used_up = decide(verdict(C.SERVICE, retryable=True), FACTS, History(service=3))
    assert used_up.action is Action.LEAVE and "used up (3/3)" in used_up.reason


def test_not_retryable_service_failures_are_left_for_a_person():
    d = decide(verdict(C.SERVICE, retryable=False, service="auth"), FACTS)
    assert d.action is Action.LEAVE and d.budget is None


def test_code_failures_are_listed_for_a_debug_rerun_never_retried():
    d = decide(verdict(C.CODE, possibly_service=True), FACTS, History(), Policy(experiment_retries=5))
    assert d.action is Action.DEBUG_RERUN and "a person should look" in d.reason


@pytest.mark.parametrize("resource, key, expected", [
    ("memory", "request_memory_mb", 3000),  # max(2000 x 1.5, 2100 x 1.2)
    ("disk", "request_disk_mb", 1500),
    ("time", "max_wall_time_min", 90),
])
def test_resource_limits_are_retried_with_more_by_policy(resource, key, expected):
    d = decide(verdict(C.INFRASTRUCTURE, retryable=True, resource=resource), FACTS, History(), Policy(), LIMITS)
    assert (d.action, d.budget, d.params) == (Action.RETRY_MORE_RESOURCES, Budget.RESOURCE, {key: expected})


def test_resource_retries_stop_at_the_ceiling_and_the_budget():
    v = verdict(C.INFRASTRUCTURE, retryable=True, resource="memory")
    assert decide(v, FACTS, History(), Policy(max_memory_mb=2000), LIMITS).action is Action.LEAVE
    capped = decide(v, FACTS, History(), Policy(max_memory_mb=2500), LIMITS)
    assert capped.params == {"request_memory_mb": 2500}
    assert decide(v, FACTS, History(resource=2), Policy(), LIMITS).action is Action.LEAVE


def test_unknown_failures_use_the_experiments_budget():
    v = verdict(C.UNKNOWN)
    assert decide(v, FACTS).action is Action.LEAVE
    d = decide(v, FACTS, History(experiment=0), Policy(experiment_retries=1))
    assert (d.action, d.budget) == (Action.RETRY, Budget.EXPERIMENT)


def test_policy_and_settings_errors_name_the_key():
    with pytest.raises(ValueError, match="memory_factor = 0.5 must be a number at least 1"):
        Policy.from_mapping({"memory_factor": 0.5})
    with pytest.raises(ValueError, match="'colour' is not a policy setting"):
        Policy.from_mapping({"colour": 1})
    with pytest.raises(SettingsInvalid, match="tail_lines"):
        parse_settings({"tail_lines": 5000})
    with pytest.raises(SettingsInvalid, match="service_aliases"):
        parse_settings({"service_aliases": {"xrootd": "dcache"}})
    shipped = load_settings()
    assert shipped.tail_lines == 50 and shipped.board_services("xrootd") == ("xrootd", "dcache")


SETTINGS = TriageSettings(service_aliases={"xrootd": ("dcache",)})
DOWN = Interval("dcache", "outage", T0 + timedelta(minutes=20), T0 + timedelta(minutes=40), "down")


def test_an_outage_of_the_implicated_service_raises_confidence():
    v = apply(verdict(C.SERVICE, service="xrootd", retryable=True, confidence=0.8), [DOWN], SETTINGS)
    assert v.confidence == pytest.approx(0.95) and v.outages[0]["service"] == "dcache"


def test_an_unknown_failure_during_an_outage_becomes_service():
    v = apply(verdict(C.UNKNOWN, rule="fallback", confidence=0.2), [DOWN], SETTINGS)
    assert (v.category, v.service, v.rule, v.source, v.retryable) == (C.SERVICE, "dcache", "outage:dcache",
                                                                    "outage", True)
    assert "dcache down" in v.explain


def test_a_code_failure_during_an_outage_is_flagged_possibly_service():
    v = apply(verdict(C.CODE, confidence=0.8), [DOWN], SETTINGS)
    assert v.category is C.CODE and v.possibly_service


def test_the_run_window_is_widened_by_the_margin():
    later = Interval("dcache", "outage", T0 + timedelta(minutes=65), None, "down")
    assert overlapping(FACTS, [later], {"dcache"}, timedelta(minutes=10), T0) == [later]
    assert overlapping(FACTS, [later], {"dcache"}, timedelta(minutes=1), T0) == []
    assert overlapping(FACTS, [later], {"samweb"}, timedelta(minutes=10), T0) == []


def test_a_guess_is_never_retried_by_itself_unless_the_policy_says_so():
    guessed = verdict(C.SERVICE, rule="guess:service", retryable=True, confidence=0.3)
    left = decide(guessed, FACTS)
    assert left.action is Action.LEAVE and "a guess" in left.reason and "max_guess_retries = 0" in left.reason
    allowed = decide(guessed, FACTS, History(), Policy(max_guess_retries=1))
    assert (allowed.action, allowed.budget) == (Action.RETRY, Budget.SERVICE)
    assert decide(guessed, FACTS, History(service=1), Policy(max_guess_retries=1)).action is Action.LEAVE


def test_an_outage_outweighs_a_guess():
    guessed = verdict(C.CODE, rule="guess:code", confidence=0.3)
    hit = Interval(service="dcache", kind="outage", start=T0, end=T0 + timedelta(hours=2), state="down")
    apply(guessed, [hit], TriageSettings())
    assert (guessed.category, guessed.rule) == (C.SERVICE, "outage:dcache")


def test_a_code_guess_is_listed_for_a_debug_rerun_saying_it_is_a_guess():
    d = decide(verdict(C.CODE, rule="guess:code", confidence=0.3), FACTS)
    assert d.action is Action.DEBUG_RERUN and d.reason.startswith("a guess (code")
