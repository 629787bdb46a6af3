"""Crash reports of a fatal signal: the stack and the frame where the signal came from.

The formats read (each seen in the logs cited in tests/unit/triage/parsers/test_crash.py):

- CMSSW (FWCore/Services InitRootHandlers): a stack per thread, ``#4  <signal handler called>``
  then the frame that crashed, ``Current Modules:`` / ``Module: <label> (crashed)``, and
  ``A fatal system signal has occurred: segmentation violation``; "The following is the call
  stack containing the origin of the signal." marks the crashing thread.
- ROOT (TUnixSystem::DispatchSignals): `` *** Break *** segmentation violation``, "There was a
  crash.", the stack with ``<signal handler called>``.
- The shell's report of a killed command: ``Segmentation fault (core dumped)`` and the other
  strsignal(3) words (signals.yaml ``report_names``).

Markers within a short distance of each other (frames do not count as distance) are one report.
The cause is the first real frame after ``<signal handler called>`` of the crashing thread,
else the crashed module, else the line that names the signal.
"""

from __future__ import annotations

import re

from prodops.triage.literals import JoinedLines
from prodops.triage.parsers._text import MAX_REPORT_LINES
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

_FATAL = re.compile(r"A fatal system signal has occurred: (.{1,100}?)\s*$")
_FATAL_EXIT = "Fatal system signal has occurred during exit"
_BREAK = re.compile(r"\*\*\* Break \*\*\*\s+(.{1,100}?)\s*$")
_HANDLER = "<signal handler called>"
_ORIGIN = "The following is the call stack containing the origin of the signal"
_CRASHED = re.compile(r"Module:\s+(.{1,300}?)\s+\(crashed\)")
_FRAME = re.compile(r"^\s*#(\d{1,4})\s+(.*)$")
_FRAME_FUNC = re.compile(r"^(?:0x[0-9a-fA-F]+ in )?(\S.*?)(?: \(|$)")
_WORDS = r"(Segmentation fault|Bus error|Floating point exception|Illegal instruction|Aborted|Killed)"
_SHELL_ALONE = re.compile(rf"^{_WORDS}(?:\s+\(core dumped\))?$")
_SHELL_JOB = re.compile(rf"line \d+:\s+\d+\s+{_WORDS}\b")
_GDB = re.compile(r"Program (?:received|terminated with) signal (SIG[A-Z]{2,8})")
_DISPATCHERS = ("sig_dostack_then_abort", "TUnixSystem::DispatchSignals")
_STACK_CONTEXT = re.compile(r"^\s*(?:Thread \d+ \(|Current Modules:|={10,}|There was a crash\.|This is the entire stack trace)")
MAX_GAP = 40
"""Lines between two markers of one report, frames aside."""
TRIGGERS = ("signal", "Signal", "*** Break ***", "(crashed)", "Segmentation fault", "Bus error", "Floating point exception",
            "Illegal instruction", "Aborted", "Killed")
"""Text without one of these has no crash report (parse_all skips the parser)."""


def _marker(text: str) -> tuple[str, str | None] | None:
    """(kind, signal words) when the line is part of a crash report."""
    m = _FATAL.search(text)
    if m:
        return "fatal", m.group(1)
    if _FATAL_EXIT in text:
        return "fatal", None
    m = _BREAK.search(text)
    if m:
        return "break", m.group(1)
    if _HANDLER in text:
        return "handler", None
    if _ORIGIN in text:
        return "origin", None
    if _CRASHED.search(text):
        return "module", None
    m = _GDB.search(text)
    if m:
        return "gdb", m.group(1)
    stripped = text.strip()
    if len(stripped) <= 500:
        m = _SHELL_ALONE.match(stripped) or _SHELL_JOB.search(stripped)
        if m:
            return "shell", m.group(1)
    return None


def _function(frame_text: str) -> str:
    m = _FRAME_FUNC.match(frame_text)
    return m.group(1) if m else frame_text


def _origin_frame(lines: list[str], handler: int, end: int) -> int | None:
    """The first frame after ``<signal handler called>`` that names a function (else the next frame)."""
    nxt = None
    for k in range(handler + 1, min(end + 1, handler + 12)):
        m = _FRAME.match(lines[k])
        if not m:
            if lines[k].strip():
                break
            continue
        if nxt is None:
            nxt = k
        if _function(m.group(2)) not in ("??", ""):
            return k
    return nxt


_ABORT_WORDS = ("Aborted", "SIGABRT")
ABORT_LOOKBACK = 3
"""Lines looked at before an abort for the report that led to it."""


def _abort_report(lines: list[str], start: int, named: int) -> int:
    """The line that said why a process aborted (an assertion, glibc's heap check, a library's
    fatal message), printed just before the shell's or gdb's "Aborted": a person names that line,
    not the signal. ``named`` when the lines before say nothing in error words."""
    from prodops.triage.scorer import score_line  # the scorer's vocabulary decides what "says why" is

    for k in range(start - 1, max(-1, start - 1 - ABORT_LOOKBACK), -1):
        text = lines[k].strip()
        if not text:
            continue
        if _marker(lines[k]) is None and not _FRAME.match(lines[k]) and score_line(text) > 0:
            return k
    return named


def _report(lines: list[str], marks: list[tuple[int, str, str | None]]) -> FrameworkError:
    start, end = marks[0][0], marks[-1][0]
    words = next((w for _, kind, w in marks if w and kind in ("fatal", "break", "gdb")), None) \
        or next((w for _, _, w in marks if w), None)
    handlers = [i for i, kind, _ in marks if kind == "handler"]
    origin_mark = next((i for i, kind, _ in marks if kind == "origin"), None)
    handler = None
    if origin_mark is not None:
        handler = next((h for h in handlers if h > origin_mark), None)
    if handler is None:
        for h in handlers:
            before = " ".join(lines[max(start, h - 3):h])
            if any(d in before for d in _DISPATCHERS):
                handler = h
                break
    if handler is None and handlers:
        handler = handlers[0]
    # frames (and the lines between thread stacks) around the markers belong to the report too
    k = start - 1
    while k >= 0 and start - k < MAX_REPORT_LINES and (_FRAME.match(lines[k]) or _STACK_CONTEXT.match(lines[k])
                                                       or not lines[k].strip()):
        if lines[k].strip():
            start = k
        k -= 1
    k = end + 1
    while k < len(lines) and _FRAME.match(lines[k]):
        end = k
        k += 1
    frame = _origin_frame(lines, handler, end) if handler is not None else None
    module_line = next((i for i, kind, _ in marks if kind == "module"), None)
    module = None
    if module_line is not None:
        m = _CRASHED.search(lines[module_line])
        module = m.group(1) if m else None
    named = next((i for i, kind, w in marks if w), marks[0][0])
    cause_line = frame if frame is not None else module_line if module_line is not None else named
    if frame is None and module_line is None and words in _ABORT_WORDS:
        cause_line = _abort_report(lines, start, cause_line)
    cause = lines[cause_line].strip()
    signal = words or "fatal signal"
    message = (cause,)
    details = tuple(lines[i].strip() for i in range(max(start, (handler or start) - 2), min(end, (handler or start) + 4) + 1)
                    if lines[i].strip())
    return FrameworkError(
        framework=Framework.CRASH, categories=(signal,), message=message, cause_line=cause_line, cause=cause,
        start=start, end=end, module=module, chain=(ChainLink(category=signal, message=message, line=named),),
        severity=words, details=details[:12],
    )


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every crash report in ``lines`` (markers close together are one report)."""
    errors: list[FrameworkError] = []
    group: list[tuple[int, str, str | None]] = []
    gap = 0
    marked = set(JoinedLines(lines).holding(*TRIGGERS))  # every marker holds a trigger: the others are not read
    for i, text in enumerate(lines):
        mark = _marker(text) if i in marked else None
        if mark is not None:
            if group and gap > MAX_GAP:
                errors.append(_report(lines, group))
                group = []
            group.append((i, mark[0], mark[1]))
            gap = 0
        elif group and not _FRAME.match(text):
            gap += 1
    if group:
        errors.append(_report(lines, group))
    return errors
