"""HTCondor job event logs: a writer for the local pool and the reader every backend uses.

The writer produces the text format of HTCondor's user log (``condor_event.cpp``) so that
``htcondor2.JobEventLog`` parses it exactly as it parses a real pool's log. Each event is
one ``os.write`` on an ``O_APPEND`` descriptor, so a reader sees an event whole or, after a
crash mid-write, a partial tail that :meth:`EventLogWriter.repair` removes.

The reader (:func:`read_event_log`) reads what HTCondor writes: the text format and the XML
one (``log_xml = True``), and a log's rotations (``<log>.old``, ``<log>.1`` ...) in order.
It resumes at a stored byte offset. It first cuts the new bytes into whole events itself
(text: up to a ``...`` line; XML: up to a top-level ``</c>``), because ``JobEventLog`` does
not stop on its own: it waits on a partly written last event, returns a truncated XML
event as if whole, stalls for good at a garbled header, reads a garbled hold ``Code`` line
as code 0, and raises a bare ValueError for an unknown event number. Events it cannot
read are skipped and returned as problems with their place (file, byte offset, line), so
a bad event is recorded once and never stops the reads after it.

Text events are parsed by ``htcondor2.JobEventLog``, positioned at an offset through
pickling (``__getstate__`` returns ``(state, offset)``, ``__setstate__`` restores it), wrapped
here in :func:`_open_at` and :func:`_offset_of`; XML events, whose parser in the bindings
is lenient where it should not be, by the standard library's, into the same records.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import classad2
import htcondor2
from htcondor2 import JobEventType
import msgspec

from prodops.batch.base import JobEventRecord
from prodops.exceptions import BadEventLog

log = logging.getLogger(__name__)

SYNC_LINE = b"...\n"
_SYNC = re.compile(rb"(?m)^\.\.\.\n")
_RUSAGE = re.compile(r"Usr (\d+) (\d+):(\d+):(\d+), Sys (\d+) (\d+):(\d+):(\d+)")
_SCAN_CHUNK = 1 << 20
_BATCH = 4096


@dataclass(frozen=True)
class Usage:
    """CPU seconds of one run (or of all runs), as the log's ``Usr .., Sys ..`` lines carry them."""

    user_s: float = 0.0
    sys_s: float = 0.0


@dataclass(frozen=True)
class ResourceUsage:
    """One row of the "Partitionable Resources" table of a terminated event."""

    name: str
    usage: float | int | None
    request: float | int
    allocated: float | int


def host_address(host: str | None = None, ip: str = "127.0.0.1", port: int = 9618) -> str:
    """A sinful string like the ones schedds and startds write into the log."""
    host = host or socket.gethostname()
    return f"<{ip}:{port}?addrs={ip}-{port}&alias={host}>"


def format_rusage(usage: Usage) -> str:
    """``Usr D HH:MM:SS, Sys D HH:MM:SS`` (whole seconds, as HTCondor writes them)."""
    return f"Usr {_dhms(usage.user_s)}, Sys {_dhms(usage.sys_s)}"


def parse_rusage(text: str) -> Usage:
    """The inverse of :func:`format_rusage`; events expose usage only as such strings."""
    match = _RUSAGE.search(text or "")
    if not match:
        raise BadEventLog(f"usage {text!r} is not 'Usr D HH:MM:SS, Sys D HH:MM:SS'; the event is malformed")
    n = [int(g) for g in match.groups()]
    return Usage(
        user_s=float(n[0] * 86400 + n[1] * 3600 + n[2] * 60 + n[3]),
        sys_s=float(n[4] * 86400 + n[5] * 3600 + n[6] * 60 + n[7]),
    )


def _dhms(seconds: float) -> str:
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} {hours:02d}:{minutes:02d}:{secs:02d}"


def _one_line(text: str) -> str:
    """Reasons are single lines in the log; HTCondor turns newlines into ``|``."""
    return (text or "").replace("\r", " ").replace("\n", "|").strip()


def format_event(number: int, cluster: int, proc: int, body: str, when: float | None = None) -> str:
    """One event: header line, body lines, and the ``...`` line that ends it."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() if when is None else when))
    if not body.endswith("\n"):
        body += "\n"
    return f"{number:03d} ({cluster:03d}.{proc:03d}.000) {stamp}Z {body}...\n"


def _usage_table(rows: Sequence[ResourceUsage]) -> str:
    """The resource table of terminated/evicted events, with condor's column layout."""

    def text(value: float | int | None) -> tuple[str, bool]:
        if value is None:
            return "", False
        if isinstance(value, float) and not value.is_integer():
            return f"{value:.2f}", True
        return str(int(value)), False

    cells = []
    fractional = [False, False, False]
    for row in rows:
        triple = [text(row.usage), text(row.request), text(row.allocated)]
        for i, (_, frac) in enumerate(triple):
            fractional[i] |= frac
        cells.append((row.name, [t for t, _ in triple]))
    for _, values in cells:
        for i, value in enumerate(values):
            if fractional[i] and value.isdigit():
                values[i] = value + "   "
    width_res = max([12] + [len(name) for name, _ in cells])
    width_use = max([8] + [len(v[0]) for _, v in cells])
    width_req = max([8] + [len(v[1]) for _, v in cells])
    width_alloc = max([0] + [len(v[2]) for _, v in cells])
    out = "\tPartitionable Resources : {:>{}} {:>{}} {:>{}} \n".format(
        "Usage", width_use, "Request", width_req, "Allocated" if width_alloc else "", max(width_alloc, 9)
    )
    labels = {"Memory": "Memory (MB)", "Disk": "Disk (KB)"}
    for name, (use, req, alloc) in sorted(cells, key=lambda c: c[0].lower()):
        out += "\t   {:<{}} : {:>{}} {:>{}} {:>{}} \n".format(
            labels.get(name, name), width_res + 8, use, width_use, req, width_req, alloc, max(width_alloc, 9)
        )
    return out


class EventLogWriter:
    """Appends HTCondor user-log events to one file; one write per event.

    One writer per log at a time (the local pool's runner holds a lock on its workdir).
    """

    def __init__(self, path: str | os.PathLike[str], *, host: str | None = None) -> None:
        self.path = Path(path)
        self.host = host or socket.gethostname()
        self.address = host_address(self.host)
        self._fd: int | None = None

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def repair(self) -> int:
        """Cut a partial last event (a crash mid-write) so new events start on a boundary.

        Returns how many bytes were dropped.
        """
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size == 0:
            return 0
        keep = _last_boundary(self.path, size)
        if keep < size:
            log.warning("Event log %s ends in a partial event: dropping its last %d bytes", self.path, size - keep)
            with open(self.path, "r+b") as f:
                f.truncate(keep)
        return size - keep

    def append(self, text: str) -> None:
        """Write ``text`` (whole events) in one system call, then make it visible to readers."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        data = text.encode()
        written = os.write(self._fd, data)
        while written < len(data):
            written += os.write(self._fd, data[written:])

    def _event(self, number: JobEventType, cluster: int, proc: int, body: str, when: float | None) -> str:
        text = format_event(number, cluster, proc, body, when)
        self.append(text)
        return text

    def submit(self, cluster: int, proc: int, *, when: float | None = None, notes: str = "") -> str:
        body = f"Job submitted from host: {self.address}\n"
        if notes:
            body += f"    {_one_line(notes)}\n"
        return self._event(JobEventType.SUBMIT, cluster, proc, body, when)

    def execute(
        self,
        cluster: int,
        proc: int,
        *,
        slot_name: str,
        provisioned: Mapping[str, int | float] | None = None,
        when: float | None = None,
    ) -> str:
        body = f"Job executing on host: {self.address}\n\tSlotName: {slot_name}\n"
        for name, amount in sorted((provisioned or {}).items()):
            body += f"\t{name}Provisioned = {amount}\n"
        return self._event(JobEventType.EXECUTE, cluster, proc, body, when)

    def image_size(
        self,
        cluster: int,
        proc: int,
        *,
        image_size_kb: int,
        memory_usage_mb: int,
        resident_set_size_kb: int,
        when: float | None = None,
    ) -> str:
        body = (
            f"Image size of job updated: {int(image_size_kb)}\n"
            f"\t{int(memory_usage_mb)}  -  MemoryUsage of job (MB)\n"
            f"\t{int(resident_set_size_kb)}  -  ResidentSetSize of job (KB)\n"
        )
        return self._event(JobEventType.IMAGE_SIZE, cluster, proc, body, when)

    def terminated(
        self,
        cluster: int,
        proc: int,
        *,
        return_value: int | None = None,
        signal: int | None = None,
        run_usage: Usage = Usage(),
        total_usage: Usage | None = None,
        resources: Sequence[ResourceUsage] = (),
        when: float | None = None,
    ) -> str:
        """Job terminated: normally with ``return_value``, or abnormally by ``signal``."""
        if (return_value is None) == (signal is None):
            raise ValueError(
                f"job {cluster}.{proc}: give exactly one of return_value={return_value!r} and signal={signal!r}"
            )
        if return_value is not None:
            body = f"Job terminated.\n\t(1) Normal termination (return value {int(return_value)})\n"
        else:
            assert signal is not None  # exactly one of the two, checked above
            body = f"Job terminated.\n\t(0) Abnormal termination (signal {int(signal)})\n\t(0) No core file\n"
        total = total_usage or run_usage
        none = Usage()
        body += (
            f"\t\t{format_rusage(run_usage)}  -  Run Remote Usage\n"
            f"\t\t{format_rusage(none)}  -  Run Local Usage\n"
            f"\t\t{format_rusage(total)}  -  Total Remote Usage\n"
            f"\t\t{format_rusage(none)}  -  Total Local Usage\n"
            "\t0  -  Run Bytes Sent By Job\n"
            "\t0  -  Run Bytes Received By Job\n"
            "\t0  -  Total Bytes Sent By Job\n"
            "\t0  -  Total Bytes Received By Job\n"
        )
        if resources:
            body += _usage_table(resources)
        return self._event(JobEventType.JOB_TERMINATED, cluster, proc, body, when)

    def evicted(
        self, cluster: int, proc: int, *, run_usage: Usage = Usage(), reason: str = "", when: float | None = None
    ) -> str:
        body = (
            "Job was evicted.\n"
            "\t(0) CPU times\n"
            f"\t\t{format_rusage(run_usage)}  -  Run Remote Usage\n"
            f"\t\t{format_rusage(Usage())}  -  Run Local Usage\n"
            "\t0  -  Run Bytes Sent By Job\n"
            "\t0  -  Run Bytes Received By Job\n"
        )
        if reason:
            body += f"\tReason: {_one_line(reason)}\n"
        return self._event(JobEventType.JOB_EVICTED, cluster, proc, body, when)

    def held(
        self, cluster: int, proc: int, *, reason: str, code: int, subcode: int = 0, when: float | None = None
    ) -> str:
        body = f"Job was held.\n\t{_one_line(reason) or 'Reason unspecified'}\n\tCode {int(code)} Subcode {int(subcode)}\n"
        return self._event(JobEventType.JOB_HELD, cluster, proc, body, when)

    def released(self, cluster: int, proc: int, *, reason: str, when: float | None = None) -> str:
        body = "Job was released.\n" + (f"\t{_one_line(reason)}\n" if reason else "")
        return self._event(JobEventType.JOB_RELEASED, cluster, proc, body, when)

    def aborted(self, cluster: int, proc: int, *, reason: str, when: float | None = None) -> str:
        body = "Job was aborted.\n" + (f"\t{_one_line(reason)}\n" if reason else "")
        return self._event(JobEventType.JOB_ABORTED, cluster, proc, body, when)


def _last_boundary(path: Path, size: int) -> int:
    """Offset just after the last ``...`` line of the file (0 when there is none)."""
    marker = b"\n" + SYNC_LINE
    with open(path, "rb") as f:
        end = size
        while end > 0:
            start = max(0, end - _SCAN_CHUNK)
            f.seek(start)
            data = f.read(end - start)
            found = data.rfind(marker)
            if found >= 0:
                return start + found + len(marker)
            if start == 0:
                return len(SYNC_LINE) if data.startswith(SYNC_LINE) else 0
            end = start + len(marker) - 1
    return 0


def _open_at(path: str, offset: int) -> htcondor2.JobEventLog:
    """A JobEventLog positioned at byte ``offset`` (htcondor2 restores offsets only by unpickling)."""
    event_log = htcondor2.JobEventLog(path)
    state, _ = event_log.__getstate__()
    event_log.close()
    event_log.__setstate__((state, offset))
    return event_log


def _offset_of(event_log: htcondor2.JobEventLog) -> int:
    return int(event_log.__getstate__()[1])


def _plain(value: Any) -> Any:
    """Event values as JSON-ready Python (nested ads as dicts, expressions as text)."""
    if isinstance(value, classad2.ClassAd):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, classad2.ExprTree):
        return str(value)
    if isinstance(value, classad2.Value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


_decode = msgspec.json.Decoder().decode
_EXPR = "/Expr("


def _event_data(event: htcondor2.JobEvent) -> dict[str, Any]:
    """The event's attributes as plain Python, in one crossing from the bindings.

    ``JobEvent`` is a Mapping over a ClassAd; reading it key by key costs a binding call per
    attribute, so the ClassAd is printed as JSON and decoded once (expressions become their
    text, undefined values None, nested ads dicts, as :func:`_plain` makes them).
    """
    ad = getattr(event, "_data", None)
    if not isinstance(ad, classad2.ClassAd):  # a future htcondor2 without the attribute: the slow path
        return {key: _plain(value) for key, value in event.items()}
    data: dict[str, Any] = _decode(ad.printJson())
    for key, value in data.items():
        if value.__class__ is str and value.startswith(_EXPR) and value.endswith(")/"):
            data[key] = value[len(_EXPR):-2]
    return data


def _event_time(data: dict[str, Any], event: htcondor2.JobEvent) -> float:
    """Seconds since the epoch of ``EventTime``: UTC when it ends in Z, else the local time zone.

    htcondor2's ``JobEvent.timestamp`` drops the Z (``dt.replace`` without assignment) and
    reads every time as local, and parses with strptime: slow, and wrong off UTC.
    """
    text = data.get("EventTime")
    if not isinstance(text, str):
        return float(event.timestamp)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return float(event.timestamp)
    return when.timestamp()


# ---- the reader: text and XML logs, their rotations, and bad events with a place ------------

TEXT, XML = "text", "xml"
"""The two formats HTCondor writes a job event log in (``log_xml = True`` gives XML)."""

_ENDS = {
    TEXT: re.compile(rb"(?m)^\.\.\.\n"),  # the sync line after every text event
    XML: re.compile(rb"(?m)^</c>\n"),  # a top-level ad ends at column 0 (ClassAdXMLUnParser indents nested ones)
}
_STARTS = {
    TEXT: re.compile(rb"(?m)^\d{3} \("),  # a header line
    # a top-level ad: not inside <a n="..."> or <l>, or (after a write cut right after a '>')
    # followed by attributes at the top level's indentation (nested ones are indented further)
    XML: re.compile(rb"(?<!>)<c>|<c>(?=\n {4}<a n=)"),
}
_TEXT_HEADER = re.compile(
    rb"(\d{3}) \((-?\d+)\.(-?\d+)\.(-?\d+)\) "
    rb"(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z?|(\d\d)/(\d\d) (\d\d:\d\d:\d\d))(?: |\r?\n|$)"
)
_XML_PROLOG = re.compile(rb"(?:\s|<\?[^>]*\?>|<!DOCTYPE[^>]*>|</?classads>)*")
_HOLD_CODE = re.compile(r"\s*Code (-?\d+) Subcode (-?\d+)\s*")
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_SNIFF = 4096
_MAX_LINE = 300
_ROTATION_LIMIT = 1000
_EVENT_TYPES = {int(t): t.name for t in JobEventType}


@dataclass(frozen=True)
class EventLogRead:
    """What one read of an event log found.

    ``offset`` is where the next read resumes (store it); ``problems`` the garbled or unknown
    events that were skipped on the way, each a :class:`~prodops.exceptions.BadEventLog` with
    its file, byte offset and line, for the caller to store beside the records; ``more`` says
    the read stopped at its ``limit`` and more whole events may follow.
    """

    records: list[JobEventRecord]
    offset: int
    problems: list[BadEventLog]
    more: bool = False


@dataclass(frozen=True)
class _File:
    """One file of a log's rotation chain; ``base`` is the stream offset of its first byte."""

    path: str
    size: int
    base: int


@dataclass
class _Piece:
    """One event's text in a file: ``[start, end)``; ``terminated`` when its end marker closes it."""

    start: int
    end: int
    data: bytes
    terminated: bool


def rotated_logs(path: str | os.PathLike[str]) -> list[str]:
    """The rotations of ``path`` that exist, oldest first, as HTCondor names them.

    One rotation keeps ``<log>.old``; more keep ``<log>.1`` (the newest) up to ``<log>.N``
    (``WriteUserLog::doRotation``). A ``.old`` beside numbered files is taken as the oldest.
    """
    path = os.fspath(path)
    numbered: list[str] = []
    while len(numbered) < _ROTATION_LIMIT and os.path.isfile(f"{path}.{len(numbered) + 1}"):
        numbered.append(f"{path}.{len(numbered) + 1}")
    chain = numbered[::-1]
    if os.path.isfile(f"{path}.old"):
        chain.insert(0, f"{path}.old")
    return chain


def _chain(path: str) -> list[_File]:
    """The log and its rotations, oldest first, each with its place in the log's byte stream."""
    files: list[_File] = []
    base = 0
    for name in [*rotated_logs(path), path]:
        try:
            size = os.path.getsize(name)
        except FileNotFoundError:
            continue  # the current log between a rotation and the writer's next event
        files.append(_File(name, size, base))
        base += size
    return files


def log_end(path: str | os.PathLike[str]) -> int:
    """Where the log's stream (its rotations, then the file) ends now: an offset
    :func:`read_event_log` reaches once it has read every event written so far."""
    files = _chain(os.fspath(path))
    return files[-1].base + files[-1].size if files else 0


def log_format(path: str | os.PathLike[str]) -> str | None:
    """:data:`TEXT` or :data:`XML` from a log's first bytes (None while it is empty).

    A file that holds binary data is refused by name: it is not an event log, and reading it
    as one would only produce garbage records.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(_SNIFF)
    if (bad := _CONTROL.search(head)) is not None:
        raise BadEventLog(
            f"{path} is not an HTCondor job event log: it holds binary data (byte {bad.start()} is "
            f"{head[bad.start():bad.start() + 1]!r}); point the submission at the job event log "
            "(the submit file's `log`), not at another file",
            path=path,
        )
    text = head.lstrip()
    if not text:
        return None
    if text[:1] == b"{":
        raise BadEventLog(
            f"{path} is a JSON job event log; prodops reads the text and XML formats: "
            "drop the JSON format option from the job's event log settings",
            path=path,
        )
    return XML if text[:1] == b"<" else TEXT


def _ends_event(path: str, offset: int, fmt: str) -> bool:
    """Whether ``offset`` is just after an event's end marker (``...`` or a top-level ``</c>``)."""
    marker = SYNC_LINE if fmt == TEXT else b"</c>\n"
    if offset < len(marker):
        return False
    with open(path, "rb") as f:
        f.seek(max(0, offset - len(marker) - 1))
        before = f.read(min(offset, len(marker) + 1))
    return before.endswith(marker) and (len(before) == len(marker) or before[0:1] == b"\n")


def _line(data: bytes) -> str:
    """The first non-blank line of ``data`` as text, for a message (bounded, bad bytes replaced)."""
    for raw in data.splitlines():
        if raw.strip():
            text = raw.decode("utf-8", "replace").rstrip()
            return text if len(text) <= _MAX_LINE else text[:_MAX_LINE] + "..."
    return ""


def read_event_log(
    path: str | os.PathLike[str],
    offset: int = 0,
    *,
    limit: int | None = None,
    submitted: float | None = None,
) -> EventLogRead:
    """Whole events after ``offset`` in a job event log (text or XML) and its rotations.

    ``offset`` is a position in the log's stream: the rotations (oldest first) and then the
    current file, as if they were one file, so a log that was rotated since the last read is
    finished in its rotation and then read on in the new file, each event once. (HTCondor
    drops the oldest rotation beyond its maximum; events in a dropped file are gone, and an
    offset that no longer lands on an event's end is refused.)

    A garbled or unknown event (a bad header, an unknown event number, text between events,
    an event whose end marker is missing, a hold event whose ``Code`` line is garbled) is
    logged, returned in :attr:`EventLogRead.problems` with its file, byte offset and line, and
    skipped: the read goes on with the next event, and the returned offset is past it, so no
    poll stops at it again. A hold event with a garbled ``Code`` line is kept, with its codes
    None (never 0). A partly written last event is left for the next call. ``limit`` caps how
    many events one call takes. ``submitted`` (seconds since the epoch) dates old text logs
    whose headers carry no year (``11/21 10:11:12``): each event gets the first year that
    puts it at or after the submission (one day of slack); without it, the last year that
    puts it at or before the log's last change.
    """
    path = os.fspath(path)
    if offset < 0:
        raise BadEventLog(f"event log {path}: offset {offset} is negative; resume from 0 or a stored offset", path=path)
    files = _chain(path)
    if not files:
        if offset:
            raise BadEventLog(
                f"event log {path} is gone but offset {offset} was stored for it; "
                "restore the log or reset the submission's event offset to 0",
                path=path,
            )
        return EventLogRead([], 0, [])
    total = files[-1].base + files[-1].size
    if offset > total:
        raise BadEventLog(
            f"event log {path} has {total} bytes (with its rotations) but offset {offset} was stored for it; "
            "the log was replaced: reset the submission's event offset to 0 to read it again",
            path=path,
        )
    first = next(i for i, f in enumerate(files) if offset < f.base + f.size or i == len(files) - 1)
    records: list[JobEventRecord] = []
    problems: list[BadEventLog] = []
    position = offset
    more = False
    for index in range(first, len(files)):
        file = files[index]
        local = position - file.base
        try:
            fmt = log_format(file.path)
        except FileNotFoundError:
            break  # rotated away between the listing and this read: the next call sees the new chain
        if fmt is None:
            continue
        if local and not _ends_event(file.path, local, fmt):
            raise BadEventLog(
                f"event log {file.path}: offset {local} is not the end of an event; "
                "use an offset returned by read_events (or 0)",
                path=file.path,
            )
        left = None if limit is None else limit - len(records)
        reader = _FileReader(file, fmt, submitted, problems)
        end, more = reader.read(local, left, records)
        position = file.base + end
        if more:
            break
        rotated = index < len(files) - 1
        if rotated and end < file.size:
            with open(file.path, "rb") as f:
                f.seek(end)
                tail = f.read(file.size - end)
            problems.append(_problem(
                file, end, file.size, tail,
                f"the rotated log ends inside an event ({file.size - end} bytes after the last whole event); "
                "HTCondor rotates between events, so the rest was lost when it was written",
            ))
            position = file.base + file.size
    return EventLogRead(records, position, problems, more)


def read_events(
    path: str | os.PathLike[str],
    offset: int = 0,
    *,
    limit: int | None = None,
    submitted: float | None = None,
) -> tuple[list[JobEventRecord], int]:
    """:func:`read_event_log` as ``(records, offset)``, for callers that do not store problems.

    The problems are still logged (by :func:`read_event_log`) and skipped.
    """
    result = read_event_log(path, offset, limit=limit, submitted=submitted)
    return result.records, result.offset


def _problem(file: _File, start: int, end: int, data: bytes, message: str,
             cluster_id: int | None = None, proc_id: int | None = None) -> BadEventLog:
    problem = BadEventLog(message, path=file.path, offset=start, end=end, line=_line(data),
                          cluster_id=cluster_id, proc_id=proc_id, log_offset=file.base + end)
    log.warning("%s (line %r)", problem, problem.line)
    return problem


class _FileReader:
    """Reads the whole events of one file of a log from a local offset (see :func:`read_event_log`)."""

    def __init__(self, file: _File, fmt: str, submitted: float | None, problems: list[BadEventLog]) -> None:
        self.file = file
        self.fmt = fmt
        self.submitted = submitted
        self.problems = problems
        self._mtime: float | None = None

    def read(self, start: int, limit: int | None, records: list[JobEventRecord]) -> tuple[int, bool]:
        """Append the events after ``start`` to ``records``; returns (end of the last whole event, limited)."""
        end = start
        taken = 0
        pieces: list[_Piece] = []
        parse = self._text if self.fmt == TEXT else self._xml
        limited = False
        for chunk in self._chunks(start):
            pieces.extend(self._pieces(chunk))
            end = chunk.end
            taken += 1
            if limit is not None and taken >= limit:
                limited = True
                break
            if len(pieces) >= _BATCH:  # one JobEventLog per batch of events, not per event
                parse(pieces, records)
                pieces = []
        parse(pieces, records)
        return end, limited

    def _chunks(self, start: int) -> Iterator[_Piece]:
        """Whole chunks (text up to an end marker) after ``start``, in windows of the file."""
        ends = _ENDS[self.fmt]
        with open(self.file.path, "rb") as f:
            f.seek(start)
            base, buffer, scanned = start, b"", 0
            while data := f.read(_SCAN_CHUNK):
                buffer += data
                position = 0
                for match in ends.finditer(buffer, scanned):
                    yield _Piece(base + position, base + match.end(), buffer[position:match.end()], True)
                    position = match.end()
                buffer = buffer[position:]
                base += position
                scanned = buffer.rfind(b"\n") + 1  # ^ only matches after a newline: rescan from the last line start

    def _pieces(self, chunk: _Piece) -> list[_Piece]:
        """The chunk split where an event starts: every piece but the last lacks its end marker."""
        pattern = _STARTS[self.fmt]
        if pattern.search(chunk.data, 1) is None:
            return [chunk]  # nearly always: one event, starting where the chunk starts (or no start at all)
        starts = [m.start() for m in pattern.finditer(chunk.data)]
        if not starts:
            return [chunk]
        bounds = [0, *starts] if starts[0] > 0 else starts
        pieces = []
        for i, lo in enumerate(bounds):
            hi = bounds[i + 1] if i + 1 < len(bounds) else len(chunk.data)
            pieces.append(_Piece(chunk.start + lo, chunk.start + hi, chunk.data[lo:hi], hi == len(chunk.data)))
        return pieces

    def _bad(self, piece: _Piece, message: str, *, line_at: int = 0, line: bytes | None = None,
             cluster_id: int | None = None, proc_id: int | None = None) -> None:
        self.problems.append(_problem(
            self.file, piece.start + line_at, piece.end, piece.data[line_at:] if line is None else line, message,
            cluster_id, proc_id,
        ))

    def _blank(self, piece: _Piece) -> bool:
        """Nothing but separators (a log that starts with ``...``, the XML prolog): not an event."""
        if self.fmt == TEXT:
            return not piece.data.replace(SYNC_LINE, b"").strip()
        return _XML_PROLOG.fullmatch(piece.data) is not None

    # -- text: headers checked here, events parsed by htcondor2.JobEventLog over runs of good pieces

    def _text(self, pieces: list[_Piece], records: list[JobEventRecord]) -> None:
        run: list[tuple[_Piece, re.Match[bytes]]] = []
        for piece in pieces:
            header = _TEXT_HEADER.match(piece.data)
            if header is not None and piece.terminated and int(header[1]) in _EVENT_TYPES:
                if run and run[-1][0].end != piece.start:
                    self._parse_run(run, records)
                    run = []
                run.append((piece, header))
                continue
            if run:
                self._parse_run(run, records)
                run = []
            if header is None:
                if not self._blank(piece):
                    self._bad(piece, "this is not an HTCondor event header ('NNN (cluster.proc.subproc) date time "
                                     "...'); the event is garbled and skipped")
            elif not piece.terminated:
                self._bad(piece, "this event has no '...' line before the next event's header (it was cut "
                                 "while written, or its '...' line is lost); it is skipped",
                          cluster_id=int(header[2]), proc_id=int(header[3]))
            else:
                self._bad(piece, f"event number {int(header[1])} is not an event type these bindings know "
                                 f"({min(_EVENT_TYPES)}..{max(_EVENT_TYPES)}); the event is skipped "
                                 "(a newer HTCondor wrote it: upgrade the htcondor2 bindings to read it)",
                          cluster_id=int(header[2]), proc_id=int(header[3]))
        if run:
            self._parse_run(run, records)

    def _parse_run(self, run: list[tuple[_Piece, re.Match[bytes]]], records: list[JobEventRecord]) -> None:
        """Events of contiguous, well-formed pieces through one JobEventLog (reopened past a failure)."""
        self._parse_in(self.file.path, [(piece.start, piece.end) for piece, _ in run], run, records)

    def _parse_in(self, path: str, spans: list[tuple[int, int]], run: list[tuple[_Piece, re.Match[bytes]]],
                  records: list[JobEventRecord]) -> None:
        index = 0
        while index < len(run):
            try:
                event_log = _open_at(path, spans[index][0])
            except (OSError, htcondor2.HTCondorException) as err:
                raise BadEventLog(f"event log {self.file.path} cannot be opened: {err}", path=self.file.path) from err
            try:
                events = event_log.events(stop_after=0)
                while index < len(run):
                    piece, header = run[index]
                    end = spans[index][1]
                    index += 1
                    try:
                        event = next(events)
                    except StopIteration:
                        if path == self.file.path:
                            # JobEventLog sniffs the format from the file's first bytes: a log that
                            # starts with anything but an event (a '...' line, a garbled first
                            # event) reads as no events at all. Read the whole ones on their own.
                            self._parse_alone(run[index - 1:], records)
                            return
                        self._bad(piece, "htcondor2 found no event here although the event is whole; skipped")
                        break
                    except htcondor2.HTCondorException as err:
                        self._bad(piece, f"htcondor2 cannot read this event ({err}); it is skipped")
                        break
                    except UnicodeDecodeError as err:  # the bindings decode an event's text as UTF-8
                        self._bad(piece, f"this event is not UTF-8 text (byte {err.start} of what htcondor2 read:"
                                         f" {err.reason}); it is skipped",
                                  cluster_id=int(header[2]), proc_id=int(header[3]))
                        break
                    reached = _offset_of(event_log)
                    if reached != end:
                        self._bad(piece, f"htcondor2 ended this event {reached - end:+d} bytes from its '...' line; "
                                         "the event is skipped")
                        break
                    record = self._text_record(piece, header, event)
                    if record is not None:
                        records.append(record)
            finally:
                event_log.close()

    def _parse_alone(self, run: list[tuple[_Piece, re.Match[bytes]]], records: list[JobEventRecord]) -> None:
        """:meth:`_parse_in` over a private copy of the pieces, which starts with an event."""
        spans, position = [], 0
        for piece, _ in run:
            spans.append((position, position + len(piece.data)))
            position += len(piece.data)
        with tempfile.NamedTemporaryFile(prefix="prodops-events-", suffix=".log") as copy:
            copy.write(b"".join(piece.data for piece, _ in run))
            copy.flush()
            self._parse_in(copy.name, spans, run, records)

    def _text_record(self, piece: _Piece, header: re.Match[bytes], event: htcondor2.JobEvent) -> JobEventRecord | None:
        data = _event_data(event)
        if header[5] is not None:  # an old header without a year: date it from the submission
            when = self._dated(int(header[5]), int(header[6]), header[7].decode(), piece)
            if when is None:
                return None
            data["EventTime"] = when.isoformat()
            event_time = when.timestamp()
        else:
            event_time = _event_time(data, event)
        number = data.get("EventTypeNumber")
        event_type = _EVENT_TYPES[number] if number.__class__ is int and number in _EVENT_TYPES else event.type.name
        if event_type == "JOB_HELD":
            self._check_hold_code(piece, data)
        cluster, proc = data.get("Cluster"), data.get("Proc", -1)  # the event's ad has no Proc when it is < 0
        if type(cluster) is not int or type(proc) is not int:
            cluster, proc = event.cluster, event.proc
        return JobEventRecord(
            cluster_id=int(cluster), proc_id=int(proc), event_type=event_type,
            event_time=event_time, data=data, log_offset=self.file.base + piece.end,
        )

    def _check_hold_code(self, piece: _Piece, data: dict[str, Any]) -> None:
        """htcondor2 reads a garbled or missing ``Code N Subcode M`` line as code 0: make it None.

        The line follows the reason (``condor_event.cpp`` writes reason and codes on two lines
        after ``Job was held.``); an old log without it has no codes (None, not a problem).
        """
        lines = piece.data.split(b"\n")
        body = [line for line in lines[1:] if line.strip() and line != b"..."]
        if len(body) == 1 and _HOLD_CODE.fullmatch(body[0].decode("utf-8", "replace")):
            body.insert(0, b"")  # codes without a reason line
        if len(body) < 2:
            data["HoldReasonCode"] = data["HoldReasonSubCode"] = None
            return
        text = body[1].decode("utf-8", "replace")
        match = _HOLD_CODE.fullmatch(text)
        if match is None:
            data["HoldReasonCode"] = data["HoldReasonSubCode"] = None
            at = piece.data.index(body[1])
            self._bad(piece, "the hold event's 'Code N Subcode M' line is garbled: its codes are recorded "
                             "as unknown (None), not 0", line_at=at, line=body[1],
                      cluster_id=data.get("Cluster"), proc_id=data.get("Proc"))
        else:
            data["HoldReasonCode"], data["HoldReasonSubCode"] = int(match[1]), int(match[2])

    def _dated(self, month: int, day: int, clock: str, piece: _Piece) -> datetime | None:
        """A yearless header's local time, in the year the submission (or the file's mtime) implies."""
        hour, minute, second = (int(x) for x in clock.split(":"))
        if self.submitted is not None:
            floor = self.submitted - 86400
            year = datetime.fromtimestamp(floor).year
            years, ok = range(year, year + 5), lambda t: t.timestamp() >= floor
        else:
            if self._mtime is None:
                self._mtime = os.path.getmtime(self.file.path)
            ceiling = self._mtime + 86400
            year = datetime.fromtimestamp(ceiling).year
            years, ok = range(year, year - 5, -1), lambda t: t.timestamp() <= ceiling
        for candidate in years:
            try:
                when = datetime(candidate, month, day, hour, minute, second)
            except ValueError:
                continue  # 02/29 outside a leap year, or a garbled date
            if ok(when):
                return when
        self._bad(piece, f"the header's date {month:02d}/{day:02d} {clock} is not a date in any year near the "
                         "submission; the event is skipped")
        return None

    # -- XML: each event is a ClassAd in HTCondor's XML form, parsed strictly here

    def _xml(self, pieces: list[_Piece], records: list[JobEventRecord]) -> None:
        for piece in pieces:
            if self._blank(piece):
                continue
            prolog = _XML_PROLOG.match(piece.data)
            body = piece.data[prolog.end():] if prolog else piece.data
            if not body.startswith(b"<c>"):
                at = len(piece.data) - len(body)
                self._bad(piece, "text between events that is not an XML event (<c>...</c>); skipped", line_at=at)
                continue
            if not piece.terminated:
                self._bad(piece, "this XML event has no closing </c> before the next event (it was cut while "
                                 "written); it is skipped")
                continue
            record = self._xml_record(piece, len(piece.data) - len(body))
            if record is not None:
                records.append(record)

    def _xml_record(self, piece: _Piece, at: int) -> JobEventRecord | None:
        """The record of one XML event (``piece.data[at:]`` is its ``<c>...</c>``), or None and a problem."""
        try:
            root = ElementTree.fromstring(piece.data[at:])
        except ElementTree.ParseError as err:
            row = err.position[0] - 1
            line_at = at + sum(len(x) + 1 for x in piece.data[at:].split(b"\n")[:row])
            self._bad(piece, f"this XML event is not well-formed ({err}); skipped", line_at=min(line_at, len(piece.data)))
            return None
        bad: list[str] = []
        data = _xml_ad(root, bad)
        number, cluster, proc = data.get("EventTypeNumber"), data.get("Cluster"), data.get("Proc", -1)
        if type(number) is not int or type(cluster) is not int or type(proc) is not int:
            self._bad(piece, "this XML event lacks an integer EventTypeNumber, Cluster or Proc; skipped")
            return None
        if number not in _EVENT_TYPES:
            self._bad(piece, f"event number {number} is not an event type these bindings know "
                             f"({min(_EVENT_TYPES)}..{max(_EVENT_TYPES)}); the event is skipped",
                      line_at=max(piece.data.find(b'<a n="EventTypeNumber">'), 0), cluster_id=cluster, proc_id=proc)
            return None
        when = data.get("EventTime")
        try:
            event_time = datetime.fromisoformat(when).timestamp() if isinstance(when, str) else None
        except ValueError:
            event_time = None
        if event_time is None:
            self._bad(piece, f"this XML event's EventTime {when!r} is not an ISO time; skipped",
                      cluster_id=cluster, proc_id=proc)
            return None
        for name in bad:
            at = piece.data.find(f'<a n="{name}">'.encode())
            self._bad(piece, f"attribute {name} of this {_EVENT_TYPES[number]} event has a value of the wrong type; "
                             "it is recorded as unknown (None)", line_at=max(at, 0), cluster_id=cluster, proc_id=proc)
        return JobEventRecord(
            cluster_id=cluster, proc_id=proc, event_type=_EVENT_TYPES[number], event_time=event_time,
            data=data, log_offset=self.file.base + piece.end,
        )


_XML_SCALARS: dict[str, Any] = {"i": int, "r": float}


def _xml_value(element: ElementTree.Element, name: str, bad: list[str]) -> Any:
    """One ``<a>`` value as Python: the same types :func:`_event_data` gives for a text event."""
    tag = element.tag
    text = element.text or ""
    if tag == "s" or tag in ("e", "at", "rt"):  # strings; expressions and times as their text
        return text
    if tag in _XML_SCALARS:
        try:
            return _XML_SCALARS[tag](text.strip())
        except ValueError:
            bad.append(name)
            return None
    if tag == "b":
        flag = element.get("v")
        if flag in ("t", "f"):
            return flag == "t"
        bad.append(name)
        return None
    if tag in ("u", "er"):
        return None
    if tag == "c":
        return _xml_ad(element, bad, prefix=f"{name}.")
    if tag == "l":
        return [_xml_value(item, name, bad) for item in element]
    bad.append(name)
    return None


def _xml_ad(element: ElementTree.Element, bad: list[str], prefix: str = "") -> dict[str, Any]:
    ad: dict[str, Any] = {}
    for attribute in element:
        name = attribute.get("n")
        if attribute.tag != "a" or not name:
            bad.append(f"{prefix}<{attribute.tag}>")
            continue
        values = list(attribute)
        if len(values) != 1:
            bad.append(prefix + name)
            ad[name] = None
            continue
        ad[name] = _xml_value(values[0], prefix + name, bad)
    return ad


@dataclass(frozen=True)
class EventBlock:
    """One event of a log as a person reads it: its job, first line number and lines."""

    cluster_id: int | None
    proc_id: int | None
    first_line: int
    lines: list[str]


_XML_JOB = re.compile(r'<a n="Cluster"><i>(-?\d+)</i></a>|<a n="Proc"><i>(-?\d+)</i></a>')
_END_LINE = {TEXT: "...", XML: "</c>"}
_LEADING = {
    TEXT: re.compile(r"(?:[^\S\n]*\n)*"),  # blank lines
    XML: re.compile(r"(?:[^\S\n]*(?:(?:<\?[^>\n]*\?>|<!DOCTYPE[^>\n]*>|</?classads>)[^\S\n]*)*\n)*"),  # and the prolog
}
_TEXT_HEADER_STR = re.compile(_TEXT_HEADER.pattern.decode())


def event_blocks(text: str, *, fmt: str | None = None, jobs: Container[tuple[int, int]] | None = None,
                 ) -> list[EventBlock]:
    """The events of a log's text (either format), for tails: each with its job and line numbers.

    Line numbers count from 1 at the start of ``text``; end markers (``...``) are left out
    of the lines, an XML event keeps its closing ``</c>``; blank lines (and the XML prolog)
    before an event are not its lines. Text that names no job (a cut first event of a
    bounded read) has None. ``fmt`` (:data:`TEXT` or :data:`XML`) says the format; None
    sniffs it from the text, which is right only when the text starts at the log's start or
    at an event (a bounded read from the end may start inside a line that starts with
    ``<``). With ``jobs``, only the events of those ``(cluster, proc)`` are returned, and the
    others are never split into lines. A last event without its end marker (still being
    written) is left out.
    """
    if fmt is None:
        fmt = XML if text.lstrip().startswith("<") else TEXT
    xml = fmt == XML
    leading, header_of, marker = _LEADING[fmt].match, _TEXT_HEADER_STR.match, _END_LINE[fmt]
    plain = "<c>" if xml else tuple("0123456789")  # how an event starts when nothing comes before it
    blocks: list[EventBlock] = []
    position, line_no = 0, 1
    for start in _lines_equal_to(text, marker):
        chunk = text[position:start]  # the event's lines, each ending in a newline
        first = line_no
        line_no += chunk.count("\n") + 1
        position = start + len(marker) + 1
        if chunk.startswith(plain):
            skip = 0
        else:
            blank = leading(chunk)
            assert blank is not None  # the pattern matches the empty string too
            skip = blank.end()
        if skip:
            first += chunk.count("\n", 0, skip)
            chunk = chunk[skip:]
        cluster = proc = None
        if xml:
            for match in _XML_JOB.finditer(chunk):
                if match[1] is not None:
                    cluster = int(match[1])
                else:
                    proc = int(match[2])
        elif (header := header_of(chunk)) is not None:
            cluster, proc = int(header[2]), int(header[3])
        if jobs is not None and (cluster is None or proc is None or (cluster, proc) not in jobs):
            continue
        lines = chunk[:-1].split("\n") if chunk else []
        if xml:
            lines.append(marker)
        if lines:
            blocks.append(EventBlock(cluster, proc, first, lines))
    return blocks


def _lines_equal_to(text: str, marker: str) -> Iterator[int]:
    """Where each line of ``text`` that is exactly ``marker`` starts (str.find: no regex per byte)."""
    after = len(marker)
    if text.startswith(marker) and (len(text) == after or text[after] == "\n"):
        yield 0
    needle = "\n" + marker
    found = text.find(needle)
    while found >= 0:
        start = found + 1
        end = start + after
        if end == len(text) or text[end] == "\n":
            yield start
        found = text.find(needle, end)
