"""An uncaught C++ exception, as the GNU C++ runtime's verbose terminate handler reports it::

    terminate called after throwing an instance of 'std::future_error'
      what():  std::future_error: No associated state

(``terminate called without an active exception`` / ``terminate called recursively`` when
there is no exception to name). The program then aborts (SIGABRT).

Source: https://gcc.gnu.org/onlinedocs/libstdc++/manual/termination.html ("Verbose Terminate Handler").
"""

from __future__ import annotations

import re

from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

_THROWING = re.compile(r"terminate called after throwing an instance of '(.{1,500})'")
_OTHER = re.compile(r"terminate called (without an active exception|recursively)")
_WHAT = re.compile(r"^\s*what\(\):\s*(.*)$")
_INLINE_NAMESPACES = re.compile(r"(?:__cxx11|__1)::")
MAX_WHAT_LINES = 20
TRIGGERS = ("terminate called",)
"""Text without one of these has no report of this format (parse_all skips the parser)."""
_STOP = ("Aborted", "*** Break ***", "terminate called", "%MSG", "Art has completed")


def normalize_type(name: str) -> str:
    """``std::__cxx11::basic_string<...>`` -> ``std::basic_string<...>`` (ABI namespaces removed)."""
    return _INLINE_NAMESPACES.sub("", name).strip()


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every ``terminate called ...`` report in ``lines``."""
    errors: list[FrameworkError] = []
    n = len(lines)
    i = 0
    while i < n:
        text = lines[i]
        if "terminate called" not in text:
            i += 1
            continue
        m = _THROWING.search(text)
        if m:
            kind = normalize_type(m.group(1))
        else:
            other = _OTHER.search(text)
            if other is None:
                i += 1
                continue
            kind = f"terminate called {other.group(1)}"
        what: list[tuple[int, str]] = []
        end = i
        j = i + 1
        if m and j < n:
            w = _WHAT.match(lines[j])
            if w:
                what.append((j, w.group(1).strip()))
                end = j
                j += 1
                while j < n and j - end <= 1 and len(what) < MAX_WHAT_LINES:
                    s = lines[j].strip()
                    if not s or s.startswith(_STOP) or _THROWING.search(s):
                        break
                    what.append((j, s))
                    end = j
                    j += 1
        first_what = next(((k, t) for k, t in what if t), None)
        cause_line, cause = first_what if first_what else (i, text.strip())
        message = tuple(t for _, t in what if t)
        errors.append(FrameworkError(
            framework=Framework.CXX, categories=(kind,), message=message, cause_line=cause_line, cause=cause,
            start=i, end=end, chain=(ChainLink(category=kind, message=message, line=i),),
        ))
        i = max(j, i + 1)
    return errors
