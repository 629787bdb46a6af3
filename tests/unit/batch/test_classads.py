"""Mapping job ClassAds (parsed by the real classad2 bindings) to job-attempt rows."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import classad2
import pytest

from prodops.batch.classads import COLUMNS, MappingConfig, ad_text, fingerprint, job_projection, map_ad, outcome
from prodops.constants import Outcome
from prodops.exceptions import BadClassAd

ADS = Path(__file__).parents[2] / "fixtures" / "ads" / "history_mixed.ads"


@pytest.fixture(scope="module")
def ads() -> list[classad2.ClassAd]:
    return list(classad2.parseAds(ADS.read_text(), classad2.ParserType.Old))


def test_completed_job_maps_every_fact(ads):
    row = map_ad(ads[0])
    assert set(row) == set(COLUMNS)
    assert (row["cluster_id"], row["proc_id"], row["state"]) == (4211, 0, "completed")
    assert row["q_date"] == datetime(2025, 11, 25, 8, 0, tzinfo=timezone.utc)
    assert row["completion_date"] == datetime(2025, 11, 25, 10, 0, tzinfo=timezone.utc)
    assert row["exit_code"] == 0 and row["exit_by_signal"] is False and row["exit_signal"] is None
    assert row["last_remote_host"] == "slot1_3@glidein_12345@wn-042.hep.wisc.edu"
    assert row["worker_ip"] == "144.92.180.42"
    assert row["site"] == "Wisconsin"
    assert row["cpu_model"] == "AMD EPYC 7763 64-Core Processor"
    assert row["cpu_vendor"] == "AuthenticAMD"
    assert row["remote_wall_clock_time"] == 3600.0
    assert row["remote_user_cpu"] == 3300.0 and row["remote_sys_cpu"] == 60.0
    assert row["memory_usage_mb"] == 1800  # the MemoryUsage expression, evaluated
    assert row["resident_set_size_kb"] == 1843200
    assert row["request_memory_mb"] == 2000 and row["request_disk_kb"] == 10000000
    assert row["num_job_starts"] == 1 and row["num_shadow_starts"] == 1
    assert row["transfer_input_size_mb"] == 120 and row["bytes_sent"] == 524288000.0
    assert row["time_window"] == "morning"  # started 09:00 UTC
    assert json.loads(row["ad"])["JobBatchName"] == "nova-prod5-7-reco"
    assert outcome(row) is Outcome.SUCCEEDED


def test_held_job_keeps_reason_and_falls_back_to_glidein_site(ads):
    row = map_ad(ads[1])
    assert row["state"] == "held"
    assert row["hold_reason_code"] == 34 and row["hold_reason_subcode"] == 0
    assert "over cgroup memory limit" in row["hold_reason"]
    assert row["site"] == "Purdue"
    assert row["completion_date"] is None
    assert outcome(row) is Outcome.HELD


def test_missing_attributes_are_null_not_guessed(ads):
    row = map_ad(ads[2])
    assert row["exit_code"] is None
    assert (row["exit_by_signal"], row["exit_signal"]) == (True, 11)
    for column in ("site", "cpu_model", "worker_ip", "last_remote_host", "memory_usage_mb", "hold_reason",
                   "remove_reason", "job_current_start_date", "num_job_starts"):
        assert row[column] is None, column
    assert row["time_window"] == "afternoon"  # started 17:00 UTC
    assert outcome(row) is Outcome.KILLED


def test_site_preference_and_time_zone_are_configurable(ads):
    config = MappingConfig(site_attributes=("MachineAttrGLIDEIN_Site0",), site_timezones={"WiscHEP": "America/Chicago"})
    row = map_ad(ads[0], config)
    assert row["site"] == "WiscHEP"
    assert row["time_window"] == "night"  # 09:00 UTC is 03:00 in Chicago


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ('ClusterId = 1\nProcId = 0\nJobStatus = 4\nExitCode = "abc"', "ExitCode"),
        ("ClusterId = 1\nProcId = 0\nJobStatus = 4\nExitBySignal = 3", "ExitBySignal"),
        ("ClusterId = 1\nProcId = 0\nJobStatus = 42", "JobStatus"),
        ("ClusterId = 1\nJobStatus = 4", "ProcId"),
    ],
)
def test_malformed_ad_names_the_job_and_attribute(text, attribute):
    with pytest.raises(BadClassAd, match=attribute) as err:
        map_ad(classad2.parseOne(text))
    assert "job 1." in str(err.value)


# ---- a real pool's ads (condor_history -l of one cluster: completed, killed after an eviction,
# ---- held then removed, shadow exception, disconnect/reconnect, removed before it ran)

POOL_ADS = Path(__file__).parents[2] / "fixtures" / "ads" / "history_pool.ads"
UTC = timezone.utc


@pytest.fixture(scope="module")
def pool() -> dict[int, classad2.ClassAd]:
    return {int(ad["ProcId"]): ad for ad in classad2.parseAds(POOL_ADS.read_text(), classad2.ParserType.Old)}


def at(hour: int, minute: int = 0, day: int = 25) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


EXPECTED_POOL_ROWS = {
    0: {  # completed; site from MATCH_EXP_JOB_GLIDEIN_Site; input over two protocols
        "cluster_id": 5001, "state": "completed", "job_status": 4, "q_date": at(8), "job_start_date": at(9),
        "job_current_start_date": at(9), "completion_date": at(10), "entered_current_status": at(10),
        "exit_code": 0, "exit_by_signal": False, "exit_signal": None, "hold_reason": None, "hold_reason_code": None,
        "hold_reason_subcode": None, "num_holds": None, "remove_reason": None,
        "last_remote_host": "slot1_3@glidein_12345@wn-042.fnal.gov", "worker_ip": "131.225.1.42", "site": "FNAL",
        "cpu_model": "AMD EPYC 7543 32-Core Processor", "cpu_vendor": "AuthenticAMD",
        "remote_wall_clock_time": 3600.0, "remote_user_cpu": 3300.0, "remote_sys_cpu": 60.0,
        "memory_usage_mb": 1800, "resident_set_size_kb": 1843200, "disk_usage_kb": 2500000,
        "request_memory_mb": 2000, "request_disk_kb": 10000000, "num_job_starts": 1, "num_shadow_starts": 1,
        "transfer_input_size_mb": 650.0, "bytes_recvd": 681574400.0, "bytes_sent": 1048576.0,
        "files_in_count": 4, "files_in_bytes": 681574400, "files_out_count": 2, "files_out_bytes": 1048576,
        "time_window": "morning",
    },
    1: {  # evicted once, then killed by signal 9; RequestMemory is an expression; stats with totals only
        "state": "completed", "exit_code": None, "exit_by_signal": True, "exit_signal": 9, "num_job_starts": 2,
        "num_shadow_starts": 2, "site": "US_Wisconsin", "worker_ip": "128.104.100.17",
        "cpu_vendor": "GenuineIntel", "memory_usage_mb": 2048, "request_memory_mb": 3072,
        "job_start_date": at(9, 2), "job_current_start_date": at(9, 50), "files_in_count": 6,
        "files_in_bytes": 314572800, "files_out_count": None, "files_out_bytes": None,
    },
    2: {  # held for a failed input transfer, then removed: both reasons kept
        "state": "removed", "job_status": 3, "hold_reason_code": 13, "hold_reason_subcode": 2, "num_holds": 1,
        "remove_reason": "via condor_rm (by user prodops)", "site": "US_Nebraska", "worker_ip": None,
        "completion_date": None, "memory_usage_mb": None, "files_in_count": 0, "files_in_bytes": 0,
        "last_remote_host": "slot1_5@wn-220.unl.edu",
    },
    3: {  # a shadow exception, then exit 1 on a second start
        "exit_code": 1, "num_job_starts": 2, "num_shadow_starts": 3, "site": "T2_Example", "cpu_vendor": None,
        "worker_ip": "10.4.0.102", "files_in_count": 3, "files_out_count": 1, "files_out_bytes": 2048,
    },
    4: {  # disconnected, reconnected, lease expired, restarted; ran at night (UTC)
        "exit_code": 0, "num_job_starts": 2, "job_current_start_date": at(1, 5, day=26), "time_window": "night",
        "remote_wall_clock_time": 7500.0,
    },
    5: {  # removed before it ever ran: nothing about a run is guessed
        "state": "removed", "remove_reason": "via condor_rm (by user prodops)", "request_memory_mb": 2000,
        **{column: None for column in (
            "job_start_date", "job_current_start_date", "completion_date", "exit_code", "exit_by_signal",
            "exit_signal", "last_remote_host", "worker_ip", "site", "cpu_model", "cpu_vendor",
            "remote_wall_clock_time", "remote_user_cpu", "remote_sys_cpu", "memory_usage_mb",
            "resident_set_size_kb", "disk_usage_kb", "request_disk_kb", "num_job_starts", "num_shadow_starts",
            "transfer_input_size_mb", "bytes_recvd", "bytes_sent", "files_in_count", "files_in_bytes",
            "files_out_count", "files_out_bytes", "time_window", "hold_reason", "num_holds",
        )},
    },
}


@pytest.mark.parametrize("proc", sorted(EXPECTED_POOL_ROWS))
def test_pool_ads_map_every_fact(pool, proc):
    row = map_ad(pool[proc])
    assert set(row) == set(COLUMNS) and row["proc_id"] == proc
    assert {column: row[column] for column in EXPECTED_POOL_ROWS[proc]} == EXPECTED_POOL_ROWS[proc]
    stored = json.loads(row["ad"])
    assert stored["ClusterId"] == 5001 and stored["ProcId"] == proc  # the whole ad, kept beside the columns


def test_every_column_is_covered_by_the_pool_fixture(pool):
    """Each fact column is non-NULL for at least one realistic ad: nothing is mapped only in theory."""
    rows = [map_ad(ad) for ad in pool.values()]
    empty = [c for c in COLUMNS if all(r[c] is None for r in rows)]
    assert empty == []


def test_time_window_uses_the_sites_time_zone(pool):
    config = MappingConfig(site_timezones={"FNAL": "America/Chicago"})
    assert map_ad(pool[0], config)["time_window"] == "night"  # 09:00 UTC is 03:00 in Batavia
    assert map_ad(pool[4], config)["time_window"] == "evening"  # 01:05 UTC is 19:05 the day before
    assert map_ad(pool[3], config)["time_window"] == "morning"  # T2_Example has no zone configured: UTC


def test_cpu_attributes_are_configurable(pool):
    config = MappingConfig(cpu_model_attributes=("Owner",), cpu_vendor_attributes=("AccountingGroup",))
    row = map_ad(pool[0], config)
    assert (row["cpu_model"], row["cpu_vendor"]) == ("novapro", "group_nova.prod")


def test_projection_holds_every_attribute_the_mapping_reads(pool):
    config = MappingConfig(site_attributes=("MyOwnSite",), cpu_model_attributes=("MyCpu",))
    projection = job_projection(config)
    assert {"MyOwnSite", "MyCpu", "ClusterId", "ProcId", "JobStatus", "TransferInputStats"} <= set(projection)
    assert len(projection) == len(set(projection))
    for ad in pool.values():
        projected = classad2.ClassAd()
        for name in projection:
            if name in ad:
                projected[name] = ad.get(name)
        full, mapped = map_ad(ad, config), map_ad(projected, config)
        for row in (full, mapped):
            row.pop("ad"), row.pop("ad_hash")
        assert mapped == full


def test_unchanged_ad_has_the_same_fingerprint_and_a_change_changes_it(pool):
    text = ad_text(pool[0])
    again = classad2.parseOne(pool[0].printOld(), classad2.ParserType.Old)
    assert fingerprint(ad_text(again)) == fingerprint(text)
    again["RemoteUserCpu"] = 3301.0
    assert fingerprint(ad_text(again)) != fingerprint(text)


BASE = "ClusterId = 9\nProcId = 4\nJobStatus = 4\n"


@pytest.mark.parametrize(
    ("extra", "attribute"),
    [
        ("HoldReasonCode = 4294967296", "HoldReasonCode"),  # beyond an integer column
        ("NumJobStarts = 1.0e30", "NumJobStarts"),
        ("QDate = 99999999999999", "QDate"),  # not a time a job can have
        ("ExitSignal = true", "ExitSignal"),
        ("RemoteWallClockTime = \"long\"", "RemoteWallClockTime"),
        ("TransferInputStats = 7", "TransferInputStats"),
        ("TransferOutputStats = [ CedarFilesCountLastRun = -1 ]", "TransferOutputStats.CedarFilesCountLastRun"),
        ("TransferOutputStats = [ CedarSizeBytesLastRun = \"big\" ]", "TransferOutputStats.CedarSizeBytesLastRun"),
        ("ClusterId = \"nine\"", "ClusterId"),
    ],
)
def test_malformed_values_are_refused_with_job_and_attribute(extra, attribute):
    with pytest.raises(BadClassAd, match=re.escape(attribute)) as err:
        map_ad(classad2.parseOne(BASE + extra, classad2.ParserType.Old))
    assert "job 9.4" in str(err.value) or "job nine.4" in str(err.value)


def test_undefined_and_error_values_are_null():
    ad = classad2.parseOne(BASE + "ExitCode = undefined\nDiskUsage = error\nMemoryUsage = NoSuchAttr + 1",
                           classad2.ParserType.Old)
    row = map_ad(ad)
    assert (row["exit_code"], row["disk_usage_kb"], row["memory_usage_mb"]) == (None, None, None)


def test_a_stored_outcome_is_read_as_stored_and_a_mapped_row_takes_the_mirror():
    """``job_attempts.outcome`` is PostgreSQL's (010_outcome.sql); tests/integration/test_outcome.py
    holds :func:`outcome_of` to it over every combination."""
    completed = {"state": "completed", "exit_code": None, "exit_by_signal": None}
    assert outcome(completed) is Outcome.FAILED  # nothing says it succeeded
    assert outcome({**completed, "outcome": "failed"}) is Outcome.FAILED
    assert outcome({**completed, "exit_code": 0, "outcome": "succeeded"}) is Outcome.SUCCEEDED
    assert outcome({"state": "running", "outcome": "unfinished"}) is Outcome.UNFINISHED


def test_the_jobs_phase_token_is_not_stored_with_its_ad():
    """The ad's Environment carries the job's phase token; job_attempts.ad keeps the variable, not the secret."""
    ad = next(classad2.parseAds(ADS.read_text(), classad2.ParserType.Old))
    ad["Environment"] = "PRODOPS_SUBMISSION_ID=7 PRODOPS_PHASE_TOKEN=pjt_s3cr3t-value PRODOPS_API_URL='http://h:8080'"
    row = map_ad(ad)
    stored = json.loads(row["ad"])["Environment"]
    assert "pjt_s3cr3t-value" not in row["ad"]
    assert stored == "PRODOPS_SUBMISSION_ID=7 PRODOPS_PHASE_TOKEN=(not stored) PRODOPS_API_URL='http://h:8080'"
