"""Map a job ClassAd to one job-attempt record.

The columns are the facts operators ask for (why it failed, where it ran, what it used);
the whole ad is kept as JSON beside them. A missing attribute is NULL, never guessed; a
malformed one raises :class:`~prodops.exceptions.BadClassAd` naming the job and attribute.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import classad2

from prodops.constants import JobState, Outcome, TimeWindow
from prodops.exceptions import BadClassAd

SITE_ATTRIBUTES: tuple[str, ...] = ("MATCH_EXP_JOB_GLIDEIN_Site", "MachineAttrGLIDEIN_Site0", "GLIDEIN_Site")
CPU_MODEL_ATTRIBUTES: tuple[str, ...] = ("MachineAttrCPUModel0", "CPUModel")
CPU_VENDOR_ATTRIBUTES: tuple[str, ...] = ("MachineAttrCPUVendor0", "CPUVendor")

_IP = re.compile(r"<\[?([0-9a-fA-F:.]+?)\]?:\d+")

COLUMNS: tuple[str, ...] = (
    "proc_id",
    "cluster_id",
    "state",
    "job_status",
    "q_date",
    "job_start_date",
    "job_current_start_date",
    "completion_date",
    "entered_current_status",
    "exit_code",
    "exit_by_signal",
    "exit_signal",
    "hold_reason",
    "hold_reason_code",
    "hold_reason_subcode",
    "num_holds",
    "remove_reason",
    "last_remote_host",
    "worker_ip",
    "site",
    "cpu_model",
    "cpu_vendor",
    "remote_wall_clock_time",
    "remote_user_cpu",
    "remote_sys_cpu",
    "memory_usage_mb",
    "resident_set_size_kb",
    "disk_usage_kb",
    "request_memory_mb",
    "request_disk_kb",
    "num_job_starts",
    "num_shadow_starts",
    "transfer_input_size_mb",
    "bytes_recvd",
    "bytes_sent",
    "time_window",
    "ad",
    "ad_hash",
)
"""Column order of a job-attempt row (``ad`` is the whole ad as JSON text, ``ad_hash`` its digest)."""


@dataclass(frozen=True)
class MappingConfig:
    """Which attributes name the site and CPU, and each site's time zone."""

    site_attributes: Sequence[str] = SITE_ATTRIBUTES
    cpu_model_attributes: Sequence[str] = CPU_MODEL_ATTRIBUTES
    cpu_vendor_attributes: Sequence[str] = CPU_VENDOR_ATTRIBUTES
    site_timezones: dict[str, str] = field(default_factory=dict)
    default_timezone: str = "UTC"


DEFAULT_MAPPING = MappingConfig()


def _get(ad: classad2.ClassAd, name: str) -> Any:
    """The attribute's value, evaluated when it is an expression; None when absent or undefined."""
    if name not in ad:
        return None
    value = ad.get(name)
    if isinstance(value, classad2.ExprTree):
        value = ad.eval(name)
    if isinstance(value, classad2.Value):
        return None
    return value


def _typed(ad: classad2.ClassAd, name: str, kind: Callable[[Any], Any]) -> Any:
    value = _get(ad, name)
    if value is None:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise BadClassAd(f"{_job_id(ad)}: {name} = {value!r} is not a boolean; fix the ad or the producer")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadClassAd(f"{_job_id(ad)}: {name} = {value!r} is not a number; fix the ad or the producer")
    return kind(value)


def _text(ad: classad2.ClassAd, name: str) -> str | None:
    value = _get(ad, name)
    return None if value is None else str(value)


def _time(ad: classad2.ClassAd, name: str) -> datetime | None:
    seconds = _typed(ad, name, int)
    if seconds is None or seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _first(ad: classad2.ClassAd, names: Sequence[str]) -> str | None:
    for name in names:
        value = _text(ad, name)
        if value:
            return value
    return None


def _job_id(ad: classad2.ClassAd) -> str:
    return f"job {ad.get('ClusterId', '?')}.{ad.get('ProcId', '?')}"


def job_id(ad: classad2.ClassAd) -> str:
    """``cluster.proc`` of an ad, for messages."""
    return _job_id(ad)[4:]


def worker_ip(ad: classad2.ClassAd) -> str | None:
    for name in ("StartdIpAddr", "MachineAttrStartdIpAddr0", "PublicClaimId"):
        value = _text(ad, name)
        if value and (match := _IP.search(value)):
            return match[1]
    return None


def time_window(start: datetime | None, site: str | None, config: MappingConfig) -> str | None:
    if start is None:
        return None
    zone = ZoneInfo(config.site_timezones.get(site or "", config.default_timezone))
    return TimeWindow.of_hour(start.astimezone(zone).hour).value


def ad_to_json(ad: classad2.ClassAd) -> str:
    return json.dumps(json.loads(ad.printJson()), separators=(",", ":"), sort_keys=True)


def map_ad(ad: classad2.ClassAd, config: MappingConfig = DEFAULT_MAPPING) -> dict[str, Any]:
    """One job-attempt row (keys = :data:`COLUMNS`) from a job ad."""
    cluster_id = _typed(ad, "ClusterId", int)
    proc_id = _typed(ad, "ProcId", int)
    job_status = _typed(ad, "JobStatus", int)
    if cluster_id is None or proc_id is None or job_status is None:
        raise BadClassAd(
            f"{_job_id(ad)}: a job ad needs ClusterId, ProcId and JobStatus; query them in the projection"
        )
    try:
        state = JobState.from_job_status(job_status)
    except ValueError as err:
        raise BadClassAd(f"{_job_id(ad)}: {err}") from None
    site = _first(ad, config.site_attributes)
    started = _time(ad, "JobCurrentStartDate") or _time(ad, "JobStartDate")
    ad_json = ad_to_json(ad)
    return {
        "proc_id": proc_id,
        "cluster_id": cluster_id,
        "state": state.value,
        "job_status": job_status,
        "q_date": _time(ad, "QDate"),
        "job_start_date": _time(ad, "JobStartDate"),
        "job_current_start_date": _time(ad, "JobCurrentStartDate"),
        "completion_date": _time(ad, "CompletionDate"),
        "entered_current_status": _time(ad, "EnteredCurrentStatus"),
        "exit_code": _typed(ad, "ExitCode", int),
        "exit_by_signal": _typed(ad, "ExitBySignal", bool),
        "exit_signal": _typed(ad, "ExitSignal", int),
        "hold_reason": _text(ad, "HoldReason"),
        "hold_reason_code": _typed(ad, "HoldReasonCode", int),
        "hold_reason_subcode": _typed(ad, "HoldReasonSubCode", int),
        "num_holds": _typed(ad, "NumHolds", int),
        "remove_reason": _text(ad, "RemoveReason"),
        "last_remote_host": _text(ad, "LastRemoteHost") or _text(ad, "RemoteHost"),
        "worker_ip": worker_ip(ad),
        "site": site,
        "cpu_model": _first(ad, config.cpu_model_attributes),
        "cpu_vendor": _first(ad, config.cpu_vendor_attributes),
        "remote_wall_clock_time": _typed(ad, "RemoteWallClockTime", float),
        "remote_user_cpu": _typed(ad, "RemoteUserCpu", float),
        "remote_sys_cpu": _typed(ad, "RemoteSysCpu", float),
        "memory_usage_mb": _typed(ad, "MemoryUsage", int),
        "resident_set_size_kb": _typed(ad, "ResidentSetSize", int),
        "disk_usage_kb": _typed(ad, "DiskUsage", int),
        "request_memory_mb": _typed(ad, "RequestMemory", int),
        "request_disk_kb": _typed(ad, "RequestDisk", int),
        "num_job_starts": _typed(ad, "NumJobStarts", int),
        "num_shadow_starts": _typed(ad, "NumShadowStarts", int),
        "transfer_input_size_mb": _typed(ad, "TransferInputSizeMB", float),
        "bytes_recvd": _typed(ad, "BytesRecvd", float),
        "bytes_sent": _typed(ad, "BytesSent", float),
        "time_window": time_window(started, site, config),
        "ad": ad_json,
        "ad_hash": hashlib.md5(ad_json.encode(), usedforsecurity=False).hexdigest(),
    }


def outcome(row: dict[str, Any]) -> Outcome:
    """How an attempt ended, from its mapped row."""
    state = JobState(row["state"])
    if state is JobState.HELD:
        return Outcome.HELD
    if state is JobState.REMOVED:
        return Outcome.REMOVED
    if state is not JobState.COMPLETED:
        return Outcome.UNFINISHED
    if row.get("exit_by_signal"):
        return Outcome.KILLED
    return Outcome.SUCCEEDED if row.get("exit_code") == 0 else Outcome.FAILED
