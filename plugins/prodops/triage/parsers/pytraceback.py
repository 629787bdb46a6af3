"""Python tracebacks (the format of the ``traceback`` module), chained, and the cause a client wrapped.

A chained traceback prints the first exception first::

    Traceback (most recent call last):
      File "<stdin>", line 2, in <module>
    FileNotFoundError: [Errno 2] No such file or directory: 'database.sqlite'

    During handling of the above exception, another exception occurred:     (or: The above
                                                                              exception was the
    Traceback (most recent call last):                                        direct cause of the
      File "<stdin>", line 4, in <module>                                     following exception:)
    RuntimeError: unable to handle error

so the chain, outermost first, is the printed order reversed. Client libraries also wrap a
cause in the message itself: requests' ``ConnectionError: HTTPSConnectionPool(...): Max retries
exceeded with url: ... (Caused by NewConnectionError('<...>: Failed to establish a new
connection: [Errno 111] Connection refused'))``; that cause becomes the innermost link. An HTTP
status a message states (``401 Client Error``, ``HTTP Error 401``) is kept as the link's code.

DIRAC's job wrapper dumps an exception message first, under a header, its frames after::

    == EXCEPTION ==
    :basename() takes exactly 1 argument (0 given)          (<type>:<message>; the type may be empty)
      File "/tmp/.../Wrapper_535200", line 85, in execute
        result = job.resolveInputData()

(as published in https://github.com/DIRACGrid/DIRAC/issues/324 and /issues/283); the message line is the cause.

Source: https://github.com/python/cpython/blob/395b66a0ae5237eec195ca97daaaf8563706ed34/Doc/tutorial/errors.rst
("Exception Chaining") and https://docs.python.org/3/library/traceback.html.
"""

from __future__ import annotations

import re

from prodops.triage.parsers._text import MAX_REPORT_LINES, unprefix
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

_HEAD = "Traceback (most recent call last):"
TRIGGERS = (_HEAD, 'File "')
"""Text without one of these has no report of this format (parse_all skips the parser)."""
_CONTEXT = "During handling of the above exception, another exception occurred:"
_CAUSE = "The above exception was the direct cause of the following exception:"
_FRAME = re.compile(r'^\s+File "([^"]{1,500})", line (\d+)(?:, in (.{1,200}))?\s*$')
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]{0,200})(?::\s?(.*))?$")
_DUMP = "== EXCEPTION =="
_DUMP_MESSAGE = re.compile(r"^([A-Za-z_][\w.]{0,200})?:\s?(.*)$")
_CAUSED_BY = "(Caused by "
_WRAPPED = re.compile(r"\(Caused by ([A-Za-z_]\w{0,100})\(")
_OBJECT = re.compile(r"^['\"]?<[^>]{0,300}>:\s*")
_HTTP = (
    re.compile(r"\b([45]\d\d) (?:Client|Server) Error\b"),
    re.compile(r"\bHTTP Error ([45]\d\d)\b"),
    re.compile(r"\b([45]\d\d) (?:Unauthorized|Forbidden)\b"),
    re.compile(r"\bstatus(?: code)?[ =:]+([45]\d\d)\b", re.IGNORECASE),
)
MAX_MESSAGE_LINES = 10
MAX_CHAIN = 20


def http_status(text: str) -> str | None:
    """The HTTP status (4xx/5xx) a message states, if any."""
    for regex in _HTTP:
        m = regex.search(text)
        if m:
            return m.group(1)
    return None


class _Traceback:
    def __init__(self, head: int) -> None:
        self.head = head
        self.frames: list[tuple[int, str, str, str]] = []
        self.exc_line: int | None = None
        self.exc_type = ""
        self.message: list[str] = []
        self.end = head


def _read(lines: list[str], i: int, prefix: str, implicit: bool) -> _Traceback | None:
    """One traceback whose header is line ``i`` (or, ``implicit``, whose first frame is line ``i``)."""
    n = len(lines)
    tb = _Traceback(i)
    j = i if implicit else i + 1
    while j < n and j - i < MAX_REPORT_LINES:
        text = unprefix(lines[j], prefix)
        m = _FRAME.match(text)
        if m:
            tb.frames.append((j, m.group(1), m.group(2), (m.group(3) or "").strip()))
            j += 1
            continue
        if not text.strip() or text[:1].isspace():  # source lines, carets, "[Previous line repeated ...]"
            j += 1
            continue
        m = _EXCEPTION.match(text.rstrip())
        if m is None or (implicit and not tb.frames):
            return None
        tb.exc_line, tb.exc_type = j, m.group(1)
        tb.message = [(m.group(2) or "").strip()] if m.group(2) else []
        tb.end = j
        k = j + 1
        while k < n and k - j <= MAX_MESSAGE_LINES:
            more = unprefix(lines[k], prefix)
            s = more.strip()
            if not s or s.startswith((_HEAD, _CONTEXT, _CAUSE)) or _FRAME.match(more):
                break
            tb.message.append(s)
            tb.end = k
            k += 1
        return tb
    return None


def wrapped_cause(message: str, line: int | None = None) -> ChainLink | None:
    """The cause a client library put in its message: ``(Caused by NewConnectionError('<...>: Failed ...'))``."""
    k = message.find(_CAUSED_BY)
    m = _WRAPPED.match(message, k) if k >= 0 else None
    end = message.rfind("))")
    if m is None or end < m.end():
        return None
    inner = message[m.end():end].strip().rstrip(",").strip().strip("'\"")
    inner = _OBJECT.sub("", inner).strip().rstrip(",").strip().strip("'\"")
    return ChainLink(category=m.group(1), message=(inner,) if inner else (), line=line, code=http_status(inner))


def _links(tb: _Traceback) -> list[ChainLink]:
    """The traceback's exception, then the cause its message wraps (innermost last)."""
    text = " ".join(tb.message)
    links = [ChainLink(category=tb.exc_type, message=tuple(tb.message), line=tb.exc_line, code=http_status(text))]
    inner = wrapped_cause(text, tb.exc_line)
    if inner is not None:
        links.append(inner)
    return links


def _error(printed: list[_Traceback], lines: list[str]) -> FrameworkError:
    # printed[0] is the first exception (the innermost cause); the last one reached the top.
    chain: list[ChainLink] = []
    for tb in reversed(printed):
        chain.extend(_links(tb))
    innermost_tb = printed[0]
    innermost = chain[-1]
    cause_line = innermost.line if innermost.line is not None else innermost_tb.head
    module = None
    if innermost_tb.frames:
        _, path, lineno, func = innermost_tb.frames[-1]
        module = f"{path}:{lineno}" + (f" in {func}" if func else "")
    code = next((link.code for link in reversed(chain) if link.code), None)
    return FrameworkError(
        framework=Framework.PYTHON, categories=tuple(link.category for link in chain), message=innermost.message,
        cause_line=cause_line, cause=lines[cause_line].strip(), start=printed[0].head, end=printed[-1].end,
        module=module, chain=tuple(chain), code=code,
        details=tuple(f"{p}:{ln} in {fn}" for _, p, ln, fn in innermost_tb.frames[-5:]),
    )


def _next_head(lines: list[str], end: int, prefix: str) -> int | None:
    """The header of the traceback chained after the one ending at ``end``, if one is."""
    n = len(lines)
    m = end + 1
    while m < n and not unprefix(lines[m], prefix).strip():
        m += 1
    if m >= n or unprefix(lines[m], prefix).strip() not in (_CONTEXT, _CAUSE):
        return None
    m += 1
    while m < n and not unprefix(lines[m], prefix).strip():
        m += 1
    if m < n and unprefix(lines[m], prefix).strip() == _HEAD:
        return m
    return None


def _starts_inside(lines: list[str]) -> int | None:
    """The first frame line when the lines begin inside a traceback (only indented lines before it)."""
    for i, text in enumerate(lines[:MAX_REPORT_LINES]):
        if _FRAME.match(text):
            return i
        if text.strip() and not text[:1].isspace():
            return None
    return None


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every traceback (with the tracebacks chained to it) in ``lines``."""
    errors: list[FrameworkError] = []
    n = len(lines)
    inside = _starts_inside(lines)
    i = inside if inside is not None else 0
    while i < n:
        text = lines[i]
        implicit = inside is not None and i == inside
        k = 0 if implicit else text.find(_HEAD)
        if k < 0:
            i += 1
            continue
        prefix = text[:k] if k > 0 and text[:k].strip() else ""
        printed: list[_Traceback] = []
        j: int | None = i
        while j is not None and len(printed) < MAX_CHAIN:
            tb = _read(lines, j, prefix, implicit and not printed)
            if tb is None or tb.exc_line is None:
                break
            printed.append(tb)
            j = _next_head(lines, tb.end, prefix)
        if printed:
            errors.append(_error(printed, lines))
            i = printed[-1].end + 1
        else:
            i += 1
    return errors + [e for e in _dumps(lines) if not any(o.start <= e.start <= o.end for o in errors)]


def _dumps(lines: list[str]) -> list[FrameworkError]:
    """DIRAC's message-first dumps (see the module's docstring): the header, ``<type>:<message>``, then
    at least one frame."""
    found: list[FrameworkError] = []
    for i, text in enumerate(lines):
        if text.strip() != _DUMP or i + 2 >= len(lines):
            continue
        m = _DUMP_MESSAGE.match(lines[i + 1].strip())
        if m is None or not _FRAME.match(lines[i + 2]):
            continue
        frames, end = [], i + 1
        for j in range(i + 2, min(len(lines), i + 2 + MAX_REPORT_LINES)):
            frame = _FRAME.match(lines[j])
            if frame:
                frames.append((frame.group(1), frame.group(2), (frame.group(3) or "").strip()))
            elif lines[j].strip() and not lines[j][:1].isspace():
                break
            end = j
        category = m.group(1) or "Exception"
        message = (m.group(2).strip(),) if m.group(2).strip() else ()
        path, lineno, func = frames[-1]
        found.append(FrameworkError(
            framework=Framework.PYTHON, categories=(category,), message=message, cause_line=i + 1,
            cause=lines[i + 1].strip(), start=i, end=end, module=f"{path}:{lineno}" + (f" in {func}" if func else ""),
            chain=(ChainLink(category=category, message=message, line=i + 1, code=http_status(" ".join(message))),),
            code=http_status(" ".join(message)), details=tuple(f"{p}:{ln} in {fn}" for p, ln, fn in frames[-5:]),
        ))
    return found
