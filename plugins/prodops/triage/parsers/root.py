"""ROOT's error messages (core/base/src/TError.cxx, DefaultErrorHandler)::

    Error in <TNetXNGFile::Open>: [ERROR] Server responded with an error: [3011] ...
    SysError in <TFile::TFile>: file x.root can not be opened No such file or directory
    Fatal in <TROOT::...>: ...

Only the levels that report failures are read (Error, SysError, Fatal; not Info or Warning).
A message repeated on many lines (a retry loop) is one report, with the count in ``details``.

Source: https://github.com/root-project/root/blob/49d796e4195d877bbe873a680028b9880f862f52/core/base/src/TError.cxx
(levels; the "%s in <%s>: %s" format of DefaultErrorHandler was read in an older TError.cxx).
"""

from __future__ import annotations

import re
from dataclasses import replace

from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

LEVELS = ("Error", "SysError", "Fatal")
_MESSAGE = re.compile(r"(?:^|[\s>:+|\]])(Error|SysError|Fatal) in <([^<>\n]{1,200})>:\s?(.*)$")
_DIGITS = re.compile(r"\d+")
MAX_REPORTS = 30
TRIGGERS = (" in <",)
"""Text without one of these has no report of this format (parse_all skips the parser)."""


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every distinct ROOT error message in ``lines`` (repeats folded into the first)."""
    first: dict[tuple[str, str, str], int] = {}
    counts: dict[int, int] = {}
    errors: list[FrameworkError] = []
    for i, text in enumerate(lines):
        if " in <" not in text:
            continue
        m = _MESSAGE.search(text)
        if m is None:
            continue
        level, location, message = m.group(1), m.group(2).strip(), m.group(3).strip()
        key = (level, location, _DIGITS.sub("#", message))
        if key in first:
            counts[first[key]] = counts.get(first[key], 1) + 1
            continue
        if len(errors) >= MAX_REPORTS:
            continue
        first[key] = len(errors)
        errors.append(FrameworkError(
            framework=Framework.ROOT, categories=(level,), message=(message,) if message else (), cause_line=i,
            cause=text.strip(), start=i, end=i, module=location, severity=level,
            chain=(ChainLink(category=level, message=(message,) if message else (), line=i),),
        ))
    if counts:
        for index, count in counts.items():
            errors[index] = replace(errors[index], details=(f"repeated {count} times",))
    return errors
