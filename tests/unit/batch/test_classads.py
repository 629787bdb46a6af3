"""Mapping job ClassAds (parsed by the real classad2 bindings) to job-attempt rows."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import classad2
import pytest

from prodops.batch.classads import COLUMNS, MappingConfig, map_ad, outcome
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
