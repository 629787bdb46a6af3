"""Helpers the parsers share: safe lines, line prefixes, bounded scans."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from prodops.triage.literals import LiteralSet

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


class JoinedLines:
    """Lines joined once into one text, so a search runs once over all of them (in C) and names
    the lines it hit: a long tail holding nothing of interest costs no loop over its lines."""

    __slots__ = ("lines", "text")

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        text = "\n".join(lines)
        self.text = text if text.count("\n") == max(0, len(lines) - 1) else None
        """None when a line holds a newline itself: then each line is searched alone."""

    def holding(self, *needles: str) -> list[int]:
        """Indexes of the lines holding any of ``needles`` (none spans lines), in order."""
        text = self.text
        if text is None:
            return [i for i, line in enumerate(self.lines) if any(n in line for n in needles)]
        literals = _literal_set(needles) if len(needles) >= _SCAN_FROM else None
        if literals is not None and literals.engine is not None:  # one scan for all the needles
            data = text.encode("utf-8", "surrogatepass")  # a needle is in the text iff its UTF-8 is
            return line_indexes(data, sorted({end - 1 for end, _ in literals.hits(data)}))
        found: set[int] = set()
        for needle in needles:
            pos, index, counted = text.find(needle), 0, 0
            while pos >= 0:
                index += text.count("\n", counted, pos)
                counted = pos
                found.add(index)
                end = text.find("\n", pos)
                if end < 0:
                    break
                pos = text.find(needle, end + 1)
        return sorted(found)

    def matching(self, finder: re.Pattern[str], lower: bool = False) -> list[int]:
        """Indexes of the lines ``finder`` matches (on the lower-cased lines with ``lower``), in order;
        ``finder`` must not match across a newline."""
        if self.text is None:
            return [i for i, line in enumerate(self.lines) if finder.search(line.lower() if lower else line)]
        text = self.text.lower() if lower else self.text  # lower() keeps every newline where it was
        return _line_indexes(text, (m.start() for m in finder.finditer(text)), "\n")


_SCAN_FROM = 3
"""From this many needles on, one Hyperscan scan beats a search per needle."""


@functools.lru_cache(maxsize=64)
def _literal_set(needles: tuple[str, ...]) -> LiteralSet:
    return LiteralSet([n.encode("utf-8", "surrogatepass") for n in needles])


def _line_indexes(text: Any, offsets: Iterable[int], newline: Any) -> list[int]:
    """The lines (by index) that ascending ``offsets`` of ``text`` fall in, each once."""
    found: list[int] = []
    index = counted = 0
    for at in offsets:
        index += text.count(newline, counted, at)
        counted = at
        if not found or found[-1] != index:
            found.append(index)
    return found


def line_indexes(data: bytes, offsets: Iterable[int]) -> list[int]:
    """:func:`_line_indexes` of bytes joined by newlines (a batch scan's hits)."""
    return _line_indexes(data, offsets, b"\n")


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
