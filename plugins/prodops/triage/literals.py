"""Many literal strings found in a batch of text at once: one Hyperscan scan, not one search per string.

Triage looks for hundreds of keywords (the pattern library's prefilter) and a few dozen report
triggers in 20,000 jobs' tails. Searched one string at a time, the cost grows with strings x
bytes; a Hyperscan database scans the whole batch once, whatever the number of strings. Without
Hyperscan installed, :attr:`LiteralSet.engine` is None and callers keep their own slower search.
"""

from __future__ import annotations

import functools
import importlib
import re
import threading
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from types import ModuleType
from typing import Any

hyperscan: ModuleType | None
try:
    hyperscan = importlib.import_module("hyperscan")
except ImportError:  # optional: the results are the same without it, only slower
    hyperscan = None


class LiteralSet:
    """A compiled set of byte strings (case-sensitive, none holding a newline), compiled for
    Hyperscan's vectored mode: a batch of blocks is scanned as one stream without joining them into
    one buffer first (that copy of the whole batch took as long as the scan)."""

    def __init__(self, literals: Sequence[bytes]) -> None:
        self.literals = tuple(literals)
        self.engine: Any = None
        if hyperscan is not None and self.literals:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_VECTORED)
            expressions = ["".join(f"\\x{b:02x}" for b in s).encode() for s in self.literals]
            db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=0)
            self.engine = db
        self._lock = threading.Lock()
        """A database's scratch space serves one scan at a time."""

    def hits(self, buf: bytes) -> list[tuple[int, int]]:
        """(end offset, literal index) of every occurrence in ``buf``, by end offset."""
        return self._scan([buf])

    def block_hits(self, blocks: Sequence[bytes]) -> list[tuple[int, int, int]]:
        """(block index, end offset in the block, literal index) of every occurrence, in order. The
        blocks are scanned as one stream: an occurrence across two blocks' junction is reported in the
        second block at an offset < its length (callers confirm what they find, or ignore those)."""
        starts = list(accumulate((len(b) for b in blocks[:-1]), initial=0))
        out: list[tuple[int, int, int]] = []
        block, next_start = -1, 0
        for end, literal in self._scan(blocks):
            if end > next_start or block < 0:
                block = bisect_right(starts, end - 1) - 1  # the last of blocks starting there: not an empty one
                next_start = starts[block] + len(blocks[block])
            out.append((block, end - starts[block], literal))
        return out

    def _scan(self, blocks: Sequence[bytes]) -> list[tuple[int, int]]:
        """(end offset in the whole batch, literal index) of every occurrence, by end offset."""
        if not any(blocks):
            return []
        found: list[tuple[int, int]] = []

        def on_match(literal: int, _start: int, end: int, _flags: int, _context: Any) -> None:
            found.append((end, literal))

        with self._lock:
            self.engine.scan([b for b in blocks if b], match_event_handler=on_match)
        found.sort()
        return found

    def in_blocks(self, blocks: Sequence[bytes]) -> list[set[int]]:
        """For each block, the indexes of the literals it holds (the blocks are scanned as one)."""
        held: list[set[int]] = [set() for _ in blocks]
        for block, end, literal in self.block_hits(blocks):
            if end >= len(self.literals[literal]):  # not one across the junction with the block before
                held[block].add(literal)
        return held


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
        if self.text is None:
            return [i for i, line in enumerate(self.lines) if any(n in line for n in needles)]
        return lines_holding(self.text, needles)

    def matching(self, finder: re.Pattern[str], lower: bool = False) -> list[int]:
        """Indexes of the lines ``finder`` matches (on the lower-cased lines with ``lower``), in order;
        ``finder`` must not match across a newline."""
        if self.text is None:
            return [i for i, line in enumerate(self.lines) if finder.search(line.lower() if lower else line)]
        text = self.text.lower() if lower else self.text  # lower() keeps every newline where it was
        return _line_indexes(text, (m.start() for m in finder.finditer(text)), "\n")


def lines_holding(text: str | bytes, needles: Sequence[str]) -> list[int]:
    """Indexes of the newline-separated lines of ``text`` (or of UTF-8 bytes) holding any of ``needles``."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text  # same needles, as UTF-8
    literals = _literal_set(tuple(needles)) if len(needles) >= _SCAN_FROM else None
    if literals is not None and literals.engine is not None:  # one scan for all the needles
        return line_indexes(data, sorted({end - 1 for end, _ in literals.hits(data)}))
    found: set[int] = set()
    for needle in needles:
        n = needle.encode("utf-8", "surrogatepass")
        pos, index, counted = data.find(n), 0, 0
        while pos >= 0:
            index += data.count(b"\n", counted, pos)
            counted = pos
            found.add(index)
            end = data.find(b"\n", pos)
            if end < 0:
                break
            pos = data.find(n, end + 1)
    return sorted(found)


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
