"""What each event does to a job ad in the local pool, as a schedd would write it.

Pure functions of an ad and the event's values (no processes, no files, no clock): the runner
logs each event first and then applies its transition here, and so does its recovery after a
crash, from the events the log kept. Times are seconds since the epoch.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import classad2
from htcondor2 import JobStatus

from prodops.batch.eventlog import Usage, parse_rusage
from prodops.batch.jobads import Machine, one_line


@dataclass(frozen=True)
class Run:
    """One run of a job as its end accounts it: when it started and the CPU it used."""

    started: float
    cpu: Usage


def set_status(ad: classad2.ClassAd, status: JobStatus, now: float) -> None:
    ad["LastJobStatus"] = int(ad["JobStatus"])
    ad["JobStatus"] = int(status)
    ad["EnteredCurrentStatus"] = int(now)


def start(ad: classad2.ClassAd, slot_name: str, machine: Machine, now: float) -> None:
    """Matched and executing in ``slot_name`` of ``machine`` (the attributes a startd's match adds)."""
    set_status(ad, JobStatus.RUNNING, now)
    for name in ("JobCurrentStartDate", "JobCurrentStartExecutingDate", "LastMatchTime"):
        ad[name] = int(now)
    if "JobStartDate" not in ad:
        ad["JobStartDate"] = int(now)
    for name in ("NumJobStarts", "NumShadowStarts", "JobRunCount"):
        ad[name] = int(ad.get(name) or 0) + 1
    ad["RemoteHost"] = slot_name
    ad["StartdIpAddr"] = machine.address
    ad["MachineAttrCPUModel0"] = machine.cpu_model
    if machine.cpu_vendor:
        ad["MachineAttrCPUVendor0"] = machine.cpu_vendor
    ad["MATCH_EXP_JOB_GLIDEIN_Site"] = machine.site
    ad["MachineAttrGLIDEIN_Site0"] = machine.site
    ad["GLIDEIN_Site"] = machine.site


def end_run(ad: classad2.ClassAd, now: float, run: Run | None) -> None:
    """Account a run in the ad (wall and CPU add up over runs) and free its slot.

    Without the run's record (recovery after a crash) a job the ad still shows running is
    charged the wall time from its start to ``now``.
    """
    started = ad.get("JobCurrentStartDate")
    if run is not None:
        wall = max(0.0, now - run.started)
        ad["RemoteWallClockTime"] = float(ad.get("RemoteWallClockTime") or 0.0) + wall
        ad["CumulativeSlotTime"] = float(ad.get("CumulativeSlotTime") or 0.0) + wall
        ad["RemoteUserCpu"] = float(ad.get("RemoteUserCpu") or 0.0) + run.cpu.user_s
        ad["RemoteSysCpu"] = float(ad.get("RemoteSysCpu") or 0.0) + run.cpu.sys_s
        ad["LastRemoteWallClockTime"] = wall
    elif isinstance(started, int) and int(ad["JobStatus"]) == JobStatus.RUNNING:
        ad["RemoteWallClockTime"] = float(ad.get("RemoteWallClockTime") or 0.0) + max(0.0, now - started)
    if "RemoteHost" in ad:
        ad["LastRemoteHost"] = ad["RemoteHost"]
        del ad["RemoteHost"]


def hold(ad: classad2.ClassAd, reason: str, code: int, subcode: int, now: float) -> None:
    ad["HoldReason"] = one_line(reason)
    ad["HoldReasonCode"] = int(code)
    ad["HoldReasonSubCode"] = int(subcode)
    ad["NumHolds"] = int(ad.get("NumHolds") or 0) + 1
    set_status(ad, JobStatus.HELD, now)


def release(ad: classad2.ClassAd, reason: str, now: float) -> None:
    for name in ("HoldReason", "HoldReasonCode", "HoldReasonSubCode"):
        if name in ad:
            ad[f"Last{name}"] = ad[name]
            del ad[name]
    ad["ReleaseReason"] = one_line(reason)
    set_status(ad, JobStatus.IDLE, now)


def remove(ad: classad2.ClassAd, reason: str, now: float) -> None:
    ad["RemoveReason"] = one_line(reason)
    set_status(ad, JobStatus.REMOVED, now)


def complete(ad: classad2.ClassAd, code: int | None, signum: int | None, now: float) -> None:
    """Exited with ``code``, or killed by ``signum``."""
    ad["ExitBySignal"] = signum is not None
    if signum is None:
        ad["ExitCode"] = int(code or 0)
        ad["ExitStatus"] = int(code or 0)
    else:
        ad["ExitSignal"] = int(signum)
        ad["ExitStatus"] = int(signum)
    ad["CompletionDate"] = int(now)
    set_status(ad, JobStatus.COMPLETED, now)


class Recovery(enum.Enum):
    """What a restarted runner does to a job, from its ad and the last event the log kept for it."""

    NOTHING = "nothing"
    COMPLETE = "complete"
    """Its termination was logged, the ads did not show it: finish it from the event."""
    REMOVE = "remove"
    HOLD = "hold"
    EVICT = "evict"
    """It was executing under the runner that died: log an eviction, requeue it."""
    REQUEUE = "requeue"
    """The ad shows it running but the log shows no run: requeue it."""


def recovery(ad: classad2.ClassAd, last_event: Mapping[str, Any]) -> Recovery:
    kind = last_event.get("type")
    status = int(ad["JobStatus"])
    if kind == "JOB_TERMINATED" and status != JobStatus.COMPLETED:
        return Recovery.COMPLETE
    if kind == "JOB_ABORTED" and status != JobStatus.REMOVED:
        return Recovery.REMOVE
    if kind == "JOB_HELD" and status != JobStatus.HELD:
        return Recovery.HOLD
    if kind == "EXECUTE":
        return Recovery.EVICT
    if status == JobStatus.RUNNING:
        return Recovery.REQUEUE
    return Recovery.NOTHING


def recover(ad: classad2.ClassAd, what: Recovery, last_event: Mapping[str, Any], now: float) -> None:
    """Apply :func:`recovery`'s decision (the runner logs the eviction first)."""
    if what is Recovery.COMPLETE:
        when = float(last_event.get("time") or now)
        try:
            cpu = parse_rusage(str(last_event.get("RunRemoteUsage", "")))
        except Exception:  # noqa: BLE001 - a garbled usage line counts as none
            cpu = Usage()
        ad["RemoteUserCpu"] = float(ad.get("RemoteUserCpu") or 0.0) + cpu.user_s
        ad["RemoteSysCpu"] = float(ad.get("RemoteSysCpu") or 0.0) + cpu.sys_s
        end_run(ad, when, None)
        if last_event.get("TerminatedNormally"):
            complete(ad, int(last_event.get("ReturnValue", 0)), None, when)
        else:
            complete(ad, None, int(last_event.get("TerminatedBySignal", 0)), when)
    elif what is Recovery.REMOVE:
        end_run(ad, last_event["time"], None)
        remove(ad, last_event.get("Reason", ""), last_event["time"])
    elif what is Recovery.HOLD:
        end_run(ad, last_event["time"], None)
        hold(ad, last_event.get("HoldReason", ""), last_event.get("HoldReasonCode", 0),
             last_event.get("HoldReasonSubCode", 0), last_event["time"])
    elif what in (Recovery.EVICT, Recovery.REQUEUE):
        end_run(ad, now, None)
        set_status(ad, JobStatus.IDLE, now)
