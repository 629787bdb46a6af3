"""Site steering without a database: the thresholds, the settings, and the clause a submission gets,
built by the real ``htcondor2.Submit`` and evaluated by classad2 against machine ads."""

from __future__ import annotations

import classad2
import htcondor2
import pytest

from prodops.batch.base import SubmissionSpec
from prodops.batch.grid import JobPlacement, PoolSubmit, SubmitConfigInvalid, parse_placement
from prodops.batch.submit import render_submit
from prodops.steering import SiteCounts, SteeringSettings, decide, steer_placement
from prodops.triage.settings import SettingsInvalid, parse_settings

SETTINGS = SteeringSettings(window_h=2, min_attempts=10, failure_rate=0.5, cooling_off_h=6)


@pytest.mark.parametrize(
    ("attempts", "failures", "avoided"),
    [
        (10, 4, False),  # 40 %: below the rate
        (10, 5, True),  # 50 %: at the rate
        (10, 9, True),  # above
        (9, 9, False),  # every attempt failed, but fewer than min_attempts
        (0, 0, False),
    ],
)
def test_a_site_is_avoided_at_or_over_the_rate_with_enough_attempts(attempts, failures, avoided):
    got = decide([SiteCounts("US_Purdue", attempts, failures)], SETTINGS)
    assert [c.site for c in got] == (["US_Purdue"] if avoided else [])


def test_only_failing_sites_are_avoided_and_disabled_steering_avoids_none():
    counts = [SiteCounts("US_Purdue", 12, 8), SiteCounts("US_Wisconsin", 40, 2), SiteCounts("FermiGrid", 3, 3)]
    assert [c.site for c in decide(counts, SETTINGS)] == ["US_Purdue"]
    assert decide(counts, SteeringSettings(enabled=False)) == []


def test_settings_from_triage_yaml_and_errors_naming_the_key():
    got = parse_settings(
        {"steering": {"window_h": 1, "min_attempts": 20, "failure_rate": 0.25, "cooling_off_h": 12}}
    ).steering
    assert got == SteeringSettings(window_h=1.0, min_attempts=20, failure_rate=0.25, cooling_off_h=12.0)
    assert parse_settings({}).steering == SteeringSettings()
    for raw, words in (
        ({"failure_rate": 50}, "failure_rate = 50 must be a fraction"),
        ({"min_attempts": 2.5}, "min_attempts = 2.5 must be a whole number"),
        ({"cooling_off_h": 0}, "cooling_off_h = 0 must be a number more than 0"),
        ({"window": 2}, "'window' is not a steering setting"),
        ({"enabled": "yes"}, "enabled = 'yes' must be true or false"),
    ):
        with pytest.raises(SettingsInvalid, match=words):
            parse_settings({"steering": raw}, "triage.yaml")


def test_the_shipped_settings_parse():
    from prodops.triage.settings import load_settings

    load_settings.cache_clear()
    assert load_settings().steering == SteeringSettings(window_h=2, min_attempts=10, failure_rate=0.5, cooling_off_h=6)


def spec(placement: JobPlacement, tmp_path) -> SubmissionSpec:
    return SubmissionSpec(
        request_id=7,
        stage="gen",
        attempt=2,
        executable=str(tmp_path / "job.sh"),
        items=["--job 0"],
        workdir=str(tmp_path / "w"),
        experiment="nova",
        placement=placement,
    )


def commands(placement: JobPlacement, tmp_path, pool: PoolSubmit | None = None) -> dict[str, str]:
    submit = render_submit(spec(placement, tmp_path), pool)
    assert isinstance(submit, htcondor2.Submit)
    return {k.lower(): v for k, v in dict(submit).items()}


def matches(got: dict[str, str], site: str | None) -> bool:
    job = classad2.ClassAd()
    job["ProdopsAvoidSites"] = classad2.ExprTree(got["my.prodopsavoidsites"])
    if "my.desired_sites" in got:
        job["DESIRED_Sites"] = classad2.ExprTree(got["my.desired_sites"])
    machine = classad2.ClassAd({"GLIDEIN_Site": site} if site is not None else {})
    return classad2.ExprTree(got["requirements"]).eval(job, machine) is True


def test_the_clause_keeps_jobs_off_the_avoided_sites_and_is_anded_with_the_templates(tmp_path):
    placement = JobPlacement(requirements="TARGET.HAS_CVMFS == true")
    steered = steer_placement(placement, ["US_Purdue", "US_Nebraska"])
    assert (steered.avoided, steered.not_steered) == (("US_Nebraska", "US_Purdue"), "")
    got = commands(steered.placement, tmp_path, PoolSubmit())
    assert "&& (TARGET.HAS_CVMFS == true)" in got["requirements"]
    job = classad2.ClassAd({"ProdopsAvoidSites": classad2.ExprTree(got["my.prodopsavoidsites"])})
    expr = classad2.ExprTree(got["requirements"])
    assert expr.eval(job, classad2.ClassAd({"GLIDEIN_Site": "US_Purdue", "HAS_CVMFS": True})) is False
    assert expr.eval(job, classad2.ClassAd({"GLIDEIN_Site": "US_Wisconsin", "HAS_CVMFS": True})) is True
    assert expr.eval(job, classad2.ClassAd({"GLIDEIN_Site": "US_Wisconsin", "HAS_CVMFS": False})) is False
    assert expr.eval(job, classad2.ClassAd({"HAS_CVMFS": True})) is True  # a slot naming no site


def test_the_local_pool_gets_the_avoided_sites_in_the_job_ad(tmp_path):
    got = commands(steer_placement(JobPlacement(), ["US_Purdue"]).placement, tmp_path)
    assert classad2.ExprTree(got["my.prodopsavoidsites"]).eval() == ["US_Purdue"]
    assert not matches(got, "US_Purdue") and matches(got, "FermiGrid") and matches(got, None)


def test_hostile_site_names_are_quoted_as_data_or_left_out(tmp_path):
    hostile = ['US_"Evil") || true || ("', "Site,With,Commas", "back\\slash"]
    steered = steer_placement(JobPlacement(), [*hostile, "$ENV(HOME)", "two\nlines", "$(Cluster)"])
    assert sorted(steered.avoided) == sorted(hostile)
    assert "cannot be written into a submit description as data" in steered.not_steered
    got = commands(steered.placement, tmp_path, PoolSubmit())
    assert classad2.ExprTree(got["my.prodopsavoidsites"]).eval() == sorted(hostile)
    for name in hostile:
        assert not matches(got, name)
    assert matches(got, "US_Evil") and matches(got, "Site") and matches(got, "true")


def test_every_allowed_site_avoided_is_not_steered(tmp_path):
    placement = JobPlacement(sites=("FermiGrid", "US_Nebraska"))
    steered = steer_placement(placement, ["fermigrid", "US_Nebraska", "US_Purdue"])
    assert steered.avoided == ()
    assert "every site the stage allows (FermiGrid, US_Nebraska) is avoided; not steered" in steered.not_steered
    assert "my.prodopsavoidsites" not in commands(steered.placement, tmp_path, PoolSubmit())
    some = steer_placement(placement, ["US_Nebraska", "US_Purdue"])  # Purdue is not allowed anyway
    assert some.avoided == ("US_Nebraska",)
    got = commands(some.placement, tmp_path, PoolSubmit())
    assert matches(got, "FermiGrid") and not matches(got, "US_Nebraska") and not matches(got, "US_Purdue")


def test_a_retry_replaces_the_first_submissions_steering():
    first = steer_placement(JobPlacement(), ["US_Purdue"]).placement
    assert steer_placement(first, []).placement.avoid_sites == ()
    assert steer_placement(first, ["US_Nebraska"]).placement.avoid_sites == ("US_Nebraska",)


def test_the_avoided_sites_survive_the_submission_row(tmp_path):
    placed = spec(steer_placement(JobPlacement(), ["US_Purdue"]).placement, tmp_path)
    again = SubmissionSpec.from_dict(placed.to_dict())
    assert again.placement.avoid_sites == ("US_Purdue",)


def test_a_template_cannot_set_avoided_sites():
    with pytest.raises(SubmitConfigInvalid, match="avoid_sites is set by site steering"):
        parse_placement({"avoid_sites": ["US_Purdue"]}, "stage 'gen'")
