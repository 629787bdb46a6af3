"""CMSSW exception reports (``cms::Exception::explainSelf`` in FWCore/Utilities/src/Exception.cc)::

    ----- Begin Fatal Exception 15-Feb-2021 13:15:41 CET-----------------------
    An exception of category 'FileOpenError' occurred while
       [0] Constructing the EventProcessor
       [1] Constructing input source of type PoolSource
    Exception Message:
    Failed to open the file 'root://...'
       Additional Info:
          [a] ...
    ----- End Fatal Exception -------------------------------------------------

(``occurred.`` without context lines when there is no context). The message may hold another
framework's report (a Geant4 exception in simulation); that report is parsed by its own parser.

Source: https://github.com/cms-sw/cmssw/blob/054f10bfb9ea0cf5aa94616741287dd615607f59/FWCore/Utilities/src/Exception.cc
"""

from __future__ import annotations

import re

from prodops.triage.parsers._text import MAX_REPORT_LINES, first_text, unprefix
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

_ANCHOR = re.compile(r"An exception of category '([^']{1,200})' occurred")
_BEGIN = "----- Begin Fatal Exception"
_END = "----- End Fatal Exception"
TRIGGERS = ("An exception of category",)
"""Text without one of these has no report of this format (parse_all skips the parser)."""
_EXIT = re.compile(r"Exit code: (\d+)")
_CONTEXT = re.compile(r"^\s*\[(\d+)\]\s?(.*)$")
_INFO = re.compile(r"^\s*\[([a-z]{1,3})\]\s?(.*)$")
_MODULES = (
    re.compile(r"module (?:class=)?([\w:<>,]+)/'([^']*)'"),
    re.compile(r"(?:module|ESSource|ESProducer|ESModule|source)[:]? class=([\w:<>,]+) label='([^']*)'"),
    re.compile(r"input source of type ([\w:]+)()"),
)
MAX_MESSAGE_LINES = 80
BOILERPLATE = ("A std::exception was thrown.", "An exception of category")
"""Lines cmsRun adds before the message of the code that threw."""


def _module(contexts: list[tuple[int, str]]) -> str | None:
    for _, text in reversed(contexts):
        for regex in _MODULES:
            m = regex.search(text[:500])
            if m:
                return f"{m.group(1)}/'{m.group(2)}'" if m.group(2) else m.group(1)
    return None


def _header(lines: list[str], i: int) -> tuple[int, int | None]:
    """Where the report starts (its Begin line, up to 3 lines above), and the exit code it states."""
    start, status = i, None
    for k in range(i - 1, max(-1, i - 4), -1):
        text = lines[k]
        if _BEGIN in text or "Fatal Exception" in text or text.lstrip().startswith("%MSG-"):
            start = k
            m = _EXIT.search(text)
            if m:
                status = int(m.group(1))
            break
        if text.strip():
            break
    return start, status


def _closed(lines: list[str], i: int) -> bool:
    """Whether the report opened at ``i`` has its End line (before another report or message starts)."""
    for j in range(i + 1, min(len(lines), i + MAX_REPORT_LINES)):
        text = lines[j]
        if _END in text:
            return True
        if _ANCHOR.search(text) or _BEGIN in text or text.strip() == "%MSG":
            return False
    return False


def _one(lines: list[str], i: int, category: str, prefix: str) -> tuple[FrameworkError, int]:
    """One report. Without its End line, a blank line ends the message (else it runs into the log)."""
    n = len(lines)
    start, status = _header(lines, i)
    closed = _closed(lines, i)
    contexts: list[tuple[int, str]] = []
    message: list[tuple[int, str]] = []
    info: list[tuple[int, str]] = []
    state = "context" if lines[i].rstrip().endswith("while") else "message"
    end = i
    j = i + 1
    while j < n and j - i < MAX_REPORT_LINES:
        text = unprefix(lines[j], prefix)
        s = text.strip()
        if _ANCHOR.search(text) or _BEGIN in text:
            break
        if _END in text:
            end = j
            j += 1
            break
        if s == "%MSG":
            break
        if not s and not closed and (state == "info" or (state == "message" and message)):
            nxt = next((unprefix(lines[k], prefix).strip() for k in range(j + 1, min(n, j + 3))
                        if unprefix(lines[k], prefix).strip()), "")
            if not (state == "message" and nxt == "Additional Info:"):
                break
        if s == "Exception Message:":
            state = "message"
        elif s == "Additional Info:":
            state = "info"
        elif state == "context":
            if _CONTEXT.match(text):
                contexts.append((j, s))
            elif s:
                state = "message"
                message.append((j, text))
        elif state == "message":
            if len(message) >= MAX_MESSAGE_LINES:
                break
            message.append((j, text))
        elif state == "info":
            m = _INFO.match(text)
            if m or (s and info):
                info.append((j, s))
        if s:
            end = j
        j += 1
    texts = [(k, t.strip()) for k, t in message if t.strip()] or info
    cause = first_text(texts, skip_prefixes=BOILERPLATE) or (i, lines[i].strip())
    body = tuple(t for _, t in texts if not t.startswith(BOILERPLATE)) or tuple(t for _, t in texts)
    err = FrameworkError(
        framework=Framework.CMSSW, categories=(category,), message=body, cause_line=cause[0], cause=cause[1],
        start=start, end=max(end, start), module=_module(contexts),
        chain=(ChainLink(category=category, message=body, line=i),), exit_status=status,
        details=tuple(t for _, t in contexts) + tuple(t for _, t in info),
    )
    return err, j


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every ``An exception of category 'X' occurred`` report in ``lines``."""
    errors: list[FrameworkError] = []
    i, n = 0, len(lines)
    while i < n:
        m = _ANCHOR.search(lines[i])
        if m is None:
            i += 1
            continue
        prefix = lines[i][:m.start()]
        if not prefix.strip():
            prefix = ""
        err, nxt = _one(lines, i, m.group(1), prefix)
        errors.append(err)
        i = max(nxt, i + 1)
    return errors
