"""The probable cause lines of a log nothing known matched: score every line of the tails.

When no rule speaks, on-call still wants the two or three lines to read first. A line scores
for the error vocabulary it uses (a fatal word more than a warning), for being near the end
of its stream (jobs die at the end of their logs), and for standing just before a stack or a
framework's error block; lines that are only noise (progress, timing, blank, separators)
score nothing. The weights are data below, read in one place.
"""

from __future__ import annotations

import functools
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
    r"@@prodops\s|^\s*$|^[\s=*#~_-]{4,}$|^\s*(?:begin processing the|processing (?:event|record)|\d+ events? processed)"
    r"|^%MSG\s*$|^\s*\.{3}\s*$|^\s*\[?\d+%\]?\s*$|\b0 errors?\b|\bno errors?\b|\berrors?: 0\b|^\s*(?:info|debug)\b",
    re.IGNORECASE,
)
"""Lines that are never a cause, among them prodops's own ``@@prodops phase=...`` markers (a job
prints them around its phases; ``state=failed`` is the marker's word, not the failure's) and the
``...`` that ends each event of an HTCondor event log."""
FRAME = re.compile(r"^\s*(?:#\d+\s+)?0x(?:[0-9a-fA-F]+|X+) in (?!\?\?)\S")
"""A frame of a native stack (gdb, ROOT's and CMSSW's crash handlers; its address masked as ``0xXXXX`` in
logs published with addresses redacted)."""
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
LAST_WORDS_ORDER = {"stderr": 0, "stdout": 1}
"""With no line scoring, whose last words come first: the job's own (stderr, then stdout), before
the batch system's bookkeeping (the event log's last attribute line is never a cause)."""


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


@functools.lru_cache(maxsize=65536)
def _score(text: str, low: str) -> float:
    """Cached by the text: a line repeated in a tail, in another stream or in a thousand jobs failing
    alike is scored once."""
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
    line scoring, the crash frame, else the last words of each stream (the job's own first), so
    there is always a line to read."""
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
    if scored:
        scored.sort(key=lambda s: (-s.score, -s.index))
    else:
        scored = sorted(last_words, key=lambda s: LAST_WORDS_ORDER.get(s.stream, len(LAST_WORDS_ORDER)))
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


# --- a guess from the vocabulary of the probable cause lines ------------------------------------

GUESS_VOCABULARY: dict[str, tuple[tuple[str, float], ...]] = {
    # storage, transfer and the remote services a job talks to (the clients' and servers' own words)
    "service": (
        (r"\b(?:xrootd|xrdcp|xrdfs|gfal\S*|srm\w*|gridftp|globus\S*|dcache|dcap|dccp|eos|webdav|davix|fts\d?|rucio"
         r"|samweb|ifdh|frontier|squid|stage-?(?:out|in)|pnfs|redirector|storage element|cmsweb|cric)\b"
         r"|\b(?:root|davs?|https?|srm|gsiftp)://", 2.0),
        (r"\b(?:server|service|remote|upstream|endpoint|socket|transfer|upload|download|url|database|db|sql|oracle"
         r"|mysql|postgres(?:ql)?|connection (?:refused|reset|closed|timed out|lost)|connect(?:ion)? (?:to|failed)"
         r"|unreachable|unavailable|timed? ?out|timeout|http \d{3}|\b5\d\d\b|authenticat\w*|authoriz\w*|token"
         r"|certificate|voms|x509|proxy|credential\w*)\b", 1.0),
    ),
    # the worker node, its limits and its environment (batch system, containers, software area)
    "infrastructure": (
        (r"\b(?:out of memory|oom\w*|memory|bad_alloc|no space left|disk quota|disk full|cvmfs|singularity|apptainer"
         r"|container|cgroup\w*|killed|sigkill|signal 9|wall ?(?:clock|time)|time ?limit|preempt\w*|evict\w*"
         r"|worker ?node|glidein|scratch|read-only file ?system|input/output error|stale file handle"
         r"|shared (?:object|librar\w+) file|command not found)\b", 2.0),
        (r"\b(?:node|host ?name|disk|space|quota|resources?|environment|setup|mount\w*|nfs|lustre|filesystem"
         r"|file system|cpu|ulimit|limit exceeded|exceeded|batch|queue|site|pilot|starter|shadow)\b"
         r"|\bslot\d+(?:_\d+)*@", 1.0),  # an HTCondor slot (slot1_5@host), not an event loop's "slot 0"
    ),
    # the program itself: its assertions, crashes (a frame of a native stack: where it crashed) and
    # configuration, the detector description a simulation reads (its materials, GDML); an
    # "exception" or a traceback wraps every kind of failure, so those words count little
    "code": (
        (r"\b(?:assert\w*|segfault|segmentation|stack ?trace|core dumped|abort\w*"
         r"|terminate called|null ?pointer|nullptr|undefined|not defined|\w*(?:type|value|key|index|attribute|name)error"
         r"|syntax|parse error|fhicl|configuration|config|divide by zero|out of range|invalid argument"
         r"|(?:un|never |not )declared|materials?|gdml)\b"
         r"|\.(?:fcl|py|cc|cxx|cpp|hh?|C|gdml)\b|\bline \d+\b"
         r"|^\s*(?:#\d+\s+)?0x(?:[0-9a-f]+|x+) in (?!\?\?)\S", 2.0),
        (r"\b(?:exception|traceback|invalid|unexpected|illegal|wrong|mismatch\w*|not supported|unknown|missing"
         r"|module|product|parameter|argument|option|index|nan|logic|bug)\b", 1.0),
    ),
}
"""Category -> (regex on the lower-cased line, weight): the words each kind of failure is told in.
Written from the tools' own vocabulary (storage clients, batch systems, compilers and runtimes),
not fitted to the corpus; a line takes, per category, the sum of the kinds it uses."""
GUESS_LINE_WEIGHTS = (1.0, 0.5, 0.33)
"""How much the best, second and third probable cause lines count."""
MIN_GUESS = 1.0
"""A category needs this much (and more than any other) to be guessed: one word of it in the best line.
Chosen on the train split alone, the guess standing on its own over every train case (no rule):
1.0 guesses 69% of them, 76% right; 2.0 guesses 37%, 80% right (2.5: 16%, 89%). Set after the
test aggregate with 2.0 had been seen (71.1% category, 18.9% unknown): said so in the README."""
GUESS_CONFIDENCE = 0.3

_FRAME_LOW = re.compile(r"\s*(?:#\d+\s+)?0x(?:[0-9a-f]+|x+) in (?!\?\?)\S")
"""A frame of a native stack, lower-cased (its ``from /cvmfs/...`` says where the library is, not what failed)."""
_GUESS = {cat: tuple((re.compile(rx), w) for rx, w in kinds) for cat, kinds in GUESS_VOCABULARY.items()}


@dataclass(frozen=True)
class Guess:
    category: str
    score: float
    line: ScoredLine
    """The probable cause line that weighed most for the category."""
    words: tuple[str, ...]
    """The words that made the guess (shown in the verdict's explanation)."""


@functools.lru_cache(maxsize=65536)
def category_words(text: str) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Per category, the vocabulary score of one line and the words found (cached by the text)."""
    low = text.lower()
    if _FRAME_LOW.match(low):  # where a native crash happened: the library's path is not a word of it
        low = low.split(" from /", 1)[0]
    out: dict[str, tuple[float, tuple[str, ...]]] = {}
    for cat, kinds in _GUESS.items():
        score, words = 0.0, []
        for rx, weight in kinds:
            found = [m.group() for m in rx.finditer(low)]
            if found:
                score += weight
                words += found
        if score:
            out[cat] = (score, tuple(dict.fromkeys(words)))
    return out


def guess(lines: Sequence[ScoredLine]) -> Guess | None:
    """The category the probable cause lines' words point to, or None when no category has
    :data:`MIN_GUESS` or two are tied: a low-confidence hint for a person, not a known error."""
    totals: dict[str, float] = {}
    best_line: dict[str, tuple[float, ScoredLine, tuple[str, ...]]] = {}
    for line, weight in zip(lines, GUESS_LINE_WEIGHTS):
        for cat, (score, words) in category_words(line.text).items():
            totals[cat] = totals.get(cat, 0.0) + weight * score
            if cat not in best_line or weight * score > best_line[cat][0]:
                best_line[cat] = (weight * score, line, words)
    if not totals:
        return None
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    cat, total = ranked[0]
    if total < MIN_GUESS or (len(ranked) > 1 and ranked[1][1] >= total):
        return None
    _, line, words = best_line[cat]
    return Guess(cat, round(total, 3), line, words)
