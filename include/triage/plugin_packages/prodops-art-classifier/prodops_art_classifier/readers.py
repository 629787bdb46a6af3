"""What art, ifdh and samweb print when they end or give up, read from a job's stdout and stderr tails.

Every line shape here is the tools' own, read in their source:

art (art-framework-suite/art at a05bbb550e05c51b2a410e7b17b8ccde22cf9c2f)
    ``art/Framework/Art/detail/ExitCodePrinter.h`` prints ``Art has completed and will exit with
    status N.`` to stdout whenever art ends by ``run_art`` (status 0 included);
    ``art/Framework/Art/run_art.cc`` prints ``Art has handled signal N.`` to stderr when the event
    loop stopped on a signal (the status is then 128 + N if ``services.scheduler.errorOnSIGINT``).
ifdh (fnal-fife/ifdhc at 7dc9eb7a755cc31f36a2f63b2ec0549675925dfc, ``ifdh/ifdh_cp.cc``, ``retry_system``)
    after each failed try but the last, stderr gets ``<ctime>`` (a line of its own: ctime ends in a
    newline), `` program: <command>exited status N``, ``delaying D ...``, ``<ctime>`` and
    `` retrying...``; the last failed try prints nothing more, and ifdh exits with the command's
    status. ``maxtries`` is ``IFDH_CP_MAXRETRIES + 1``, 9 by default. A command killed by a signal
    prints `` program: <command> died from signal N-- exiting.``; a copy into an existing
    directory without ``-D`` prints ``Perhaps you forgot a -D to indicate destination is a
    directory?`` and is not retried. ifdh's web calls (SAM projects) that keep failing throw
    ``<url>FetchError: Retry count exceeded`` (``util/WebAPI.cc``), printed as ``Exception: ...``
    (``ifdh/ifdh_sam.cc``, ``do_url_str``).
samweb (illingwo/sam-web-client at 0947120a7be74f42ae68bbbe39e64022c410effe)
    ``samweb_client/_exceptions.py``: ``SAMWebConnectionError`` / ``SAMWebSSLError`` when the
    server cannot be reached (after the client's own retries), ``SAMWebHTTPError`` whose text for a
    5xx answer is ``HTTP error: <code> <message>`` and, on the next line, ``URL: <url>``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prodops.triage.parsers import FrameworkError, parse_tail
from prodops.triage.patterns import required_literals
from prodops.triage.tail import Tail

ART_STATUS = re.compile(r"Art has completed and will exit with status (-?\d+)\.")
ART_SIGNAL = re.compile(r"Art has handled signal (\d+)\.")
IFDH_FAILED = re.compile(r"\bprogram: (?P<command>.+?)\s*exited status (?P<status>-?\d+)\s*$")
IFDH_KILLED = re.compile(r"\bprogram: (?P<command>.+?)\s*died from signal (?P<signal>\d+)-- exiting\.")
IFDH_RETRYING = re.compile(r"^\s*(?:\w{3} \w{3} [ \d]\d [\d:]{8} \d{4} )?retrying\.\.\.\s*$")
IFDH_DASH_D = "Perhaps you forgot a -D to indicate destination is a directory?"
IFDH_FETCH = "FetchError: Retry count exceeded"
SAMWEB_CONNECTION = re.compile(r"\b(?:samweb_client\S*\.)?(SAMWebConnectionError|SAMWebSSLError)\b")
SAMWEB_HTTP_5XX = re.compile(r"^\s*HTTP error: (5\d\d)\b")
TOOL_ERROR = re.compile(r"(?i)\b(?:error|fail(?:ed|ure)?|refused|timed out|denied|no such|unreachable)\b")
IFDH_OWN = ("program: ", "delaying ", "retrying...", IFDH_DASH_D)
SAM_URL = re.compile(r"(?i)/sam/|samweb|sam-web|sam_web")
ART_HAS = "Art has"
SAM_NEEDLES = ("SAMWeb", "HTTP error: 5", IFDH_FETCH)
IFDH_NEEDLES = ("program: ", "retrying...", IFDH_DASH_D)
NEEDLES = (ART_HAS, *IFDH_NEEDLES, *SAM_NEEDLES)
"""Text the readers look for: a line holding none of it is read by none of them."""
TAIL_END = 10
"""How many last lines of each stream are searched for the validation marker."""


@dataclass(frozen=True)
class Line:
    """One line of a tail: where it is (``stream``, ``index`` into ``Tail.lines``) and its text."""

    stream: str
    index: int
    text: str

    @property
    def ref(self) -> tuple[str, int]:
        """The evidence reference prodops reads: ``(stream, index)``."""
        return (self.stream, self.index)


@dataclass(frozen=True)
class ArtEnd:
    """How art said it ended: its last status line, and the signal line if it stopped on one."""

    status: int | None
    status_line: Line | None
    signal: int | None = None
    signal_line: Line | None = None


@dataclass(frozen=True)
class IfdhGaveUp:
    """ifdh's retry loop for one command, as far as the tail shows it."""

    last_failure: Line
    command: str
    status: int | None
    retries: int
    """``retrying...`` lines in the tail (the tail may have lost earlier ones)."""
    killed_by: int | None = None
    dash_d: Line | None = None
    tool_error: Line | None = None
    """The transfer tool's own error line (ifdh echoes the command's stderr): the cause in its words."""
    lines_after: int = 0
    """Lines of the stream after ifdh's last ``program:`` / ``retrying...`` line: few when the job ended in
    the copy, many when it went on (the last try then succeeded, or its failure was ignored)."""


@dataclass(frozen=True)
class SamFailure:
    line: Line
    what: str
    """``connection`` (samweb could not be reached), ``http-5xx`` or ``fetch-retries`` (ifdh's SAM call)."""


class Stream:
    """One stream's tail: a reader looks for its words in all of its lines at once (in the raw bytes,
    while nothing decoded them yet) and visits only the lines that hold them (most tails hold none)."""

    __slots__ = ("name", "tail", "_hits")

    def __init__(self, name: str, tail: Tail) -> None:
        self.name, self.tail = name, tail
        self._hits = {i: tail.line(i) for i in tail.holding(*NEEDLES)}
        """The lines holding any reader's text (index: text), found in one search and decoded once."""

    @property
    def lines(self) -> Sequence[str]:
        """Every line, decoded: read only near a line a reader found."""
        return self.tail.lines

    def holding(self, *needles: str) -> list[Line]:
        """The lines holding any of ``needles`` (all of them among :data:`NEEDLES`), in order."""
        return [Line(self.name, i, text) for i, text in self._hits.items() if any(n in text for n in needles)]

    def reports(self) -> list[FrameworkError]:
        """The framework reports of the stream, parsed once whoever asks (prodops shares a tail's)."""
        return parse_tail(self.tail)


def _lines(streams: Sequence[Stream], *needles: str) -> Iterator[Line]:
    for s in streams:
        yield from s.holding(*needles)


def art_end(streams: Sequence[Stream]) -> ArtEnd:
    """art's last ``will exit with status`` line and ``handled signal`` line, in any stream."""
    status = status_line = signal = signal_line = None
    for line in _lines(streams, ART_HAS):
        m = ART_STATUS.search(line.text)
        if m:
            status, status_line = int(m.group(1)), line
            continue
        m = ART_SIGNAL.search(line.text)
        if m:
            signal, signal_line = int(m.group(1)), line
    return ArtEnd(status=status, status_line=status_line, signal=signal, signal_line=signal_line)


def ifdh_gave_up(streams: Sequence[Stream]) -> IfdhGaveUp | None:
    """The last command ifdh's retry loop reported failing, and the retries of that command seen."""
    last: Line | None = None
    loop_end: Line | None = None
    command, status, retries = "", None, 0
    dash_d: Line | None = None
    for line in _lines(streams, *IFDH_NEEDLES):
        text = line.text
        if "program: " in text:
            m = IFDH_KILLED.search(text)
            if m:
                return IfdhGaveUp(last_failure=line, command=m.group("command"), status=None, retries=retries,
                                  killed_by=int(m.group("signal")), dash_d=dash_d, lines_after=_after(streams, line))
            m = IFDH_FAILED.search(text)
            if m:
                if last is not None and m.group("command") != command:
                    retries = 0  # another command's loop: count its own retries only
                last = loop_end = line
                command, status = m.group("command"), int(m.group("status"))
        elif "retrying..." in text and IFDH_RETRYING.match(text):
            if last is not None:
                retries += 1
                loop_end = line
        elif IFDH_DASH_D in text:
            dash_d = line
    if last is None or loop_end is None:
        return None
    return IfdhGaveUp(last_failure=last, command=command, status=status, retries=retries, dash_d=dash_d,
                      tool_error=_tool_error(streams, last), lines_after=_after(streams, loop_end))


def _stream(streams: Sequence[Stream], name: str) -> Sequence[str]:
    return next(s.lines for s in streams if s.name == name)


def _after(streams: Sequence[Stream], line: Line) -> int:
    return len(_stream(streams, line.stream)) - 1 - line.index


def _tool_error(streams: Sequence[Stream], last: Line) -> Line | None:
    """The copy command's error: printed after ifdh's last ``program:`` line (the final try says no more),
    else the one just before it (the previous try's)."""
    lines = _stream(streams, last.stream)
    after = range(len(lines) - 1, last.index, -1)
    before = range(last.index - 1, max(-1, last.index - 10), -1)
    for index in (*after, *before):
        text = lines[index]
        if TOOL_ERROR.search(text) and not any(own in text for own in IFDH_OWN):
            return Line(last.stream, index, text)
    return None


def sam_failure(streams: Sequence[Stream]) -> SamFailure | None:
    """The first line that says samweb could not be reached or answered 5xx, or ifdh's SAM call gave up."""
    for line in _lines(streams, *SAM_NEEDLES):
        text = line.text
        if "SAMWeb" in text and SAMWEB_CONNECTION.search(text):
            return SamFailure(line, "connection")
        if "HTTP error: 5" in text and SAMWEB_HTTP_5XX.match(text):
            lines = _stream(streams, line.stream)
            nxt = lines[line.index + 1] if line.index + 1 < len(lines) else ""
            if nxt.lstrip().startswith("URL:") and SAM_URL.search(nxt):
                return SamFailure(line, "http-5xx")
        if IFDH_FETCH in text and SAM_URL.search(text):
            return SamFailure(line, "fetch-retries")
    return None


@functools.lru_cache(maxsize=16)
def _marker_words(pattern: re.Pattern[str]) -> tuple[bytes, ...]:
    """Lower-cased text every match of ``pattern`` holds (one of them); empty when it has none."""
    try:
        return tuple(w.encode() for w in required_literals(pattern.pattern, pattern.flags & re.IGNORECASE))
    except Exception:  # a pattern the literal reader cannot take apart: no shortcut, read the lines
        return ()


def _end_may_hold(tail: Tail, words: tuple[bytes, ...]) -> bool:
    """Whether the last :data:`TAIL_END` lines may hold one of ``words``, read in the raw bytes of a
    tail nothing decoded yet (most tails end without the marker: they are never decoded for it)."""
    raw = tail.raw
    if not words or raw is None or tail.decoded:
        return True
    cut = len(raw)
    for _ in range(TAIL_END):
        cut = raw.rfind(b"\n", 0, cut)
        if cut < 0:
            break
    end = raw[cut + 1:].lower()
    return any(w in end for w in words)


def marker(streams: Sequence[Stream], pattern: re.Pattern[str]) -> tuple[Line, str] | None:
    """The validation marker in the last :data:`TAIL_END` lines of a stream, and its ``why``."""
    words = _marker_words(pattern)
    for s in streams:
        if not _end_may_hold(s.tail, words):
            continue
        for index, text in reversed(s.tail.last_lines(TAIL_END)):
            m = pattern.search(text)
            if m:
                why = (m.groupdict().get("why") or "").strip()
                return Line(s.name, index, text), why
    return None
