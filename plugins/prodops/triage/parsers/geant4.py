"""Geant4 exceptions, as ``G4ExceptionHandler::Notify`` (source/run/src) prints them::

    -------- EEEE ------- G4Exception-START -------- EEEE -------      (WWWW for a warning)
    *** G4Exception : <code>
          issued by : <issuer>
    <description lines>
    *** Fatal Exception *** core dump ***                              (the severity's line)
    <track information (DumpTrackInfo)>
    -------- EEEE -------- G4Exception-END --------- EEEE -------

Without a handler, ``G4Exception`` (source/global/management/src/G4Exception.cc) prints
``*** ExceptionHandler is not defined ***`` first and the severity line without "core dump";
older releases printed the ``*** G4Exception`` and ``issued by`` lines without banners;
multi-threaded runs prefix each line (``G4WT0 > ``).

Sources (Geant4 11.4.0): https://github.com/Geant4/geant4/blob/b4a16de652ec244f7a0ecc0a5cacfee21930bf75/source/run/src/G4ExceptionHandler.cc
and .../source/global/management/src/G4Exception.cc at the same commit.
"""

from __future__ import annotations

import re

from prodops.triage.parsers._text import MAX_REPORT_LINES, first_text, unprefix
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

_START, _END = "G4Exception-START", "G4Exception-END"
TRIGGERS = ("G4Exception",)
"""Text without one of these has no report of this format (parse_all skips the parser)."""
_CODE = re.compile(r"\*\*\* G4Exception :\s*(\S{1,100})")
"""The code line; "*** G4Exception: Aborting execution ***" (no space before the colon) is not one."""
_ISSUER = re.compile(r"issued by\s*:\s*(.{1,300}?)\s*$")
SEVERITIES = (
    ("*** Fatal Exception", "FatalException"),
    ("*** Fatal Error In Argument", "FatalErrorInArgument"),
    ("*** Run Must Be Aborted", "RunMustBeAborted"),
    ("*** Event Must Be Aborted", "EventMustBeAborted"),
    ("*** This is just a warning message", "JustWarning"),
)
"""The line G4ExceptionHandler prints after the description, per G4ExceptionSeverity."""
BOILERPLATE = ("*** ExceptionHandler is not defined ***",)


def _severity(text: str) -> str | None:
    for start, name in SEVERITIES:
        if text.startswith(start):
            return name
    return None


def _one(lines: list[str], i: int) -> tuple[FrameworkError | None, int]:
    n = len(lines)
    first = lines[i]
    banner = _START in first
    code_match = _CODE.search(first)
    if banner:
        cut = first.find("--------")
        prefix = first[:cut] if cut > 0 else ""
    else:
        prefix = first[:code_match.start()] if code_match else ""
    if not prefix.strip():
        prefix = ""
    code_line = i
    if code_match is None:
        for j in range(i + 1, min(n, i + 6)):
            if _START in lines[j]:
                break
            code_match = _CODE.search(lines[j])
            if code_match:
                code_line = j
                break
    if code_match is None:
        return None, i + 1
    code = code_match.group(1)
    issuer = None
    k = code_line + 1
    if k < n:
        m = _ISSUER.search(lines[k])
        if m:
            issuer = m.group(1)
            k += 1
    description: list[tuple[int, str]] = []
    track: list[str] = []
    severity = None
    end = k - 1
    while k < n and k - i < MAX_REPORT_LINES:
        s = unprefix(lines[k], prefix).strip()
        if _END in s:
            end = k
            k += 1
            break
        if _START in s or _CODE.search(s):
            break
        found = _severity(s) if severity is None else None
        if found:
            severity = found
            if found == "JustWarning" and _END in s:
                end = k
                k += 1
                break
        elif severity is not None:
            if s:
                track.append(s)
        elif s:
            description.append((k, s))
        if s:
            end = k
        k += 1
    if severity is None and banner and "WWWW" in first:
        severity = "JustWarning"
    cause = first_text(description, skip_prefixes=BOILERPLATE) or (code_line, lines[code_line].strip())
    message = tuple(t for _, t in description if not t.startswith(BOILERPLATE))
    err = FrameworkError(
        framework=Framework.GEANT4, categories=("G4Exception", code), message=message,
        cause_line=cause[0], cause=cause[1], start=i, end=max(end, code_line), module=issuer,
        chain=(ChainLink(category="G4Exception", line=i), ChainLink(category=code, message=message, line=code_line)),
        severity=severity, code=code, details=tuple(track),
    )
    return err, k


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every G4Exception report in ``lines``."""
    errors: list[FrameworkError] = []
    i, n = 0, len(lines)
    while i < n:
        text = lines[i]
        if _START not in text and "G4Exception" not in text:
            i += 1
            continue
        if _START not in text and not _CODE.search(text):
            i += 1
            continue
        err, nxt = _one(lines, i)
        if err is not None:
            errors.append(err)
        i = max(nxt, i + 1)
    return errors
