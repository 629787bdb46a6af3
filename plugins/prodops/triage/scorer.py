"""The probable cause lines of a log nothing known matched: score every line of the tails.

When no rule speaks, on-call still wants the two or three lines to read first. A line scores
for the error vocabulary it uses (a fatal word more than a warning), for being near the end
of its stream (jobs die at the end of their logs), and for standing just before a stack or a
framework's error block; lines that are only noise (progress, timing, blank, separators)
score nothing. The weights are data below, read in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VOCABULARY: tuple[tuple[str, float], ...] = (
    (r"\bfatal\b|\bcritical\b|\bpanic\b|\baborted?\b|\bcore dumped\b", 4.0),
    (r"\bexception\b|\btraceback\b|terminate called|segmentation (?:fault|violation)|\bsig(?:segv|abrt|bus|kill|term)\b", 4.0),
    (r"\berror\b|\berr\b|\bfailed\b|\bfailure\b|\bfails\b", 3.0),
    (r"\bcannot\b|\bcan't\b|\bcould not\b|\bcouldn't\b|\bunable to\b|\bnot found\b|no such file|\bmissing\b", 2.5),
    (r"\bdenied\b|\brefused\b|\btimed? ?out\b|\btimeout\b|\bunreachable\b|\bunavailable\b|\bkilled\b", 2.5),
    (r"\binvalid\b|\bbad\b|\bcorrupt(?:ed)?\b|\bunexpected\b|\billegal\b|\bout of memory\b|\bexceed(?:ed|s)?\b", 2.0),
    (r"\bexit(?:ed)? (?:code|status|with)\b|\breturn(?:ed)? (?:code|value)\b|\bstatus [1-9]\d*\b", 1.5),
    (r"(?-i:\b[A-Z]\w*(?:Error|Exception|Exit|Fault)\b)", 3.5),
    (r"\bwarn(?:ing)?\b", -1.0),
)
"""Regex (matched case-insensitively unless it says otherwise) -> weight; a line takes the sum of
the kinds it uses. A warning counts against a line: it is rarely what ended the job."""

NOISE = re.compile(
    r"^\s*$|^[\s=*#~_-]{4,}$|^\s*(?:begin processing the|processing (?:event|record)|\d+ events? processed)"
    r"|^%MSG\s*$|^\s*\[?\d+%\]?\s*$|\b0 errors?\b|\bno errors?\b|\berrors?: 0\b|^\s*(?:info|debug)\b",
    re.IGNORECASE,
)
STACK = re.compile(r"^\s*(?:#\d+\s+0x|at \S+\(|File \"|\[\d+\]\s|Traceback|\S+\.(?:cc|cpp|cxx|h|py):\d+)")

_KINDS = tuple((re.compile(pattern, re.IGNORECASE), weight) for pattern, weight in VOCABULARY)
END_BONUS = 2.0
"""Added to the last line of a stream, falling linearly to 0 at its first line."""
STACK_BONUS = 1.5
"""Added to a line followed by a stack frame or a traceback (the error that the stack explains)."""
MIN_SCORE = 2.5
"""Lines scoring less are not shown: a lone "warning" is not a cause."""
MAX_LINES = 3


@dataclass(frozen=True)
class ScoredLine:
    stream: str
    index: int
    text: str
    score: float


def score_line(text: str) -> float:
    """The vocabulary score of one line alone (0 for noise)."""
    if NOISE.search(text):
        return 0.0
    return sum(weight for pattern, weight in _KINDS if pattern.search(text))


def probable_causes(streams: Mapping[str, Sequence[str]], limit: int = MAX_LINES) -> list[ScoredLine]:
    """The best-scoring lines of all streams, best first (ties: the later line first)."""
    scored: list[ScoredLine] = []
    for stream, lines in streams.items():
        n = len(lines)
        for index, text in enumerate(lines):
            base = score_line(text)
            if base <= 0:
                continue
            near_end = END_BONUS * (index + 1) / n
            before_stack = STACK_BONUS if index + 1 < n and STACK.search(lines[index + 1]) and not STACK.search(text) else 0.0
            total = base + near_end + before_stack
            if base >= MIN_SCORE:
                scored.append(ScoredLine(stream, index, text, round(total, 3)))
    scored.sort(key=lambda s: (-s.score, -s.index))
    seen: set[str] = set()
    best: list[ScoredLine] = []
    for line in scored:
        key = line.text.strip()
        if key in seen:
            continue
        seen.add(key)
        best.append(line)
        if len(best) >= limit:
            break
    return best
