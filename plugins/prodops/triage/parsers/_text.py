"""Helpers the parsers share: safe lines, line prefixes, bounded scans."""

from __future__ import annotations

from collections.abc import Sequence

MAX_LINE_CHARS = 4000
"""Longer lines are cut: a parser never scans more than this of one line."""

MAX_REPORT_LINES = 400
"""No report reaches further than this many lines past its start."""


def clean(lines: Sequence[object]) -> list[str]:
    """The lines as strings without line ends, each cut to :data:`MAX_LINE_CHARS`; never raises."""
    if all(type(raw) is str for raw in lines):  # the usual case, fast
        return [raw[:MAX_LINE_CHARS].rstrip("\r\n") for raw in lines]  # type: ignore[index]
    out: list[str] = []
    for raw in lines:
        if isinstance(raw, bytes):
            text = raw.decode("utf-8", "replace")
        elif isinstance(raw, str):
            text = raw
        else:
            text = "" if raw is None else str(raw)
        text = text.rstrip("\r\n")
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS]
        out.append(text)
    return out


def _same_shape(head: str, prefix: str) -> bool:
    """Equal but for digits (a time stamp of another second)."""
    return all(a == b or (a.isdigit() and b.isdigit()) for a, b in zip(head, prefix))


def unprefix(line: str, prefix: str) -> str:
    """``line`` without the log prefix seen on the report's first line (``G4WT0 > ``,
    ``[2018-07-04 19:09:17] ``): the same text, or the same text with other digits."""
    if not prefix:
        return line
    if line.startswith(prefix):
        return line[len(prefix):]
    head = line[:len(prefix)]
    if len(head) == len(prefix) and _same_shape(head, prefix):
        return line[len(prefix):]
    stripped = prefix.rstrip()
    if line.rstrip() == stripped or (len(line.rstrip()) == len(stripped) and _same_shape(line.rstrip(), stripped)):
        return ""
    return line


def first_text(items: Sequence[tuple[int, str]], skip: frozenset[str] | None = None,
               skip_prefixes: tuple[str, ...] = ()) -> tuple[int, str] | None:
    """The first (index, text) whose text is not empty nor boilerplate."""
    for index, text in items:
        t = text.strip()
        if not t or (skip and t in skip) or (skip_prefixes and t.startswith(skip_prefixes)):
            continue
        return index, t
    return None
