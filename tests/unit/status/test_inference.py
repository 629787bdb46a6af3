"""Inferred outages, the pure rules: thresholds, the window, the share of running jobs, a
signature's own threshold, aliases to board services, what counts, and when an outage clears."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.status.inference import (
    ClearReason, Failure, InferenceSettings, clearing, detect,
)
from prodops.triage.settings import SettingsInvalid, TriageSettings, load_settings, parse_settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
SETTINGS = InferenceSettings()  # 20 jobs, or 5 % of running if fewer, never fewer than 5; 10 min window
ALIASES = TriageSettings(service_aliases={"xrootd": ("dcache",), "storage": ("dcache",), "database": ("conditions-db",)})
KNOWN = {"dcache", "samweb", "conditions-db", "fts"}
XRD = "xrootd-3011-no-server: Error in <TNetXNGFile::Open>: [FATAL] [#] No servers are available"


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def failures(n: int, *, service: str = "xrootd", signature: str = XRD, start_min: float = 9, every_s: float = 20,
             cluster: int = 100, request_id: int = 1) -> list[Failure]:
    """``n`` failures, the first ``start_min`` minutes ago, one every ``every_s`` seconds."""
    first = ago(start_min)
    return [Failure(service=service, signature=signature, ended=first + timedelta(seconds=i * every_s),
                    job=f"{cluster}.{i}", rule=signature.split(":")[0], request_id=request_id, stage="reco")
            for i in range(n)]


def run(found: list[Failure], *, running: int = 10_000, settings: InferenceSettings = SETTINGS, **kw):
    return detect(found, running=running, settings=settings, now=NOW, board_services=ALIASES.board_services,
                  known=KNOWN, **kw)


@pytest.mark.parametrize(("running", "threshold"), [
    (0, 5),          # nothing running: never fewer than floor_jobs
    (60, 5),         # 5 % of 60 is 3: the floor
    (200, 10),       # 5 % of 200 is 10, fewer than 20
    (401, 20),       # ceil(20.05) = 21 > 20: min_jobs
    (100_000, 20),   # 5 % is 5,000: 20 jobs are enough
])
def test_threshold_is_min_jobs_or_the_share_of_running_jobs_if_fewer_never_below_the_floor(running, threshold):
    assert SETTINGS.threshold(running) == threshold


def test_a_signature_own_threshold_replaces_the_formula():
    assert SETTINGS.threshold(200, override=60) == 60
    assert SETTINGS.threshold(0, override=3) == 3


def test_twenty_failed_jobs_with_one_signature_in_ten_minutes_make_the_board_service_look_down():
    [d] = run(failures(20))
    assert (d.service, d.verdict_service, d.signature, d.count, d.threshold, d.running) == (
        "dcache", "xrootd", XRD, 20, 20, 10_000)
    assert d.first_failure == ago(9) and d.last_failure == ago(9) + timedelta(seconds=19 * 20)
    assert d.sample_jobs == tuple(f"100.{i}" for i in range(10)) and d.requests == (1,)
    assert not run(failures(19))


def test_failures_spread_over_more_than_the_window_do_not_count_together():
    # 20 failures over 38 minutes: no 10-minute span holds more than 6
    assert not run(failures(20, start_min=40, every_s=120))
    # ... the densest window is what is reported: 20 of 26 within 10 minutes
    spread = failures(6, start_min=50, every_s=300, cluster=7) + failures(20, start_min=9)
    [d] = run(spread)
    assert d.count == 20 and d.total == 26 and d.first_failure == ago(9)


def test_a_share_of_few_running_jobs_is_enough():
    assert run(failures(10), running=200)[0].threshold == 10
    assert not run(failures(9), running=200)
    assert run(failures(5), running=0)[0].count == 5  # the floor
    assert not run(failures(4), running=0)


def test_a_raised_threshold_holds_its_signature_only():
    other = "samweb-timeout: samweb [#] timed out"
    found = failures(25) + failures(25, service="samweb", signature=other, cluster=200)
    assert [d.service for d in run(found, overrides={XRD: 30})] == ["samweb"]
    more = found + failures(10, cluster=300, start_min=5, every_s=5)  # 35 xrootd failures in the window
    dcache, samweb = run(more, overrides={XRD: 30})
    assert (dcache.service, dcache.count, dcache.threshold, dcache.overridden) == ("dcache", 35, 30, True)
    assert "its own threshold" in dcache.describe()
    assert (samweb.threshold, samweb.overridden) == (20, False)


def test_aliases_map_a_verdict_service_to_registered_board_services():
    # xrootd and storage both mean dcache; a service the registry does not know is not posted
    [d] = run(failures(20, service="storage", signature="storage-open: FileOpenError"))
    assert d.service == "dcache" and d.verdict_service == "storage"
    assert not run(failures(50, service="cvmfs", signature="cvmfs-missing"))
    [d] = run(failures(20, service="samweb", signature="samweb-timeout"))
    assert d.service == "samweb"  # a registered service needs no alias


def test_signatures_do_not_add_up_and_the_biggest_group_is_the_evidence():
    half = failures(12) + failures(12, signature="xrootd-auth: [FATAL] Auth failed", cluster=200)
    assert not run(half)
    two = failures(21) + failures(30, service="storage", signature="storage-open: FileOpenError", cluster=200,
                                  start_min=8, every_s=10)
    [d] = run(two)
    assert (d.service, d.verdict_service, d.count) == ("dcache", "storage", 30)


def test_a_job_counts_once_and_signatureless_verdicts_group_by_rule():
    twice = failures(19) + failures(19)
    assert not run(twice)
    bare = [Failure(service="xrootd", signature="", ended=ago(5) + timedelta(seconds=i), job=f"1.{i}", rule="xrd-3011")
            for i in range(20)]
    assert run(bare)[0].signature == "xrd-3011"


def test_only_failures_after_the_board_last_showed_the_service_up_and_within_the_lookback_count():
    found = failures(20)
    assert not run(found, not_before={"dcache": ago(5)})  # the first ones ended during a known outage
    assert run(found, not_before={"dcache": ago(30), "samweb": NOW})
    assert not run(failures(20, start_min=70))  # older than lookback_min (60)
    future = [Failure("xrootd", XRD, NOW + timedelta(minutes=1 + i), f"9.{i}") for i in range(20)]
    assert not run(future)


def test_disabled_finds_nothing():
    assert not run(failures(100), settings=InferenceSettings(enabled=False))


def test_the_evidence_reads_as_a_sentence():
    [d] = run(failures(20))
    text = d.describe()
    assert text.startswith(f"inferred from 20 failed jobs: xrootd failures xrootd-3011-no-server (signature {XRD})")
    assert "threshold 20 (10000 running)" in text and "100.0, 100.1, 100.2" in text
    data = d.to_dict()
    assert data["first_failure"] == ago(9).isoformat() and data["count"] == 20 and data["signature"] == XRD


# ---------------------------------------------------------------- clearing

OPENED = ago(50)
LAST = ago(40)


def test_clears_at_the_nth_success_after_the_last_failure():
    succeeded = [ago(45)] * 5 + [ago(30 - i) for i in range(12)]  # the 5 before the last failure do not count
    c = clearing(opened_at=OPENED, last_failure=LAST, successes=succeeded, now=NOW, settings=SETTINGS)
    assert (c.reason, c.at, c.successes, c.since) == (ClearReason.JOBS_SUCCEEDED, ago(21), 10, LAST)
    assert "10 jobs needing it succeeded after" in c.describe()


def test_stays_open_with_too_few_successes_until_it_is_quiet_for_long():
    few = [ago(30 - i) for i in range(9)]
    assert clearing(opened_at=OPENED, last_failure=LAST, successes=few, now=NOW, settings=SETTINGS) is None
    later = LAST + timedelta(minutes=120)
    c = clearing(opened_at=OPENED, last_failure=LAST, successes=few, now=later, settings=SETTINGS)
    assert (c.reason, c.at) == (ClearReason.QUIET, later)
    never = InferenceSettings(expire_after_min=0)
    assert clearing(opened_at=OPENED, last_failure=LAST, successes=few, now=later + timedelta(days=3),
                    settings=never) is None


def test_successes_count_after_the_opening_when_no_later_failure_is_known():
    c = clearing(opened_at=OPENED, last_failure=None, successes=[ago(49 - i) for i in range(10)], now=NOW,
                 settings=SETTINGS)
    assert c.at == ago(40) and c.since == OPENED


# ---------------------------------------------------------------- settings

def test_settings_come_from_triage_yaml():
    inferred = load_settings().inferred_outages
    assert (inferred.min_jobs, inferred.min_share, inferred.window_min) == (20, 0.05, 10.0)
    parsed = parse_settings({"inferred_outages": {"min_jobs": 50, "window_min": 5}}).inferred_outages
    assert (parsed.min_jobs, parsed.window_min, parsed.floor_jobs) == (50, 5.0, 5)


@pytest.mark.parametrize(("raw", "words"), [
    ({"min_job": 3}, "'min_job' is not an inferred-outage setting"),
    ({"min_share": 5}, "min_share = 5 must be a fraction"),
    ({"min_jobs": 2.5}, "min_jobs = 2.5 must be a whole number"),
    ({"window_min": 0}, "window_min = 0 must be a number more than 0"),
    ({"window_min": 90}, "window_min = 90 is longer than lookback_min = 60"),
    ({"enabled": "yes"}, "enabled = 'yes' must be true or false"),
    ([1], "must be a mapping"),
])
def test_bad_settings_name_the_key_and_the_fix(raw, words):
    with pytest.raises(SettingsInvalid, match="inferred_outages") as err:
        parse_settings({"inferred_outages": raw})
    assert words in str(err.value)
