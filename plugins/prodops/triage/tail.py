"""The last lines of a job's stdout, stderr and event log, read from the end of the file.

Reading is bounded in bytes whatever the file holds (a 1 GB log, a binary dump, one line
without a newline), so triage of 20,000 jobs never loads whole files. Paths come from the
submission record only: the workdir is resolved once, file names are fixed patterns
without separators, and files are opened with ``O_NOFOLLOW`` so a symlink planted in the
workdir cannot point triage at anything outside it. Non-regular files (FIFOs, devices) are
refused without blocking; missing files are reported, not raised.

A file that grows while it is read is read up to the size it had when opened: the tail is a
consistent snapshot, and a last line without a newline is kept as it is.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodops.batch.eventlog import TEXT, XML, EventBlock, event_blocks
from prodops.batch.submit import ERROR_PATTERN, EVENT_LOG_NAME, OUTPUT_PATTERN
from prodops.exceptions import ProdopsError
from prodops.triage.literals import JoinedLines, lines_holding

LINE_CHOICES = (10, 50, 200)
DEFAULT_LINES = 50
MAX_LINES = max(LINE_CHOICES)
BYTES_PER_LINE = 2048
"""Read at most this many bytes per wanted line: 50 lines -> 100 KiB."""
MAX_TAIL_BYTES = 1 << 20
MAX_LINE_CHARS = 2000
"""A longer line is cut (with a note), so one runaway line cannot fill a page or a row."""
EVENT_LOG_MAX_BYTES = 64 << 20
"""The shared event log is read once per submission, at most this much from its end."""
_BLOCK = 64 << 10

STDOUT, STDERR, EVENTLOG, REASON = "stdout", "stderr", "eventlog", "reason"
STREAMS = (STDOUT, STDERR, EVENTLOG, REASON)
"""Where evidence can come from; ``reason`` is the job's HoldReason/RemoveReason text."""

_XML_EVENT_START = re.compile(r"(?m)^<c>$")
_SNIFF = 4096
_CONTROL = {c: "\ufffd" for c in range(32) if chr(c) not in "\t\x1b"}
_CONTROL[0x7F] = "\ufffd"


class LogPathRefused(ProdopsError):
    """A log path from the submission record points outside the submission's workdir."""


class Tail:
    """The last lines of one stream, with where they sit in the file when that is known.

    A tail read from a file keeps the raw bytes of its lines (``raw``) and decodes them only
    when ``lines`` is first asked for: the pattern library reads line *shapes* straight from
    the bytes, so most of a 20,000-job triage never decodes a stdout at all.
    """

    __slots__ = ("stream", "path", "_lines", "raw", "count", "status", "first_line", "numbers", "size",
                 "bytes_read", "truncated", "binary", "error", "reports", "triggers")

    def __init__(self, stream: str, path: str | None, lines: list[str] | None = None, status: str = "ok",
                 first_line: int | None = None, numbers: list[int | None] | None = None, size: int = 0,
                 bytes_read: int = 0, truncated: bool = False, binary: bool = False, error: str | None = None,
                 raw: bytes | None = None, count: int | None = None) -> None:
        self.stream, self.path, self.status, self.error = stream, path, status, error
        self._lines = lines if lines is not None or raw is not None else []
        self.raw = raw
        """The kept lines' bytes joined by newlines (None when built from text)."""
        self.count = len(self._lines) if self._lines is not None else (count or 0)
        self.first_line = first_line
        """1-based line number of ``lines[0]`` in the file; None when the file is larger than what was read."""
        self.numbers = numbers
        """Per-line numbers when lines are not consecutive (a job's events in the shared event log)."""
        self.size, self.bytes_read = size, bytes_read
        self.truncated = truncated
        """The file holds more than these lines (or a line was cut)."""
        self.binary = binary
        """NUL bytes were found: control characters are shown as U+FFFD."""
        self.reports: tuple[Any, ...] | None = None
        """The framework reports in the lines, once parsed (:func:`prodops.triage.parsers.parse_tail`)."""
        self.triggers: tuple[str, ...] | None = None
        """The report triggers its raw bytes hold, when a batch scan found them (None: not scanned)."""

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines, cut = self._decode(self.raw or b"")
            self.truncated |= cut
        return self._lines

    @property
    def decoded(self) -> bool:
        """Whether :attr:`lines` is decoded already (reading it then costs nothing more)."""
        return self._lines is not None

    def _decode(self, raw: bytes) -> tuple[list[str], bool]:
        """Lines of raw bytes as :attr:`lines` has them, and whether one was cut for its length. Any
        run of whole lines decodes as it does in the whole tail (a newline is never part of a UTF-8
        sequence, and each line drops one trailing CR)."""
        text = raw.decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n") if raw else []
        if lines and lines[-1].endswith("\r"):
            lines[-1] = lines[-1][:-1]
        cut = False
        if self.binary or (len(text) > MAX_LINE_CHARS and max(map(len, lines)) > MAX_LINE_CHARS):
            cut = max(map(len, lines)) > MAX_LINE_CHARS
            lines = [_clean(line, self.binary) for line in lines]
        return lines, cut

    def holding(self, *needles: str) -> list[int]:
        """Indexes of the lines holding any of ``needles``, in order. A tail not decoded yet is
        searched in its raw bytes and only the lines found are decoded, to confirm them (the bytes
        hold every needle the lines hold; a line cut for its length may have lost one)."""
        if self._lines is not None or self.raw is None:
            return JoinedLines(self.lines).holding(*needles)
        found = lines_holding(self.raw, needles)
        if not found:
            return found
        raw = self._raw_lines()
        return [i for i in found if any(n in self._one(raw[i]) for n in needles)]

    def line(self, index: int) -> str:
        """``lines[index]``, decoding only that line while the others are not asked for."""
        if self._lines is not None or self.raw is None:
            return self.lines[index]
        return self._one(self._raw_lines()[index])

    def last_lines(self, n: int) -> list[tuple[int, str]]:
        """The last ``n`` lines as (index, text), decoding only them while the others are not asked for."""
        if self._lines is not None or not self.raw:
            lines = self.lines
            return list(enumerate(lines))[max(0, len(lines) - n):]
        raw, cut = self.raw, len(self.raw)
        for _ in range(n):
            cut = raw.rfind(b"\n", 0, cut)
            if cut < 0:
                break
        lines = self._decode(raw[cut + 1:])[0] if n > 0 else []
        first = raw.count(b"\n") + 1 - len(lines)
        return list(enumerate(lines, first))

    def _raw_lines(self) -> list[bytes]:
        return self.raw.split(b"\n") if self.raw else []

    def _one(self, raw: bytes) -> str:
        return self._decode(raw)[0][0] if raw else ""

    def __repr__(self) -> str:
        return f"Tail({self.stream!r}, {self.path!r}, status={self.status!r}, lines={self.count})"

    def line_number(self, index: int) -> int | None:
        if self.numbers is not None:
            return self.numbers[index]
        return None if self.first_line is None else self.first_line + index

    def from_end(self, index: int) -> int:
        """1 for the last line: where the line is when the file is bigger than what was read."""
        return self.count - index

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream, "path": self.path, "status": self.status, "size": self.size,
            "bytes_read": self.bytes_read, "truncated": self.truncated, "binary": self.binary, "error": self.error,
            "lines": [{"n": self.line_number(i), "from_end": self.from_end(i), "text": t} for i, t in enumerate(self.lines)],
        }


def check_lines(lines: int) -> int:
    """A tail length a person may ask for: 1..200 (the UI offers 10, 50 and 200)."""
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LINES:
        raise ValueError(f"lines={lines!r}: ask for 1 to {MAX_LINES} lines (10, 50 or 200)")
    return lines


def _clean(text: str, binary: bool) -> str:
    if binary:
        text = text.translate(_CONTROL)
    if len(text) > MAX_LINE_CHARS:
        text = f"{text[:MAX_LINE_CHARS]} ...[{len(text) - MAX_LINE_CHARS} more characters cut]"
    return text


def _open(path: str | os.PathLike[str]) -> tuple[int | None, str | None, str | None]:
    """(fd, status, error): never follows a symlink, never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, "missing", None
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, "refused", f"{path} is a symbolic link; triage reads only regular files in the workdir"
        return None, "unreadable", f"{path}: {err.strerror}"
    return fd, None, None


def read_tail(path: str | os.PathLike[str], *, lines: int = DEFAULT_LINES, stream: str = STDOUT,
              max_bytes: int | None = None) -> Tail:
    """The last ``lines`` lines of a regular file, reading at most ``max_bytes`` from its end."""
    path = os.fspath(path)
    tail = Tail(stream=stream, path=path)
    fd, status, error = _open(path)
    if fd is None:
        tail.status, tail.error = status or "unreadable", error
        return tail
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            tail.status, tail.error = "refused", f"{path} is not a regular file"
            return tail
        size = tail.size = st.st_size
        if size == 0:
            tail.status = "empty"
            return tail
        bound = min(max_bytes or lines * BYTES_PER_LINE, MAX_TAIL_BYTES)
        chunks: deque[bytes] = deque()
        pos, got, newlines = size, 0, 0
        while pos > 0 and got < bound and newlines <= lines:
            n = min(_BLOCK, pos, bound - got)
            data = os.pread(fd, n, pos - n)  # shorter if the file was truncated under us
            pos -= n
            got += len(data)
            chunks.appendleft(data)
            newlines += data.count(b"\n")
    except OSError as err:
        tail.status, tail.error = "unreadable", f"{path}: {err.strerror}"
        return tail
    finally:
        os.close(fd)
    data = b"".join(chunks)
    tail.bytes_read = len(data)
    whole = pos == 0
    if not whole:
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            data = data[cut + 1:]  # the first line is only partly read
            newlines -= 1
    _fill(tail, data, lines, whole, newlines)
    return tail


def _fill(tail: Tail, data: bytes, lines: int, whole: bool, newlines: int | None = None) -> None:
    """Keep the last ``lines`` lines' bytes; decoding waits until someone reads ``tail.lines``.
    ``newlines``: how many ``data`` holds, when the reader counted them already."""
    if newlines is None:
        newlines = data.count(b"\n")
    if data.endswith(b"\n"):
        data = data[:-1]
        newlines -= 1
    parts = newlines + 1
    if parts > lines:
        if parts - lines < lines:  # fewer lines to drop than to keep: count them from the start
            cut = -1
            for _ in range(parts - lines):
                cut = data.find(b"\n", cut + 1)
        else:
            cut = len(data)
            for _ in range(lines):
                cut = data.rfind(b"\n", 0, cut)
        data = data[cut + 1:]
    tail.raw, tail._lines = data, None
    tail.count = min(parts, lines)
    tail.binary = b"\x00" in data
    tail.truncated = not whole or parts > lines
    tail.first_line = (parts - tail.count + 1) if whole else None


@dataclass(frozen=True)
class LogLocation:
    """Where a submission's logs are, from its record: the resolved workdir and the event log in it."""

    workdir: Path
    event_log: Path

    @classmethod
    def from_submission(cls, row: Mapping[str, Any]) -> LogLocation:
        """From a ``submissions`` row (``workdir``, ``event_log``); refuses an event log outside the workdir."""
        raw = row.get("workdir")
        if not raw:
            raise LogPathRefused(f"submission {row.get('id')} has no workdir; it was never submitted")
        root = Path(raw).resolve()
        event_log = Path(row.get("event_log") or root / EVENT_LOG_NAME)
        if not event_log.is_absolute():
            event_log = root / event_log
        event_log = event_log.resolve()
        if not event_log.is_relative_to(root):
            raise LogPathRefused(
                f"submission {row.get('id')}: event log {str(event_log)!r} is outside its workdir {str(root)!r};"
                " triage reads only files inside the workdir: fix the submission record"
            )
        return cls(workdir=root, event_log=event_log)

    def job_file(self, pattern: str, proc_id: int) -> str:
        """A job's file in the workdir: a fixed name pattern and a job number, nothing else."""
        if isinstance(proc_id, bool) or not isinstance(proc_id, int) or proc_id < 0:
            raise LogPathRefused(f"proc_id={proc_id!r} is not a job number (an integer >= 0)")
        return os.path.join(self.workdir, pattern.replace("$(ProcId)", str(proc_id)))

    def stdout(self, proc_id: int) -> str:
        return self.job_file(OUTPUT_PATTERN, proc_id)

    def stderr(self, proc_id: int) -> str:
        return self.job_file(ERROR_PATTERN, proc_id)


def event_log_tails(path: str | os.PathLike[str], *, lines: int = DEFAULT_LINES, max_bytes: int = EVENT_LOG_MAX_BYTES,
                    jobs: set[tuple[int, int]] | None = None) -> tuple[dict[tuple[int, int], Tail], Tail]:
    """Each job's last ``lines`` event-log lines, from one bounded read of the shared log.

    Returns ({(cluster, proc): tail}, the file's own read status). A job's lines are its
    events (text: header and body lines, without the ``...`` separators; XML: each event's
    ``<c>`` ... ``</c>`` lines), numbered as in the file when the whole file was read. The
    format (text or XML, as HTCondor writes them) is the file's, read from its first bytes;
    events are split by :func:`prodops.batch.eventlog.event_blocks`.
    """
    whole_tail = Tail(stream=EVENTLOG, path=str(path))
    found: dict[tuple[int, int], Tail] = {}
    fd, status, error = _open(path)
    if fd is None:
        whole_tail.status, whole_tail.error = status or "unreadable", error
        return found, whole_tail
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            whole_tail.status, whole_tail.error = "refused", f"{path} is not a regular file"
            return found, whole_tail
        size = st.st_size
        start = max(0, size - max_bytes)
        data = os.pread(fd, size - start, start) if size else b""
        head = data[:_SNIFF] if start == 0 else os.pread(fd, _SNIFF, 0)
    except OSError as err:
        whole_tail.status, whole_tail.error = "unreadable", f"{path}: {err.strerror}"
        return found, whole_tail
    finally:
        os.close(fd)
    if not data:
        whole_tail.status = "empty"
        return found, whole_tail
    whole = start == 0
    whole_tail.size, whole_tail.bytes_read, whole_tail.truncated = size, len(data), not whole
    binary = b"\x00" in data
    fmt = XML if head.lstrip()[:1] == b"<" else TEXT
    text = data.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if not whole and fmt == XML:
        first = _XML_EVENT_START.search(text)  # the first whole event: a top-level <c> at a line's start
        text = text[first.start():] if first is not None else ""
    per_job: dict[tuple[int, int], list[EventBlock]] = {}
    for block in event_blocks(text, fmt=fmt, jobs=jobs):
        if block.cluster_id is None or block.proc_id is None:
            continue  # the partial first event of a bounded text read
        key = (block.cluster_id, block.proc_id)
        listed = per_job.get(key)
        if listed is None:
            per_job[key] = [block]
        else:
            listed.append(block)
    for key, blocks in per_job.items():
        # a job's last ``lines`` lines: whole events from the end, then the lines of those
        since, count = len(blocks), 0
        while since > 0 and count < lines:
            since -= 1
            count += len(blocks[since].lines)
        kept: list[str] = []
        numbers: list[int | None] = []
        for block in blocks[since:]:
            kept += block.lines
            if whole:
                numbers += range(block.first_line, block.first_line + len(block.lines))
        if len(kept) > lines:
            del kept[:-lines], numbers[:-lines]
        found[key] = Tail(
            stream=EVENTLOG, path=str(path), lines=[_clean(t, binary) for t in kept] if binary else kept,
            numbers=numbers if whole else [None] * len(kept), size=size, bytes_read=len(data),
            truncated=not whole, binary=binary, first_line=None,
        )
    return found, whole_tail


@dataclass
class JobTail:
    """What triage reads of one attempt: its stdout, stderr and event-log tails."""

    stdout: Tail
    stderr: Tail
    eventlog: Tail

    def streams(self) -> dict[str, Tail]:
        return {STDOUT: self.stdout, STDERR: self.stderr, EVENTLOG: self.eventlog}

    def to_dict(self) -> dict[str, Any]:
        return {name: t.to_dict() for name, t in self.streams().items()}


def job_tail(location: LogLocation, cluster_id: int, proc_id: int, *, lines: int = DEFAULT_LINES,
             events: Mapping[tuple[int, int], Tail] | None = None) -> JobTail:
    """The three tails of one attempt; ``events`` is a submission's :func:`event_log_tails` when batching."""
    check_lines(lines)
    if events is None:
        events, log_tail = event_log_tails(location.event_log, lines=lines, jobs={(cluster_id, proc_id)})
    else:
        log_tail = Tail(stream=EVENTLOG, path=str(location.event_log))
    eventlog = events.get((cluster_id, proc_id))
    if eventlog is None:
        eventlog = Tail(stream=EVENTLOG, path=str(location.event_log),
                        status=log_tail.status if log_tail.status != "ok" else "empty", error=log_tail.error)
    return JobTail(
        stdout=read_tail(location.stdout(proc_id), lines=lines, stream=STDOUT),
        stderr=read_tail(location.stderr(proc_id), lines=lines, stream=STDERR),
        eventlog=eventlog,
    )
