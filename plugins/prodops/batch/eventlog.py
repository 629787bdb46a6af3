"""HTCondor job event logs: a writer for the local pool and the reader every backend uses.

The writer produces the text format of HTCondor's user log (``condor_event.cpp``) so that
``htcondor2.JobEventLog`` parses it exactly as it parses a real pool's log. Each event is
one ``os.write`` on an ``O_APPEND`` descriptor, so a reader sees an event whole or, after a
crash mid-write, a partial tail that :meth:`EventLogWriter.repair` removes.

The reader resumes at a stored byte offset. htcondor2 exposes that offset only through
pickling (``JobEventLog.__getstate__`` returns ``(state, offset)``, ``__setstate__``
restores it), wrapped here in :func:`_open_at` and :func:`_offset_of`. ``JobEventLog``
waits (or blocks) on a partly written last event, so the reader first finds where the
last complete event ends (its ``...`` line) and never asks for more events than that.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import classad2
import htcondor2
import msgspec

from prodops.batch.base import JobEventRecord
from prodops.exceptions import BadEventLog

log = logging.getLogger(__name__)

SYNC_LINE = b"...\n"
_SYNC = re.compile(rb"(?m)^\.\.\.\n")
_RUSAGE = re.compile(r"Usr (\d+) (\d+):(\d+):(\d+), Sys (\d+) (\d+):(\d+):(\d+)")
_SCAN_CHUNK = 1 << 20


class EventType:
    """HTCondor user-log event numbers the local pool writes."""

    SUBMIT = 0
    EXECUTE = 1
    JOB_EVICTED = 4
    JOB_TERMINATED = 5
    IMAGE_SIZE = 6
    JOB_ABORTED = 9
    JOB_HELD = 12
    JOB_RELEASED = 13


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

    def _event(self, number: int, cluster: int, proc: int, body: str, when: float | None) -> str:
        text = format_event(number, cluster, proc, body, when)
        self.append(text)
        return text

    def submit(self, cluster: int, proc: int, *, when: float | None = None, notes: str = "") -> str:
        body = f"Job submitted from host: {self.address}\n"
        if notes:
            body += f"    {_one_line(notes)}\n"
        return self._event(EventType.SUBMIT, cluster, proc, body, when)

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
        return self._event(EventType.EXECUTE, cluster, proc, body, when)

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
        return self._event(EventType.IMAGE_SIZE, cluster, proc, body, when)

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
        return self._event(EventType.JOB_TERMINATED, cluster, proc, body, when)

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
        return self._event(EventType.JOB_EVICTED, cluster, proc, body, when)

    def held(
        self, cluster: int, proc: int, *, reason: str, code: int, subcode: int = 0, when: float | None = None
    ) -> str:
        body = f"Job was held.\n\t{_one_line(reason) or 'Reason unspecified'}\n\tCode {int(code)} Subcode {int(subcode)}\n"
        return self._event(EventType.JOB_HELD, cluster, proc, body, when)

    def released(self, cluster: int, proc: int, *, reason: str, when: float | None = None) -> str:
        body = "Job was released.\n" + (f"\t{_one_line(reason)}\n" if reason else "")
        return self._event(EventType.JOB_RELEASED, cluster, proc, body, when)

    def aborted(self, cluster: int, proc: int, *, reason: str, when: float | None = None) -> str:
        body = "Job was aborted.\n" + (f"\t{_one_line(reason)}\n" if reason else "")
        return self._event(EventType.JOB_ABORTED, cluster, proc, body, when)


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


def _complete_events(path: str, offset: int, limit: int | None) -> tuple[int, int]:
    """How many whole events follow ``offset`` (at most ``limit``), and where the last one ends.

    ``offset`` is a line start, and each window is cut after its last newline, so ``^`` in
    the pattern only ever matches at a real line start.
    """
    count, boundary = 0, offset
    with open(path, "rb") as f:
        f.seek(offset)
        base, pending = offset, b""
        while chunk := f.read(_SCAN_CHUNK):
            data = pending + chunk
            for match in _SYNC.finditer(data):
                count += 1
                boundary = base + match.end()
                if limit is not None and count >= limit:
                    return count, boundary
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            base += cut
    return count, boundary


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
    data = _decode(ad.printJson())
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


def read_events(
    path: str | os.PathLike[str], offset: int = 0, *, limit: int | None = None
) -> tuple[list[JobEventRecord], int]:
    """Whole events after byte ``offset`` and the offset to resume from next time.

    A missing log has no events yet. A partly written last event is left for the next call.
    ``limit`` caps how many events one call returns.
    """
    path = os.fspath(path)
    if offset < 0:
        raise BadEventLog(f"event log {path}: offset {offset} is negative; resume from 0 or a stored offset")
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        if offset:
            raise BadEventLog(
                f"event log {path} is gone but offset {offset} was stored for it; "
                "restore the log or reset the submission's event offset to 0"
            ) from None
        return [], 0
    if offset > size:
        raise BadEventLog(
            f"event log {path} has {size} bytes but offset {offset} was stored for it; the log was replaced: "
            "reset the submission's event offset to 0 to read it again"
        )
    if offset and not _ends_event(path, offset):
        raise BadEventLog(
            f"event log {path}: offset {offset} is not the end of an event; "
            "use an offset returned by read_events (or 0)"
        )
    count, boundary = _complete_events(path, offset, limit)
    if not count:
        return [], offset
    records: list[JobEventRecord] = []
    position = offset
    try:
        event_log = _open_at(path, offset)
    except (OSError, htcondor2.HTCondorException) as err:
        raise BadEventLog(f"event log {path} cannot be opened: {err}") from err
    try:
        events = event_log.events(stop_after=0)
        while len(records) < count and position < boundary:
            try:
                event = next(events)
            except StopIteration:
                break
            position = _offset_of(event_log)
            data = _event_data(event)
            records.append(
                JobEventRecord(
                    cluster_id=int(event.cluster),
                    proc_id=int(event.proc),
                    event_type=event.type.name,
                    event_time=_event_time(data, event),
                    data=data,
                    log_offset=position,
                )
            )
    except htcondor2.HTCondorException as err:
        raise BadEventLog(f"event log {path}: unreadable event after offset {position}: {err}") from err
    finally:
        event_log.close()
    if position > boundary:
        raise BadEventLog(
            f"event log {path}: the reader went past the last complete event ({position} > {boundary}); "
            "the log holds text that is not HTCondor events"
        )
    return records, position


def _ends_event(path: str, offset: int) -> bool:
    if offset < len(SYNC_LINE):
        return False
    with open(path, "rb") as f:
        f.seek(offset - len(SYNC_LINE))
        before = f.read(len(SYNC_LINE))
        if before != SYNC_LINE:
            return False
        if offset == len(SYNC_LINE):
            return True
        f.seek(offset - len(SYNC_LINE) - 1)
        return f.read(1) == b"\n"
