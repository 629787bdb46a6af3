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

from prodops.triage.literals import JoinedLines, LiteralSet, line_indexes

VOCABULARY: tuple[tuple[str, float], ...] = (
    (r"\bfatal\b|\bcritical\b|\bpanic\b|\baborted?\b|\bcore dumped\b", 4.0),
    (r"\bexception\b|\btraceback\b|terminate called|segmentation (?:fault|violation)|\bsig(?:segv|abrt|bus|kill|term)\b", 4.0),
    (r"\berror\b|\berr\b|\bfailed\b|\bfailure\b|\bfails\b", 3.0),
    (r"\bcannot\b|\bcan't\b|\bcould not\b|\bcouldn't\b|\bunable to\b|\bnot found\b|no such file|\bmissing\b", 2.5),
    (r"\bnot allowed\b|\bforbidden\b|\bpermission\b|\bdenied\b|\brefused\b|\btimed? ?out\b|\btimeout\b|\bunreachable\b|\bunavailable\b|\bkilled\b", 2.5),
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
FRAME = re.compile(r"^\s*(?:#\d+\s+)?0x[0-9a-fA-F]+ in (?!\?\?)\S")
"""A frame of a native stack (gdb, ROOT's and CMSSW's crash handlers)."""
CRASH_MARKER = re.compile(r"<signal handler called>|might hint at the cause of the crash|fatal system signal"
                          r"|\*\*\* Break \*\*\*|segmentation (?:violation|fault)", re.IGNORECASE)
FRAME_WEIGHT = 3.0
"""The first frame after a crash marker (or of a stack with nothing else to say) is where it crashed."""
STACK = re.compile(r"^\s*(?:#\d+\s+0x|at \S+\(|File \"|\[\d+\]\s|Traceback|\S+\.(?:cc|cpp|cxx|h|py):\d+)")

_KINDS = tuple((re.compile(pattern), weight, pattern.startswith("(?-i:")) for pattern, weight in VOCABULARY)
"""Compiled case-sensitively and matched on the lower-cased line (several times faster than
IGNORECASE), except the kinds marked ``(?-i:``, matched on the line as it is."""
_WORDS = ("error", " err", "fail", "fatal", "critical", "panic", "abort", "core dump", "exception", "traceback", "terminate",
          "segmentation", "sigsegv", "sigabrt", "sigbus", "sigkill", "sigterm", "cannot", "can't", "could",
          "unable", "not found", "no such", "missing", "not allowed", "forbidden", "permission", "denied", "refused",
          "timed out", "time out", "timeout", "unreach", "unavail", "killed", "invalid", "bad", "corrupt",
          "unexpected", "illegal", "out of memory", "exceed", "exit", "returned", "return code", "return value",
          "status ", "fault")
"""Text every vocabulary kind needs (lower case): a line holding none scores 0 without a regex."""
_WORD_FINDER = re.compile("|".join(re.escape(w) for w in _WORDS))
_WORD_SET = LiteralSet([w.encode() for w in _WORDS])
_FRAME_LINES = re.compile(FRAME.pattern.replace("^", "(?m)^", 1).replace(r"\s", r"[^\S\n]"))
"""FRAME over a stream's joined lines: the same lines (its spaces never cross a newline)."""
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
    low = text.lower()
    if not _WORD_FINDER.search(low):
        return 0.0
    return _score(text, low)


def _score(text: str, low: str) -> float:
    if NOISE.search(text):
        return 0.0
    return sum(weight for pattern, weight, as_is in _KINDS if pattern.search(text if as_is else low))


def _word_lines(joined: JoinedLines) -> list[int]:
    """Indexes of the lines whose lower-cased text holds a vocabulary word (:data:`_WORDS`)."""
    if joined.text is None or _WORD_SET.engine is None:
        return joined.matching(_WORD_FINDER, lower=True)
    low = joined.text.lower().encode("utf-8", "replace")  # ASCII words: the same in the bytes
    return line_indexes(low, (end - 1 for end, _ in _WORD_SET.hits(low)))


def _crash_frame(joined: JoinedLines) -> int | None:
    """The frame where a native crash happened: the first after the last crash marker, else the
    first frame of a tail that is mostly a stack."""
    frames = joined.matching(FRAME if joined.text is None else _FRAME_LINES)
    if not frames:
        return None
    markers = joined.matching(CRASH_MARKER)
    after = [i for i in frames if markers and i > markers[-1]]
    if after:
        return after[0]
    return frames[0] if len(frames) * 2 >= len([line for line in joined.lines if line.strip()]) else None


def probable_causes(streams: Mapping[str, Sequence[str]], limit: int = MAX_LINES) -> list[ScoredLine]:
    """The best-scoring lines of all streams, best first (ties: the later line first). With no
    line scoring, the crash frame, else the last words of each stream, so there is always a line to read."""
    scored: list[ScoredLine] = []
    last_words: list[ScoredLine] = []
    for stream, lines in streams.items():
        n = len(lines)
        joined = JoinedLines(lines)
        crash = _crash_frame(joined)
        for index in range(n - 1, -1, -1):
            if lines[index].strip() and not NOISE.search(lines[index]):
                last_words.append(ScoredLine(stream, index, lines[index], 0.0))
                break
        wordy = _word_lines(joined)
        if crash is not None and crash not in wordy:
            wordy = sorted([*wordy, crash])
        for index in wordy:
            text = lines[index]
            base = FRAME_WEIGHT if index == crash else _score(text, text.lower())
            if base <= 0:
                continue
            near_end = END_BONUS * (index + 1) / n
            before_stack = STACK_BONUS if index + 1 < n and STACK.search(lines[index + 1]) and not STACK.search(text) else 0.0
            total = base + near_end + before_stack
            if base >= MIN_SCORE:
                scored.append(ScoredLine(stream, index, text, round(total, 3)))
    if not scored:
        scored = last_words
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
