"""Job ClassAds of the local pool, with HTCondor's attribute names and codes.

The local pool keeps one ad per job, as a schedd does, so that tracking reads the same
attributes (JobStatus, ExitCode, HoldReasonCode, RemoteUserCpu, ...) from it as from a
real pool. The ads are stored in HTCondor's "old" text format and read back with
``classad2.parseAds``, checked line by line where the parser would drop a line silently
(it stops an ad at the first line it cannot parse and keeps what came before), so a cut
or garbled ad file is a :class:`~prodops.exceptions.BadClassAd` naming its file, line and
attribute instead of an ad with fewer facts.
"""

from __future__ import annotations

import enum
import functools
import getpass
import os
import platform
import re
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import classad2
from htcondor2 import JobStatus

from prodops import config
from prodops.batch.classads import AdSource, set_ad_source
from prodops.batch.submit import JobDescription, format_environment
from prodops.exceptions import BadClassAd

DEFAULT_SITE = "local"
OUTPUT_STATS_PREFIX = "Local"
"""Protocol prefix of the local pool's TransferInputStats / TransferOutputStats (``LocalFilesCountLastRun``, ...)."""


IN_QUEUE = frozenset({JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD})


class HoldCode(enum.IntEnum):
    """HoldReasonCode values the local pool sets: names and numbers of HTCondor's table, which
    include/triage/facts/hold_codes.yaml holds whole (a test compares the two)."""

    USER_REQUEST = 1
    FAILED_TO_CREATE_PROCESS = 6
    UNABLE_TO_OPEN_OUTPUT = 7
    IWD_ERROR = 14
    JOB_OUT_OF_RESOURCES = 34
    JOB_EXECUTE_EXCEEDED = 47


MEMORY_SUBCODE = 102
"""HoldReasonSubCode of code 34 when the exceeded resource is memory (hold_codes.yaml, held to it by a test)."""


@dataclass(frozen=True)
class Machine:
    """What a startd would advertise about the machine the local pool runs jobs on."""

    hostname: str
    ip: str
    cpu_model: str
    site: str
    cpu_vendor: str = ""

    def slot_name(self, slot: int) -> str:
        return f"slot1_{slot}@{self.hostname}"

    @property
    def address(self) -> str:
        return f"<{self.ip}:9618?addrs={self.ip}-9618&alias={self.hostname}>"


@functools.lru_cache(maxsize=4)
def _cpuinfo(field: str) -> str:
    """The first ``field`` of /proc/cpuinfo ('' when the file or the field is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == field and value.strip():
                return value.strip()
    except OSError:
        pass
    return ""


def _cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown"


def local_machine() -> Machine:
    """This machine as a startd advertises it (what a pool's job ads carry as MachineAttr*0).

    Site, CPU model and vendor come from ``PRODOPS_LOCAL_SITE`` (default ``local``),
    ``PRODOPS_LOCAL_CPU_MODEL`` and ``PRODOPS_LOCAL_CPU_VENDOR`` when set, else from
    /proc/cpuinfo; a vendor that cannot be read stays empty and is recorded as NULL.
    """
    site, cpu_model, cpu_vendor = config.local_machine_overrides()
    return Machine(
        hostname=socket.gethostname(),
        ip="127.0.0.1",
        cpu_model=cpu_model or _cpu_model(),
        site=site or DEFAULT_SITE,
        cpu_vendor=cpu_vendor or _cpuinfo("vendor_id"),
    )


def transfer_stats(paths: Iterable[str]) -> classad2.ClassAd:
    """A ``Transfer*Stats`` nested ad for files the local pool hands over in place (count, bytes)."""
    count = size = 0
    for path in paths:
        if not path or path == os.devnull:
            continue
        try:
            size += os.path.getsize(path)
        except OSError:
            continue
        count += 1
    prefix = OUTPUT_STATS_PREFIX
    return classad2.ClassAd({
        f"{prefix}FilesCountLastRun": count, f"{prefix}SizeBytesLastRun": size,
        f"{prefix}FilesCountTotal": count, f"{prefix}SizeBytesTotal": size,
    })


def one_line(text: str) -> str:
    """Old-format ad files cannot hold a newline inside a string."""
    return (text or "").replace("\r", " ").replace("\n", "|")


def new_job_ad(job: JobDescription, *, qdate: int, owner: str | None = None, submit_host: str = "") -> classad2.ClassAd:
    """The ad of a freshly queued (idle) job."""
    ad = classad2.ClassAd()
    ad["ClusterId"] = job.cluster_id
    ad["ProcId"] = job.proc_id
    ad["GlobalJobId"] = f"{submit_host or socket.gethostname()}#{job.cluster_id}.{job.proc_id}#{qdate}"
    ad["Owner"] = owner or _user()
    ad["JobUniverse"] = 5
    ad["JobStatus"] = int(JobStatus.IDLE)
    ad["LastJobStatus"] = 0
    ad["QDate"] = qdate
    ad["EnteredCurrentStatus"] = qdate
    ad["Cmd"] = one_line(job.executable)
    ad["Arguments" if job.new_syntax_arguments else "Args"] = one_line(
        job.arguments[1:-1] if job.new_syntax_arguments else job.arguments
    )
    ad["Iwd"] = one_line(job.iwd)
    ad["Out"] = one_line(job.output)
    ad["Err"] = one_line(job.error)
    ad["UserLog"] = one_line(job.user_log)
    if job.environment:
        ad["Environment"] = one_line(format_environment(job.environment)[1:-1])
    ad["RequestCpus"] = job.request_cpus
    ad["RequestMemory"] = job.request_memory_mb
    ad["RequestDisk"] = job.request_disk_kb
    ad["JobPrio"] = job.priority
    if job.batch_name:
        ad["JobBatchName"] = one_line(job.batch_name)
    if job.allowed_execute_duration is not None:
        ad["AllowedExecuteDuration"] = job.allowed_execute_duration
    for name, expression in job.custom.items():
        ad[name] = classad2.ExprTree(expression)
    for name in ("NumJobStarts", "NumShadowStarts", "JobRunCount", "NumHolds"):
        ad[name] = 0
    for name in ("RemoteWallClockTime", "RemoteUserCpu", "RemoteSysCpu", "CumulativeSlotTime"):
        ad[name] = 0.0
    # the local pool runs jobs in place: nothing is transferred in (a pool would set these at submit)
    ad["TransferInputSizeMB"] = 0
    ad["TransferInputStats"] = transfer_stats(())
    ad["BytesRecvd"] = 0.0
    return ad


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def status_of(ad: classad2.ClassAd) -> JobStatus:
    return JobStatus(int(ad["JobStatus"]))


def render_ads(ads: Iterable[classad2.ClassAd]) -> str:
    """Ads in the old text format, separated by blank lines (as ``condor_q -long`` prints them)."""
    return "".join(ad.printOld() + "\n" for ad in ads)


_SEPARATOR = re.compile(r"\n[ \t\r]*\n")
_ATTRIBUTE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*")


def _blocks(text: str) -> list[tuple[int, str]]:
    """The ads' texts (blank-line separated) with the number of each one's first line."""
    blocks = []
    line, position = 1, 0
    for separator in [*_SEPARATOR.finditer(text), None]:
        end = len(text) if separator is None else separator.start()
        block = text[position:end]
        stripped = block.lstrip("\n \t\r")
        first = line + block[: len(block) - len(stripped)].count("\n")
        if stripped and any(not x.lstrip().startswith("#") for x in stripped.splitlines() if x.strip()):
            blocks.append((first, stripped))
        if separator is not None:
            line += text.count("\n", position, separator.end())
            position = separator.end()
    return blocks


def _attribute_lines(block: str) -> int:
    if "#" not in block:
        return block.count("\n") + 1 - block.endswith("\n")
    return sum(1 for x in block.splitlines() if x.strip() and not x.lstrip().startswith("#"))


def _bad_line(blocks: list[tuple[int, str]], path: str | None) -> BadClassAd | None:
    """The first line of ``blocks`` that is not ``Name = expression`` (None: every line parses)."""
    for first, block in blocks:
        for number, text in enumerate(block.split("\n"), start=first):
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            match = _ATTRIBUTE.fullmatch(text)
            if match is None:
                return BadClassAd(f"{text.strip()[:120]!r} is not an attribute ('Name = value'); "
                                  "the ad file is garbled: fix or rewrite it", path=path, line=number)
            try:
                classad2.ExprTree(match[2])
            except (classad2.ClassAdException, ValueError):
                return BadClassAd(f"{match[1]} = {match[2][:120]!r} is not a ClassAd expression; "
                                  "the ad file is garbled: fix or rewrite it",
                                  path=path, line=number, attribute=match[1])
    return None


def parse_ads(text: str, path: str | None = None) -> list[classad2.ClassAd]:
    """The ads of an old-format ad text; with ``path``, each ad remembers its file and first line.

    A line the parser would skip (and with it the rest of its ad), an ad file cut inside a
    line, or text that is no ad raises BadClassAd with the file, line and attribute.
    """
    if not text.strip():
        return []
    blocks = _blocks(text)
    try:
        ads = list(classad2.parseAds(text, classad2.ParserType.Old))
    except ValueError:
        ads = None
    if ads is None or len(ads) != len(blocks) or any(
        len(ad) < _attribute_lines(block) for ad, (_, block) in zip(ads, blocks)
    ):
        if (err := _bad_line(blocks, path)) is not None:
            raise err
        if ads is None:
            raise BadClassAd("the text cannot be parsed as old-format ClassAds; fix or rewrite the file", path=path)
    if path is not None and not text.endswith("\n"):
        number = text.count("\n") + 1
        last = text.rsplit("\n", 1)[-1]
        match = _ATTRIBUTE.match(last)
        raise BadClassAd(f"the file ends inside line {number} ({last[:120]!r}): it was cut while written; "
                         "the ad's facts past it are lost: rewrite the file (or remove the cut ad)",
                         path=path, line=number, attribute=match[1] if match else None)
    if path is not None and len(ads) == len(blocks):
        for ad, (first, _) in zip(ads, blocks):
            set_ad_source(ad, AdSource(path, first))
    return ads


def read_ads(path: str | os.PathLike[str]) -> list[classad2.ClassAd]:
    """Ads of an ad file, each remembering where it was read (:func:`~prodops.batch.classads.ad_source`).

    A missing file holds none; a malformed one raises BadClassAd naming the file and line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return parse_ads(text, os.fspath(path))


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never half."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_ads(path: str | os.PathLike[str], ads: Iterable[classad2.ClassAd]) -> None:
    write_atomic(path, render_ads(ads))
