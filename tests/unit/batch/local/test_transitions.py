"""What each event does to a job ad, checked on ads alone: no process, no file, no clock."""

from __future__ import annotations

import classad2
import pytest
from htcondor2 import JobStatus

from prodops.batch.eventlog import Usage
from prodops.batch.jobads import Machine
from prodops.batch.local import transitions as t

MACHINE = Machine(hostname="wn1.example.org", ip="10.1.2.3", cpu_model="AMD EPYC 7763", site="US_Wisconsin",
                  cpu_vendor="AuthenticAMD")


def idle_ad() -> classad2.ClassAd:
    ad = classad2.ClassAd()
    ad["ClusterId"], ad["ProcId"] = 7, 3
    ad["JobStatus"] = int(JobStatus.IDLE)
    ad["LastJobStatus"] = 0
    return ad


def running_ad(started: int = 1000) -> classad2.ClassAd:
    ad = idle_ad()
    t.start(ad, "slot1_2@wn1.example.org", MACHINE, started)
    return ad


def test_a_start_sets_what_a_match_adds_and_counts_the_start():
    ad = running_ad(1000)
    assert (ad["JobStatus"], ad["LastJobStatus"], ad["EnteredCurrentStatus"]) == (2, 1, 1000)
    assert ad["JobStartDate"] == ad["JobCurrentStartDate"] == 1000 and ad["NumJobStarts"] == 1
    assert ad["RemoteHost"] == "slot1_2@wn1.example.org" and ad["StartdIpAddr"] == MACHINE.address
    assert (ad["MachineAttrCPUModel0"], ad["MachineAttrCPUVendor0"], ad["GLIDEIN_Site"]) == (
        "AMD EPYC 7763", "AuthenticAMD", "US_Wisconsin")
    t.end_run(ad, 1010, t.Run(1000, Usage(1, 1)))
    t.set_status(ad, JobStatus.IDLE, 1010)
    t.start(ad, "slot1_1@wn1.example.org", MACHINE, 2000)
    assert ad["JobStartDate"] == 1000 and ad["JobCurrentStartDate"] == 2000 and ad["NumJobStarts"] == 2


def test_runs_add_up_wall_and_cpu_and_free_the_slot():
    ad = running_ad(1000)
    t.end_run(ad, 1100, t.Run(1000, Usage(60.0, 5.0)))
    assert (ad["RemoteWallClockTime"], ad["LastRemoteWallClockTime"]) == (100.0, 100.0)
    assert (ad["RemoteUserCpu"], ad["RemoteSysCpu"]) == (60.0, 5.0)
    assert "RemoteHost" not in ad and ad["LastRemoteHost"] == "slot1_2@wn1.example.org"
    t.set_status(ad, JobStatus.IDLE, 1100)
    t.start(ad, "slot1_1@wn1.example.org", MACHINE, 1200)
    t.end_run(ad, 1250, t.Run(1200, Usage(30.0, 1.0)))
    assert (ad["RemoteWallClockTime"], ad["CumulativeSlotTime"], ad["RemoteUserCpu"]) == (150.0, 150.0, 90.0)


def test_a_run_with_no_record_is_charged_from_its_start_only_while_the_ad_shows_it_running():
    ad = running_ad(1000)
    t.end_run(ad, 1030, None)
    assert ad["RemoteWallClockTime"] == 30.0
    idle = idle_ad()
    t.end_run(idle, 1030, None)
    assert "RemoteWallClockTime" not in idle


def test_hold_and_release_keep_the_last_hold_and_count_holds():
    ad = idle_ad()
    t.hold(ad, "over memory\nPeak usage: 3000 megabytes.", 34, 102, 1000)
    assert (ad["JobStatus"], ad["HoldReasonCode"], ad["HoldReasonSubCode"], ad["NumHolds"]) == (5, 34, 102, 1)
    assert "\n" not in ad["HoldReason"]
    t.release(ad, "via condor_release", 1100)
    assert ad["JobStatus"] == 1 and ad["LastJobStatus"] == 5 and "HoldReasonCode" not in ad
    assert (ad["LastHoldReasonCode"], ad["LastHoldReasonSubCode"], ad["ReleaseReason"]) == (34, 102, "via condor_release")
    t.hold(ad, "via condor_hold", 1, 0, 1200)
    assert ad["NumHolds"] == 2


@pytest.mark.parametrize(("code", "signum", "expected"), [
    (3, None, {"ExitBySignal": False, "ExitCode": 3, "ExitStatus": 3}),
    (None, 9, {"ExitBySignal": True, "ExitSignal": 9, "ExitStatus": 9}),
])
def test_completion_records_the_exit_code_or_the_signal(code, signum, expected):
    ad = running_ad()
    t.complete(ad, code, signum, 1500)
    assert {k: ad[k] for k in expected} == expected
    assert (ad["JobStatus"], ad["CompletionDate"]) == (4, 1500)
    assert ("ExitCode" in ad) is (signum is None)


def test_removal_records_the_reason():
    ad = idle_ad()
    t.remove(ad, "via condor_rm", 1000)
    assert (ad["JobStatus"], ad["RemoveReason"]) == (3, "via condor_rm")


@pytest.mark.parametrize(("status", "event", "what"), [
    (JobStatus.RUNNING, {"type": "JOB_TERMINATED"}, t.Recovery.COMPLETE),
    (JobStatus.COMPLETED, {"type": "JOB_TERMINATED"}, t.Recovery.NOTHING),
    (JobStatus.IDLE, {"type": "JOB_ABORTED"}, t.Recovery.REMOVE),
    (JobStatus.REMOVED, {"type": "JOB_ABORTED"}, t.Recovery.NOTHING),
    (JobStatus.RUNNING, {"type": "JOB_HELD"}, t.Recovery.HOLD),
    (JobStatus.HELD, {"type": "JOB_HELD"}, t.Recovery.NOTHING),
    (JobStatus.RUNNING, {"type": "EXECUTE"}, t.Recovery.EVICT),
    (JobStatus.RUNNING, {}, t.Recovery.REQUEUE),
    (JobStatus.IDLE, {}, t.Recovery.NOTHING),
])
def test_a_restarted_runner_decides_from_the_ad_and_the_last_logged_event(status, event, what):
    ad = idle_ad()
    ad["JobStatus"] = int(status)
    assert t.recovery(ad, event) is what


def test_recovery_finishes_a_job_from_its_logged_termination():
    ad = running_ad(1000)
    event = {"type": "JOB_TERMINATED", "time": 1090.0, "TerminatedNormally": True, "ReturnValue": 2,
             "RunRemoteUsage": "Usr 0 00:00:40, Sys 0 00:00:02"}
    t.recover(ad, t.recovery(ad, event), event, now=5000)
    assert (ad["JobStatus"], ad["ExitCode"], ad["CompletionDate"]) == (4, 2, 1090)
    assert (ad["RemoteUserCpu"], ad["RemoteSysCpu"], ad["RemoteWallClockTime"]) == (40.0, 2.0, 90.0)

    killed = running_ad(1000)
    event = {"type": "JOB_TERMINATED", "time": 1010.0, "TerminatedBySignal": 9, "RunRemoteUsage": "garbled"}
    t.recover(killed, t.recovery(killed, event), event, now=5000)
    assert (killed["ExitBySignal"], killed["ExitSignal"], killed["RemoteUserCpu"]) == (True, 9, 0.0)


def test_recovery_requeues_an_evicted_job_and_replays_a_logged_hold():
    ad = running_ad(1000)
    t.recover(ad, t.Recovery.EVICT, {"type": "EXECUTE"}, now=1060)
    assert (ad["JobStatus"], ad["RemoteWallClockTime"]) == (1, 60.0) and "RemoteHost" not in ad
    held = running_ad(1000)
    event = {"type": "JOB_HELD", "time": 1020.0, "HoldReason": "over memory", "HoldReasonCode": 34,
             "HoldReasonSubCode": 102}
    t.recover(held, t.recovery(held, event), event, now=5000)
    assert (held["JobStatus"], held["HoldReasonCode"], held["EnteredCurrentStatus"]) == (5, 34, 1020)
