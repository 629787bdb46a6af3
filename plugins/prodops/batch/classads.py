"""Map a job ClassAd to one job-attempt record, and the projection that feeds the mapping.

The columns are the facts operators ask for (why it failed, where it ran, what it used);
the whole ad is kept as JSON beside them. A missing attribute is NULL, never guessed (a
truncated ad without ``RemoteWallClockTime`` has no wall time, not 0); a malformed one
raises :class:`~prodops.exceptions.BadClassAd` naming the job and attribute, and the file
and line when the ad was read from a file (:func:`ad_source`).

Real ads lose facts as a job moves on, so some columns read a chain of attributes, first
present wins: the worker's IP from the running claim's address, then the finished job's
``LastPublicClaimId`` and ``StartdPrincipal``; the site from CMS, OSG and startd names
(:data:`SITE_ATTRIBUTES`); file counts from the transfer statistics, then from the
``TransferInput`` / ``SpooledOutputFiles`` / ``TransferOutput`` lists; the hold columns
from ``HoldReason*``, then, for a job no longer held, from ``LastHoldReason*``.

Speed matters here (a 20,000-job submission is mapped in every tracking cycle), so each ad
crosses from the bindings to Python once: ``ClassAd.printJson()`` gives the whole ad as
text, which is both the stored JSON and, decoded, the dict the mapping reads; only
attributes that are expressions (``MemoryUsage`` usually is) go back to the ad for
evaluation. :func:`fingerprint` of that same text is what tracking diffs on, so an
unchanged ad is recognised without mapping it at all.

:func:`job_projection` lists every attribute :func:`map_ad` reads, built from the same
tables the mapping uses, so a schedd query with that projection can never starve it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import classad2
import msgspec

from prodops.constants import PHASE_TOKEN_VARIABLE, JobState, Outcome, TimeWindow
from prodops.exceptions import BadClassAd

SITE_ATTRIBUTES: tuple[str, ...] = (
    "MATCH_EXP_JOB_CMSSite",  # CMS WMAgent: JOB_CMSSite = "$$(GLIDEIN_CMSSite:Unknown)", expanded at match
    "MATCH_EXP_JOBGLIDEIN_CMSSite",  # CMS CRAB: JOBGLIDEIN_CMSSite, expanded at match
    "MATCH_EXP_JOB_GLIDEIN_Site",  # OSG: JOB_GLIDEIN_Site = "$$(GLIDEIN_Site:Unknown)"
    "MATCH_EXP_JOB_Site",
    "MATCH_GLIDEIN_Site",  # $$(GLIDEIN_Site) used in the submit file
    "MachineAttrGLIDEIN_CMSSite0",  # the startd's own, copied at match (SYSTEM_JOB_MACHINE_ATTRS)
    "MachineAttrGLIDEIN_Site0",
    "GLIDEIN_CMSSite",
    "GLIDEIN_Site",
    "JOB_Site",
)
"""Attributes that name the site a job ran at, most specific first (:class:`MappingConfig` overrides).

A value that is an unexpanded ``$$(...)`` template (the job was never matched) or the
``Unknown`` default of one is no site: the chain goes on to the next attribute."""
CPU_MODEL_ATTRIBUTES: tuple[str, ...] = ("MachineAttrCPUModel0", "CPUModel")
CPU_VENDOR_ATTRIBUTES: tuple[str, ...] = ("MachineAttrCPUVendor0", "CPUVendor")
HOST_ATTRIBUTES: tuple[str, ...] = ("LastRemoteHost", "RemoteHost")
IP_ATTRIBUTES: tuple[str, ...] = (
    "StartdIpAddr", "MachineAttrStartdIpAddr0", "PublicClaimId",  # while the job runs (or ran once)
    "LastPublicClaimId",  # after the run: "<ip:port?...>#startd-time#n#..."
    "StartdPrincipal",  # "execute-side@matchsession/<ip>": the startd's address as the schedd saw it
)
"""Attributes that hold the worker's address, first present wins."""
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("ClusterId", "ProcId", "JobStatus")
INPUT_STATS, OUTPUT_STATS = "TransferInputStats", "TransferOutputStats"
INPUT_LISTS: tuple[str, ...] = ("TransferInput",)
OUTPUT_LISTS: tuple[str, ...] = ("SpooledOutputFiles", "TransferOutput")
"""Comma-separated file lists counted when the transfer statistics are absent (bytes stay NULL)."""
HOLD_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("hold_reason", "HoldReason", "LastHoldReason"),
    ("hold_reason_code", "HoldReasonCode", "LastHoldReasonCode"),
    ("hold_reason_subcode", "HoldReasonSubCode", "LastHoldReasonSubCode"),
)
"""(column, the current hold's attribute, the last hold's): a job that is no longer held
(released, then completed or removed) keeps its last hold only in ``LastHold*``; those fill
the hold columns when the job has no current hold."""

RECORD_ATTRIBUTES: tuple[str, ...] = (
    "GlobalJobId", "Owner", "JobBatchName", "ProdopsRequest", "ProdopsStage", "ProdopsAttempt",
    "ProdopsSubmission", "Cmd", "Args", "Arguments", "Iwd", "Out", "Err", "UserLog", "LastJobStatus",
    "ExitStatus", "LastHoldReason", "LastHoldReasonCode", "LastHoldReasonSubCode", "ReleaseReason",
    "NumShadowExceptions", "LastVacateTime", "VacateReason", "VacateReasonCode", "VacateReasonSubCode",
    "LastJobLeaseRenewal", "JobRunCount", "JobCurrentStartExecutingDate", "LastMatchTime",
    "CumulativeSlotTime", "LastRemoteWallClockTime", "RequestCpus", "ImageSize", "AllowedExecuteDuration",
    "TransferInputFiles", "TransferOutputFiles", "CommittedTime",
)
"""Attributes not mapped to a column but kept in the stored ad, for triage, debug reruns and the
accounting (``CommittedTime``: eviction badput, include/sql/queries/accounting.sql)."""

_IP = re.compile(r"<\[?([0-9a-fA-F:.]+?)\]?:\d+")
_PRINCIPAL_IP = re.compile(r"@matchsession/\[?([0-9a-fA-F:.]+?)\]?$")
_NO_SITE = ("unknown", "undefined")
_HELD = 5  # JobStatus of a held job
_LAST_HOLD = tuple(last for _, _, last in HOLD_ATTRIBUTES)
_EXPR_PREFIX = "/Expr("
_INT4 = (-(2**31), 2**31 - 1)
_INT8 = (-(2**63), 2**63 - 1)
_MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z

_FIELDS: tuple[tuple[str, str, str], ...] = (
    # (column, attribute, kind): kind int4/int8 = integer in that column's range, float, bool, text, time
    ("job_status", "JobStatus", "int4"),
    ("q_date", "QDate", "time"),
    ("job_start_date", "JobStartDate", "time"),
    ("job_current_start_date", "JobCurrentStartDate", "time"),
    ("completion_date", "CompletionDate", "time"),
    ("entered_current_status", "EnteredCurrentStatus", "time"),
    ("exit_code", "ExitCode", "int4"),
    ("exit_by_signal", "ExitBySignal", "bool"),
    ("exit_signal", "ExitSignal", "int4"),
    ("hold_reason", "HoldReason", "text"),
    ("hold_reason_code", "HoldReasonCode", "int4"),
    ("hold_reason_subcode", "HoldReasonSubCode", "int4"),
    ("num_holds", "NumHolds", "int4"),
    ("remove_reason", "RemoveReason", "text"),
    ("remote_wall_clock_time", "RemoteWallClockTime", "float"),
    ("remote_user_cpu", "RemoteUserCpu", "float"),
    ("remote_sys_cpu", "RemoteSysCpu", "float"),
    ("memory_usage_mb", "MemoryUsage", "int8"),
    ("resident_set_size_kb", "ResidentSetSize", "int8"),
    ("disk_usage_kb", "DiskUsage", "int8"),
    ("request_memory_mb", "RequestMemory", "int8"),
    ("request_disk_kb", "RequestDisk", "int8"),
    ("num_job_starts", "NumJobStarts", "int4"),
    ("num_shadow_starts", "NumShadowStarts", "int4"),
    ("transfer_input_size_mb", "TransferInputSizeMB", "float"),
    ("bytes_recvd", "BytesRecvd", "float"),
    ("bytes_sent", "BytesSent", "float"),
)

_INT_FIELDS = (
    tuple((c, a) for c, a, k in _FIELDS if k == "int4"),
    tuple((c, a) for c, a, k in _FIELDS if k == "int8"),
)
_FLOAT_FIELDS = tuple((c, a) for c, a, k in _FIELDS if k == "float")
_TIME_FIELDS = tuple((c, a) for c, a, k in _FIELDS if k == "time")
_TEXT_FIELDS = tuple((c, a) for c, a, k in _FIELDS if k == "text")
_BOOL_FIELDS = tuple((c, a) for c, a, k in _FIELDS if k == "bool")

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
    # 003_job_record.sql appends these (after updated_at) in this order
    "files_in_count",
    "files_in_bytes",
    "files_out_count",
    "files_out_bytes",
)
"""Column order of a job-attempt row as COPY writes it (``ad`` is the ad's JSON text, ``ad_hash`` its digest)."""


@dataclass(frozen=True)
class MappingConfig:
    """Which attributes name the site and CPU, and each site's time zone."""

    site_attributes: Sequence[str] = SITE_ATTRIBUTES
    cpu_model_attributes: Sequence[str] = CPU_MODEL_ATTRIBUTES
    cpu_vendor_attributes: Sequence[str] = CPU_VENDOR_ATTRIBUTES
    site_timezones: dict[str, str] = field(default_factory=dict)
    default_timezone: str = "UTC"


DEFAULT_MAPPING = MappingConfig()


def job_projection(config: MappingConfig = DEFAULT_MAPPING) -> list[str]:
    """Every attribute :func:`map_ad` reads with ``config``, plus :data:`RECORD_ATTRIBUTES`.

    Pass it as the projection of ``Schedd.query`` / ``Schedd.history``: the schedd then sends
    only what prodops keeps, and the mapping never misses an attribute it needs.
    """
    names: list[str] = [
        *IDENTITY_ATTRIBUTES,
        *(attribute for _, attribute, _ in _FIELDS),
        *HOST_ATTRIBUTES,
        *IP_ATTRIBUTES,
        *config.site_attributes,
        *config.cpu_model_attributes,
        *config.cpu_vendor_attributes,
        INPUT_STATS,
        OUTPUT_STATS,
        *INPUT_LISTS,
        *OUTPUT_LISTS,
        *(attribute for _, _, attribute in HOLD_ATTRIBUTES),
        *RECORD_ATTRIBUTES,
    ]
    return list(dict.fromkeys(names))


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


SOURCE_ATTRIBUTE = "_prodops_source"


@dataclass(frozen=True)
class AdSource:
    """Where an ad was read from: the file, and the line its first attribute is on (from 1)."""

    path: str
    line: int


def ad_source(ad: classad2.ClassAd) -> AdSource | None:
    """The file and line an ad was read from (:func:`prodops.batch.jobads.read_ads` records it); None: a schedd's."""
    return getattr(ad, SOURCE_ATTRIBUTE, None)


def set_ad_source(ad: classad2.ClassAd, source: AdSource) -> None:
    setattr(ad, SOURCE_ATTRIBUTE, source)


_ATTRIBUTE_LINE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=")


def located(err: BadClassAd, source: AdSource) -> BadClassAd:
    """``err`` with the file and the line of its attribute in the ad's text (the ad's first line if absent)."""
    line = source.line
    wanted = (err.attribute or "").split(".")[0].lower()
    try:
        with open(source.path, encoding="utf-8", errors="replace") as f:
            for number, text in enumerate(f, start=1):
                if number < source.line:
                    continue
                if not text.strip():
                    break
                match = _ATTRIBUTE_LINE.match(text)
                if wanted and match is not None and match[1].lower() == wanted:
                    line = number
                    break
    except OSError:
        pass  # the file went away since: its first line is still the best place to name
    return BadClassAd(err.reason, path=source.path, line=line, attribute=err.attribute, job=err.job)


def ad_text(ad: classad2.ClassAd) -> str:
    """The whole ad as JSON text (expressions as ``"/Expr(...)/"`` strings), as stored."""
    text: str = ad.printJson()
    return text


def fingerprint(text: str) -> str:
    """Digest of an ad's JSON text: equal digests, equal ads (``printJson`` orders attributes stably)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def ad_to_json(ad: classad2.ClassAd) -> str:
    return ad_text(ad)


def job_id(ad: classad2.ClassAd) -> str:
    """``cluster.proc`` of an ad, for messages."""
    return f"{ad.get('ClusterId', '?')}.{ad.get('ProcId', '?')}"


class _Reader:
    """Typed reads from one decoded ad; expressions are evaluated in the ad itself."""

    __slots__ = ("ad", "values")

    def __init__(self, ad: classad2.ClassAd, values: dict[str, Any]) -> None:
        self.ad = ad
        self.values = values

    @property
    def where(self) -> str:
        return f"job {self.values.get('ClusterId', '?')}.{self.values.get('ProcId', '?')}"

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith(_EXPR_PREFIX):
            value = self.ad.eval(name)
            if isinstance(value, (classad2.Value, classad2.ExprTree)):
                return None
        return value

    def bad(self, name: str, value: Any, what: str) -> BadClassAd:
        return BadClassAd(f"{self.where}: {name} = {value!r} is not {what}; fix the ad or the producer",
                          attribute=name, job=self.where.removeprefix("job "))

    def read(self, name: str, kind: str) -> Any:
        value = self.get(name)
        if value is None:
            return None
        if kind == "text":
            return value if value.__class__ is str else str(value)
        if kind == "bool":
            if value.__class__ is bool:
                return value
            raise self.bad(name, value, "a boolean")
        if value.__class__ is bool or not isinstance(value, (int, float)):
            raise self.bad(name, value, "a number")
        if kind == "float":
            return float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise self.bad(name, value, "a finite number")
        number = int(value)
        if kind == "time":
            if number > _MAX_TIME:
                raise self.bad(name, value, "a Unix time before the year 10000")
            return _timestamp(number) if number > 0 else None
        low, high = _INT4 if kind == "int4" else _INT8
        if not low <= number <= high:
            raise self.bad(name, value, f"an integer between {low} and {high}")
        return number

    def first(self, names: Sequence[str]) -> str | None:
        for name in names:
            value = self.get(name)
            if value is not None and value != "":
                return value if value.__class__ is str else str(value)
        return None

    def site(self, names: Sequence[str]) -> str | None:
        """:meth:`first`, skipping unexpanded ``$$(...)`` templates and their ``Unknown`` default."""
        for name in names:
            value = self.get(name)
            if value is None or value == "":
                continue
            text = value if value.__class__ is str else str(value)
            if text.startswith("$$(") or text.strip().lower() in _NO_SITE:
                continue
            return text
        return None

    def listed(self, names: Sequence[str]) -> int | None:
        """How many files the first non-empty comma-separated list of ``names`` holds (None: no list)."""
        for name in names:
            value = self.get(name)
            if value is None:
                continue
            if value.__class__ is not str:
                raise self.bad(name, value, "a comma-separated list of files")
            files = [item for item in value.split(",") if item.strip()]
            if files:
                return len(files)
        return None

    def transfer(self, name: str) -> tuple[int | None, int | None]:
        """(files, bytes) of the last run from a ``Transfer{Input,Output}Stats`` nested ad.

        HTCondor keeps one ``<Protocol>FilesCountLastRun`` / ``<Protocol>SizeBytesLastRun``
        pair per protocol (Cedar, Http, Osdf, ...) and ``...Total`` over all runs; the last
        run's are the files behind this attempt's result. Absent: (None, None).
        """
        stats = self.get(name)
        if isinstance(stats, classad2.ClassAd):  # an expression that evaluated to a nested ad
            stats = _decode(stats.printJson())
        if stats is None:
            return None, None
        if not isinstance(stats, dict):
            raise self.bad(name, stats, "a nested ClassAd of transfer statistics")
        files = size = None
        for key, value in stats.items():
            if key.endswith("FilesCountLastRun"):
                files = (files or 0) + self._count(name, key, value)
            elif key.endswith("SizeBytesLastRun"):
                size = (size or 0) + self._count(name, key, value)
        if files is None and size is None:
            for key, value in stats.items():
                if key.endswith("FilesCountTotal"):
                    files = (files or 0) + self._count(name, key, value)
                elif key.endswith("SizeBytesTotal"):
                    size = (size or 0) + self._count(name, key, value)
        return files, size

    def _count(self, name: str, key: str, value: Any) -> int:
        if value.__class__ is bool or not isinstance(value, (int, float)) or value < 0 or value > _INT8[1]:
            raise self.bad(f"{name}.{key}", value, "a non-negative count")
        return int(value)


@lru_cache(maxsize=65536)
def _timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def worker_ip(reader: _Reader) -> str | None:
    """The worker's IP from the first attribute of :data:`IP_ATTRIBUTES` that holds one."""
    for name in IP_ATTRIBUTES:
        value = reader.get(name)
        if value.__class__ is not str:
            continue
        ip = _principal_ip(value) if name == "StartdPrincipal" else _ip_in(value)
        if ip is not None:
            return ip
    return None


@lru_cache(maxsize=8192)
def _principal_ip(principal: str) -> str | None:
    """The IP of a match-session principal (``execute-side@matchsession/128.105.68.214``)."""
    match = _PRINCIPAL_IP.search(principal)
    if match is None:
        return None
    try:
        return str(ipaddress.ip_address(match[1]))
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _ip_in(address: str) -> str | None:
    """The IP in a sinful string; cached, as a slot's address comes back in job after job."""
    match = _IP.search(address)
    return match[1] if match else None


def _first(values: dict[str, Any], names: Sequence[str], reader: _Reader) -> str | None:
    """:meth:`_Reader.first` without the reader while every value on the way is plain."""
    for name in names:
        value = values.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, str) and not value.startswith(_EXPR_PREFIX):
            return value
        return reader.first(names)
    return None


def _present(values: dict[str, Any], names: Sequence[str]) -> bool:
    for name in names:
        if name in values:
            return True
    return False


def _site(values: dict[str, Any], names: Sequence[str], reader: _Reader) -> str | None:
    """:meth:`_Reader.site` without the reader while every value on the way is plain."""
    for name in names:
        value = values.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or value.startswith(_EXPR_PREFIX):
            return reader.site(names)
        if value.startswith("$$(") or value.strip().lower() in _NO_SITE:
            continue
        return value
    return None


def _transfer(values: dict[str, Any], name: str, reader: _Reader) -> tuple[int | None, int | None]:
    """:meth:`_Reader.transfer` without the reader for a nested ad of plain last-run counts."""
    stats = values.get(name)
    if stats is None:
        return None, None
    if stats.__class__ is not dict:
        return reader.transfer(name)
    files = size = None
    for key, value in stats.items():
        if key.endswith("LastRun"):
            if value.__class__ is not int or not 0 <= value <= _INT8[1]:
                return reader.transfer(name)
            if key.endswith("FilesCountLastRun"):
                files = (files or 0) + value
            elif key.endswith("SizeBytesLastRun"):
                size = (size or 0) + value
    if files is None and size is None:
        return reader.transfer(name)
    return files, size


def time_window(start: datetime | None, site: str | None, config: MappingConfig) -> str | None:
    if start is None:
        return None
    zone = _zone(config.site_timezones.get(site or "", config.default_timezone))
    return TimeWindow.of_hour(start.astimezone(zone).hour).value


def map_ad(ad: classad2.ClassAd, config: MappingConfig = DEFAULT_MAPPING) -> dict[str, Any]:
    """One job-attempt row (keys = :data:`COLUMNS`) from a job ad."""
    text = ad_text(ad)
    return map_ad_text(ad, text, fingerprint(text), config)


def map_ad_text(
    ad: classad2.ClassAd, text: str, digest: str, config: MappingConfig = DEFAULT_MAPPING
) -> dict[str, Any]:
    """:func:`map_ad` for an ad whose :func:`ad_text` and :func:`fingerprint` are already known.

    An ad read from a file (:func:`ad_source`) that is malformed gives a BadClassAd with the
    file and the line of the bad attribute.
    """
    try:
        return _map(ad, text, digest, config)
    except BadClassAd as err:
        source = ad_source(ad)
        if source is None or err.path is not None:
            raise
        raise located(err, source) from None


_SECRET = re.compile(rf"(\b{PHASE_TOKEN_VARIABLE}=)('(?:[^']|'')*'|\S+)")
"""The job token in an ad's ``Environment``: the stored ad keeps the variable, not its value."""


def _map(ad: classad2.ClassAd, text: str, digest: str, config: MappingConfig) -> dict[str, Any]:
    if "\\u0000" in text:
        raise BadClassAd(f"job {job_id(ad)}: an attribute holds a NUL character, which PostgreSQL cannot store",
                         job=job_id(ad))
    try:
        values = _decode(text)
    except msgspec.DecodeError as err:
        raise BadClassAd(f"job {job_id(ad)}: the ad's JSON form is unreadable ({err})", job=job_id(ad)) from None
    environment = values.get("Environment")
    if environment.__class__ is str and PHASE_TOKEN_VARIABLE in environment:
        values["Environment"] = _SECRET.sub(r"\1(not stored)", environment)
    reader = _Reader(ad, values)
    read = reader.read
    cluster_id, proc_id, job_status = values.get("ClusterId"), values.get("ProcId"), values.get("JobStatus")
    if cluster_id.__class__ is not int or proc_id.__class__ is not int or job_status.__class__ is not int:
        cluster_id, proc_id = read("ClusterId", "int8"), read("ProcId", "int4")
        job_status = read("JobStatus", "int4")
    if cluster_id is None or proc_id is None or job_status is None:
        missing = [n for n, v in (("ClusterId", cluster_id), ("ProcId", proc_id), ("JobStatus", job_status)) if v is None]
        fix = ("the file holds a cut or foreign ad: fix or remove it" if ad_source(ad) is not None
               else "query them in the projection")
        raise BadClassAd(
            f"{reader.where}: the ad has no {', '.join(missing)}; a job ad needs ClusterId, ProcId and JobStatus: "
            f"{fix}",
            attribute=missing[0], job=reader.where.removeprefix("job "),
        )
    try:
        state = JobState.from_job_status(job_status)
    except ValueError as err:
        raise BadClassAd(f"{reader.where}: {err}", attribute="JobStatus",
                         job=reader.where.removeprefix("job ")) from None
    row: dict[str, Any] = {"proc_id": proc_id, "cluster_id": cluster_id, "state": state.value}
    get = values.get
    # Fast paths for the plain values nearly every attribute has; anything else (an expression,
    # an int where a float goes, a bad value) takes reader.read, which defines the semantics.
    for column, attribute in _INT_FIELDS[0]:
        value = get(attribute)
        row[column] = value if value is None or (value.__class__ is int and _INT4[0] <= value <= _INT4[1]) \
            else read(attribute, "int4")
    for column, attribute in _INT_FIELDS[1]:
        value = get(attribute)
        row[column] = value if value is None or (value.__class__ is int and _INT8[0] <= value <= _INT8[1]) \
            else read(attribute, "int8")
    for column, attribute in _FLOAT_FIELDS:
        value = get(attribute)
        if value is None or value.__class__ is float:
            row[column] = value
        else:
            row[column] = float(value) if value.__class__ is int else read(attribute, "float")
    for column, attribute in _TIME_FIELDS:
        value = get(attribute)
        if value is None:
            row[column] = None
        elif value.__class__ is int and 0 < value <= _MAX_TIME:
            row[column] = _timestamp(value)
        else:
            row[column] = read(attribute, "time")
    for column, attribute in _TEXT_FIELDS:
        value = get(attribute)
        row[column] = value if value is None or (value.__class__ is str and not value.startswith(_EXPR_PREFIX)) \
            else read(attribute, "text")
    for column, attribute in _BOOL_FIELDS:
        value = get(attribute)
        row[column] = value if value is None or value.__class__ is bool else read(attribute, "bool")
    if job_status != _HELD and row["hold_reason"] is None and row["hold_reason_code"] is None \
            and row["hold_reason_subcode"] is None and _present(values, _LAST_HOLD):
        for column, _, last in HOLD_ATTRIBUTES:
            row[column] = read(last, "text" if column == "hold_reason" else "int4")
    site = _site(values, config.site_attributes, reader)
    row["last_remote_host"] = _first(values, HOST_ATTRIBUTES, reader)
    row["worker_ip"] = worker_ip(reader)
    row["site"] = site
    row["cpu_model"] = _first(values, config.cpu_model_attributes, reader)
    row["cpu_vendor"] = _first(values, config.cpu_vendor_attributes, reader)
    row["files_in_count"], row["files_in_bytes"] = _transfer(values, INPUT_STATS, reader)
    row["files_out_count"], row["files_out_bytes"] = _transfer(values, OUTPUT_STATS, reader)
    if row["files_in_count"] is None and _present(values, INPUT_LISTS):
        row["files_in_count"] = reader.listed(INPUT_LISTS)
    if row["files_out_count"] is None and _present(values, OUTPUT_LISTS):
        row["files_out_count"] = reader.listed(OUTPUT_LISTS)
    row["time_window"] = time_window(row["job_current_start_date"] or row["job_start_date"], site, config)
    row["ad"] = _encode(values).decode()  # compact: PostgreSQL parses a third less JSON per row
    row["ad_hash"] = digest
    return row


def outcome(row: Mapping[str, Any]) -> Outcome:
    """How an attempt ended: a stored row's ``outcome`` column, else :func:`outcome_of` its facts.

    PostgreSQL computes ``job_attempts.outcome`` (include/sql/migrations/010_outcome.sql), and
    every query, report and page reads it; rows that are not stored (a mapped ad) take the
    mirror, which a test holds to the column over every combination of its inputs.
    """
    stored = row.get("outcome")
    if stored is not None:
        return Outcome(stored)
    return outcome_of(row["state"], row.get("exit_code"), row.get("exit_by_signal"))


def outcome_of(state: str | JobState, exit_code: int | None, exit_by_signal: bool | None) -> Outcome:
    """The Python mirror of the ``job_attempts.outcome`` column's expression (010_outcome.sql).

    Held and removed attempts are so; any other state but completed is unfinished; a
    completed attempt is killed when it ended by a signal, succeeded with exit code 0, and
    failed otherwise, also when it has no exit code at all (nothing says it succeeded).
    """
    state = JobState(state)
    if state is JobState.HELD:
        return Outcome.HELD
    if state is JobState.REMOVED:
        return Outcome.REMOVED
    if state is not JobState.COMPLETED:
        return Outcome.UNFINISHED
    if exit_by_signal:
        return Outcome.KILLED
    return Outcome.SUCCEEDED if exit_code == 0 else Outcome.FAILED
