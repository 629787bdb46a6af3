"""Many literal strings found in a batch of text at once: one Hyperscan scan, not one search per string.

Triage looks for hundreds of keywords (the pattern library's prefilter) and a few dozen report
triggers in 20,000 jobs' tails. Searched one string at a time, the cost grows with strings x
bytes; a Hyperscan database scans the whole batch once, whatever the number of strings. Without
Hyperscan installed, :attr:`LiteralSet.engine` is None and callers keep their own slower search.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

try:
    import hyperscan
except ImportError:  # optional: the results are the same without it, only slower
    hyperscan = None


class LiteralSet:
    """A compiled set of byte strings (case-sensitive, none holding a newline)."""

    def __init__(self, literals: Sequence[bytes]) -> None:
        self.literals = tuple(literals)
        self.engine: Any = None
        if hyperscan is not None and self.literals:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            expressions = ["".join(f"\\x{b:02x}" for b in s).encode() for s in self.literals]
            db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=0)
            self.engine = db
        self._lock = threading.Lock()
        """A database's scratch space serves one scan at a time."""

    def hits(self, buf: bytes) -> list[tuple[int, int]]:
        """(end offset, literal index) of every occurrence in ``buf``, by end offset."""
        found: list[tuple[int, int]] = []

        def on_match(literal: int, _start: int, end: int, _flags: int, _context: Any) -> None:
            found.append((end, literal))

        with self._lock:
            self.engine.scan(buf, match_event_handler=on_match)
        found.sort()
        return found

    def in_blocks(self, blocks: Sequence[bytes]) -> list[set[int]]:
        """For each block, the indexes of the literals it holds (the blocks are scanned as one)."""
        starts = list(accumulate((len(b) + 1 for b in blocks[:-1]), initial=0))
        held: list[set[int]] = [set() for _ in blocks]
        for end, literal in self.hits(b"\n".join(blocks)):
            held[bisect_right(starts, end - 1) - 1].add(literal)
        return held
