"""The pattern library: known error messages, what they mean, and whether a retry can help.

Files under include/triage/patterns/*.yaml, one per scope: ``generic.yaml`` for grid/HEP
errors every job can hit, ``<experiment>.yaml`` for one experiment's own messages (applied
only to that experiment's jobs, ranked before generic ones of equal priority). Each file::

    scope: generic            # or the experiment's name, as requests spell it
    patterns:
      - id: xrootd-server-error           # unique in the library
        family: xrootd                    # the kind of error, for grouping and coverage
        regex: 'Server responded with an error: \\[(\\d+)\\]'
        category: service                 # service | infrastructure | code
        service: xrootd                   # what it implicates (optional)
        retryable: true
        explain: The xrootd door refused the request ...   # one line for operators
        priority: 85                      # optional, default 50: the best match wins
        keywords: [...]                   # optional: derived from the regex
        streams: [stdout, stderr, eventlog, reason]        # optional, default all
        resource: memory                  # optional: memory | disk | time (resource limits)
        confidence: 0.8                   # optional

Matching is fast because no regex runs on a line that cannot match it: every pattern has
keywords (ASCII literal text it requires, lower-cased, without digits), one trie-shaped regex
finds them, and its answer is cached per line *shape* (the lower-cased line without digits),
so the thousands of lines that differ only in event numbers and times are looked at once.
"""

from __future__ import annotations

import functools
import logging
import re
from bisect import bisect_right
import re._constants as sre_c
import re._parser as sre_parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.constants import Category
from prodops.exceptions import ProdopsError
from prodops.triage.literals import LiteralSet
from prodops.triage.tail import STREAMS

log = logging.getLogger(__name__)

GENERIC = "generic"
RESOURCES = ("memory", "disk", "time")
DEFAULT_PRIORITY = 50
DEFAULT_CONFIDENCE = 0.8
MIN_KEYWORD = 3
_STREAM_RANK = {"reason": 0, "stderr": 1, "stdout": 2, "eventlog": 3}
_DIGITS = b"0123456789"
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
"""Shape of a line in one pass: ASCII lower-cased (``_LOWER``) and digits deleted (``_DIGITS``)."""
_CACHE_LIMIT = 200_000
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_FIELDS = {"id", "family", "regex", "category", "service", "retryable", "explain", "priority", "keywords",
           "streams", "resource", "confidence"}
_REQUIRED = ("id", "family", "regex", "category", "retryable", "explain")


class PatternInvalid(ProdopsError):
    """A pattern file or one of its patterns is malformed."""


@dataclass(frozen=True, eq=False)
class Pattern:
    id: str
    family: str
    regex: re.Pattern[str]
    category: Category
    retryable: bool
    explain: str
    service: str | None = None
    priority: int = DEFAULT_PRIORITY
    scope: str = GENERIC
    streams: frozenset[str] = frozenset(STREAMS)
    resource: str | None = None
    confidence: float = DEFAULT_CONFIDENCE
    keywords: tuple[str, ...] = ()
    source: str = ""

    def applies_to(self, experiment: str | None) -> bool:
        return self.scope == GENERIC or self.scope == (experiment or "").lower()


@dataclass(frozen=True)
class Match:
    """One line a pattern matched."""

    pattern: Pattern
    stream: str
    index: int
    """Index of the line in its tail (see :class:`prodops.triage.tail.Tail`)."""
    text: str

    def rank(self) -> tuple[int, int, int, int]:
        """Best first: priority, then the experiment's own patterns, then the stream, then the earliest line."""
        p = self.pattern
        return (-p.priority, 0 if p.scope != GENERIC else 1, _STREAM_RANK.get(self.stream, 9), self.index)


@dataclass
class Library:
    """Compiled patterns with their keyword prefilter; build it with :func:`load_library`."""

    patterns: tuple[Pattern, ...]
    _by_keyword: dict[bytes, tuple[Pattern, ...]] = field(default_factory=dict, repr=False)
    _prefilter: re.Pattern[bytes] | None = field(default=None, repr=False)
    _cache: dict[bytes, tuple[Pattern, ...]] = field(default_factory=dict, repr=False)
    _empty: set[bytes] = field(default_factory=set, repr=False)
    """Line shapes known to hold no keyword (without Hyperscan): skipped with one set lookup."""
    _literals: LiteralSet = field(default_factory=lambda: LiteralSet(()), repr=False)
    """Every keyword, found in a whole batch's shapes with one scan."""
    _by_literal: list[tuple[Pattern, ...]] = field(default_factory=list, repr=False)
    _by_ids: dict[tuple[int, ...], tuple[Pattern, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        words: dict[str, list[Pattern]] = {}
        for p in self.patterns:
            for k in p.keywords:
                words.setdefault(k, []).append(p)
        # a keyword found in the text also stands for every keyword inside it (the trie takes the longest)
        closure = {}
        for k in words:
            inside = [p for other, ps in words.items() if other in k for p in ps]
            closure[k.encode()] = tuple(dict.fromkeys(inside))
        self._by_keyword = closure
        self._prefilter = re.compile(_trie(sorted(words)).encode()) if words else None
        self._literals = LiteralSet(list(closure))
        self._by_literal = [closure[k] for k in self._literals.literals]
        self._by_ids = {}
        """Candidates of a line by the keywords found in it (a few hundred distinct sets at most)."""

    def by_id(self) -> dict[str, Pattern]:
        return {p.id: p for p in self.patterns}

    def families(self) -> set[str]:
        return {p.family for p in self.patterns}

    def _candidates(self, shape: bytes) -> tuple[Pattern, ...]:
        if self._prefilter is None:
            return ()
        found: dict[Pattern, None] = {}
        search = self._prefilter.search
        m = search(shape)
        while m is not None:
            for p in self._by_keyword[m.group()]:
                found[p] = None
            m = search(shape, m.start() + 1)
        return tuple(found)

    def match(self, streams: Mapping[str, Sequence[str]], experiment: str | None = None) -> list[Match]:
        """Every (pattern, line) match in the given streams' lines, best first."""
        return self.match_many([streams], [experiment])[0]

    def match_many(self, items: Sequence[Mapping[str, Any]],
                   experiments: Sequence[str | None]) -> list[list[Match]]:
        """:meth:`match` for a batch of jobs: every line of every job is shaped in one pass.

        Each job maps a stream to its lines, or to a :class:`~prodops.triage.tail.Tail`
        (whose raw bytes are shaped without decoding them).

        A line's shape is its bytes, ASCII lower-cased, without digits (keywords are ASCII and
        digit-free). Only the lines whose shape holds a keyword are looked at (see
        :meth:`_keyword_lines`); their candidate patterns are cached by shape.
        """
        segments: list[tuple[int, str, Any]] = []  # (job, stream, lines) of each block
        blocks: list[bytes] = []
        for job, streams in enumerate(items):
            for stream, source in streams.items():
                raw = getattr(source, "raw", None)
                if raw is not None:  # a Tail read from a file: shape its bytes, decode nothing
                    if not source.count:
                        continue
                    block = raw
                else:
                    lines = source.lines if hasattr(source, "lines") else source
                    if not lines:
                        continue
                    block = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
                segments.append((job, stream, source))
                blocks.append(block)
        found: list[list[Match]] = [[] for _ in items]
        if not blocks:
            return found
        cache = self._cache
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        for segment, index, shape in self._keyword_lines(blocks):
            if isinstance(shape, tuple):  # the keywords Hyperscan found in the line, in order
                candidates = self._by_ids.get(shape)
                if candidates is None:
                    candidates = self._by_ids[shape] = self._of_literals(shape)
            else:
                candidates = cache.get(shape)
                if candidates is None:
                    candidates = cache[shape] = self._candidates(shape)
            if not candidates:
                continue
            job, stream, source = segments[segment]
            lines = source.lines if hasattr(source, "lines") else source
            line, experiment = lines[index], experiments[job]
            for p in candidates:
                if stream in p.streams and p.applies_to(experiment) and p.regex.search(line):
                    found[job].append(Match(p, stream, index, line))
        for matches in found:
            matches.sort(key=Match.rank)
        return found

    def _of_literals(self, ids: tuple[int, ...]) -> tuple[Pattern, ...]:
        """The patterns of the keywords found in a line, in the order the keywords end in it (as the
        trie finds them: patterns of equal rank keep that order)."""
        found: dict[Pattern, None] = {}
        for i in ids:
            for p in self._by_literal[i]:
                found[p] = None
        return tuple(found)

    def _keyword_lines(self, blocks: Sequence[bytes]) -> Iterator[tuple[int, int, Any]]:
        """(block, line index, what was found) of every line that may hold a keyword, in order.

        With Hyperscan, one vectored scan of the batch's shapes (each block shaped on its own, the
        blocks not joined: a copy of the whole batch saved) finds every keyword: what was found is
        the keywords of the line, in the order they end in it (their patterns are the line's
        candidates). Without Hyperscan, the shapes are split into lines and each distinct shape is
        searched once (the trie), which slows down as the library grows; what was found is then the
        shape.
        """
        if self._literals.engine is None:
            yield from self._keyword_lines_by_shape(blocks)
            return
        block, index, counted = -1, -1, 0
        ids: dict[int, None] = {}  # the keywords of the current line, empty before the first hit
        data = b""
        shaped = [b.translate(_LOWER, _DIGITS) for b in blocks]
        for at, end, literal in self._literals.block_hits(shaped):
            if at != block:
                if ids:
                    yield block, index, tuple(ids)
                block, data = at, shaped[at]
                index, counted, ids = data.count(b"\n", 0, end - 1), end - 1, {literal: None}
                continue
            line = index + data.count(b"\n", counted, end - 1)
            counted = end - 1
            if line != index:
                yield block, index, tuple(ids)
                index, ids = line, {literal: None}
            else:
                ids[literal] = None
        if ids:
            yield block, index, tuple(ids)

    def _keyword_lines_by_shape(self, blocks: Sequence[bytes]) -> Iterator[tuple[int, int, bytes]]:
        shapes = b"\n".join(blocks).translate(_LOWER, _DIGITS).split(b"\n")
        starts, total = [], 0
        for block in blocks:
            starts.append(total)
            total += block.count(b"\n") + 1
        if len(shapes) != total:
            raise AssertionError(f"line shapes ({len(shapes)}) do not line up with lines ({total})")
        empty = self._empty
        if len(empty) >= _CACHE_LIMIT:
            empty.clear()
        interesting = set()
        for shape in set(shapes).difference(empty):  # each distinct shape is looked at once
            if self._candidates(shape):
                interesting.add(shape)
            else:
                empty.add(shape)
        for i in [i for i, shape in enumerate(shapes) if shape in interesting]:
            at = bisect_right(starts, i) - 1
            yield at, i - starts[at], shapes[i]


def _trie(words: Iterable[str]) -> str:
    """One regex that finds any of ``words``, shaped as a trie so each position costs little."""
    root: dict[str, Any] = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch != ""]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    return build(root)


def required_literals(regex: str, flags: int = 0) -> tuple[str, ...]:
    """Literal text a match must contain (any one of the returned strings), lower-cased, without digits.

    Taken from the regex's parse tree: runs of literal characters in the top-level sequence,
    descending into groups and into alternations whose every branch has one. Empty when none
    is at least MIN_KEYWORD long.
    """
    return tuple(sorted(w for w in set(_best(list(sre_parse.parse(regex, flags))) or ()) if w.isascii()))


def _best(items: list[tuple[Any, Any]]) -> list[str] | None:
    candidates: list[list[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            text = "".join(run).lower()
            if len(text.strip()) >= MIN_KEYWORD:
                candidates.append([text])
            run.clear()

    for op, av in items:
        if op is sre_c.LITERAL and not chr(av).isdigit():
            run.append(chr(av))
            continue
        flush()
        sub: list[str] | None = None
        if op is sre_c.SUBPATTERN:
            sub = _best(list(av[3]))
        elif op is sre_c.BRANCH:
            alts = [_best(list(b)) for b in av[1]]
            if all(alts):
                sub = [w for a in alts for w in a]  # type: ignore[union-attr]
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT) and av[0] >= 1:
            sub = _best(list(av[2]))
        if sub:
            candidates.append(sub)
    flush()
    if not candidates:
        return None
    return max(candidates, key=lambda alts: (min(len(a) for a in alts), -len(alts)))


def _fail(source: str, pid: Any, field_name: str, value: Any, fix: str) -> PatternInvalid:
    where = f"{source}: pattern {pid!r}" if pid is not None else source
    return PatternInvalid(f"{where}: {field_name} = {value!r} {fix}")


def parse_pattern(raw: Any, *, scope: str, source: str) -> Pattern:
    """One pattern from its YAML mapping; PatternInvalid names the file, the pattern and the field."""
    if not isinstance(raw, dict):
        raise PatternInvalid(f"{source}: each entry of patterns is a mapping with {', '.join(_REQUIRED)}; got {raw!r}")
    pid = raw.get("id")
    for name in _REQUIRED:
        if name not in raw:
            raise _fail(source, pid, name, None, f"is missing; every pattern needs {', '.join(_REQUIRED)}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _fail(source, pid, "field", unknown[0], f"is not a pattern field; use {', '.join(sorted(_FIELDS))}")
    if not isinstance(pid, str) or not _ID.match(pid):
        raise _fail(source, pid, "id", pid, "must be lower-case letters, digits, '.', '_' or '-'")
    try:
        category = Category(raw["category"])
    except ValueError:
        raise _fail(source, pid, "category", raw["category"], "is not one of service, infrastructure, code") from None
    if category is Category.UNKNOWN:
        raise _fail(source, pid, "category", "unknown", "is what triage says when nothing matches; pick service, infrastructure or code")
    if not isinstance(raw["retryable"], bool):
        raise _fail(source, pid, "retryable", raw["retryable"], "must be true or false")
    for name in ("family", "explain", "regex"):
        if not isinstance(raw[name], str) or not raw[name].strip():
            raise _fail(source, pid, name, raw[name], "must be a non-empty string")
    if "\n" in raw["explain"].strip():
        raise _fail(source, pid, "explain", raw["explain"][:40] + "...", "must be one line for operators")
    try:
        regex = re.compile(raw["regex"], re.MULTILINE)
    except re.error as err:
        raise _fail(source, pid, "regex", raw["regex"], f"does not compile ({err}); fix the expression") from None
    priority = raw.get("priority", DEFAULT_PRIORITY)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 100:
        raise _fail(source, pid, "priority", priority, "must be an integer 0..100 (higher wins)")
    confidence = raw.get("confidence", DEFAULT_CONFIDENCE)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence <= 1:
        raise _fail(source, pid, "confidence", confidence, "must be a number in (0, 1]")
    service = raw.get("service")
    if service is not None and (not isinstance(service, str) or not _ID.match(service)):
        raise _fail(source, pid, "service", service, "must be a lower-case service id such as samweb or dcache")
    resource = raw.get("resource")
    if resource is not None and resource not in RESOURCES:
        raise _fail(source, pid, "resource", resource, f"must be one of {', '.join(RESOURCES)}")
    streams = raw.get("streams", list(STREAMS))
    if not isinstance(streams, list) or not streams or any(s not in STREAMS for s in streams):
        raise _fail(source, pid, "streams", streams, f"must be a list of {', '.join(STREAMS)}")
    if "keywords" in raw:
        keywords = raw["keywords"]
        if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) for k in keywords):
            raise _fail(source, pid, "keywords", keywords, "must be a non-empty list of strings")
        bad = [k for k in keywords if len(k) < MIN_KEYWORD or any(c.isdigit() for c in k) or not k.isascii()]
        if bad:
            raise _fail(source, pid, "keywords", bad[0],
                        f"must be at least {MIN_KEYWORD} ASCII characters without digits")
        keywords = tuple(sorted({k.lower() for k in keywords}))
    else:
        keywords = required_literals(raw["regex"])
        if not keywords:
            raise _fail(source, pid, "regex", raw["regex"],
                        f"has no literal text of {MIN_KEYWORD}+ characters (digits aside) that every match contains;"
                        " add keywords: [words every matching line contains]")
    return Pattern(
        id=pid, family=raw["family"].strip(), regex=regex, category=category, retryable=raw["retryable"],
        explain=raw["explain"].strip(), service=service, priority=priority, scope=scope,
        streams=frozenset(streams), resource=resource, confidence=float(confidence), keywords=keywords, source=source,
    )


def parse_file(path: Path) -> list[Pattern]:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PatternInvalid(f"{path}: not valid YAML ({err}); fix the syntax") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("patterns"), list):
        raise PatternInvalid(f"{path}: a pattern file is a mapping with scope and a list of patterns")
    scope = raw.get("scope", path.stem)
    if not isinstance(scope, str) or not _ID.match(scope.lower()):
        raise PatternInvalid(f"{path}: scope = {scope!r} must be 'generic' or an experiment name")
    return [parse_pattern(p, scope=scope.lower(), source=str(path)) for p in raw["patterns"]]


def build_library(paths: Iterable[Path]) -> Library:
    patterns: list[Pattern] = []
    seen: dict[str, str] = {}
    for path in paths:
        for p in parse_file(path):
            if p.id in seen:
                raise PatternInvalid(f"{path}: pattern id {p.id!r} is also used in {seen[p.id]}; rename one")
            seen[p.id] = str(path)
            patterns.append(p)
    return Library(tuple(patterns))


@functools.cache
def load_library(directory: Path | None = None) -> Library:
    """Every pattern under include/triage/patterns, validated and compiled once per process."""
    directory = directory or config.INCLUDE_DIR / "triage" / "patterns"
    paths = sorted(directory.glob("*.yaml"))
    library = build_library(paths)
    log.info("Loaded %d triage patterns from %d files in %s", len(library.patterns), len(paths), directory)
    return library
