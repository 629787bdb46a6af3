"""One verdict per failed attempt, by specificity, with the decision path recorded.

Every kind of knowledge proposes a candidate; the most specific wins (rules in
:func:`_rank`, highest first):

1. an experiment's classifier plugin (it knows its own jobs);
2. for a held or removed job, the hold reason as the pool worded it (a pattern on the reason),
   then its hold code: HTCondor stopped the job and says why, the log only shows it dying;
3. a service or infrastructure pattern on a line *inside* a framework's exception report:
   the storage layer said so, so a FileOpenError or a traceback around it is a consequence;
4. a framework report's innermost exception, when its category decides (ProductNotFound is
   code, FatalRootError's XRootD cause is storage ...): the structure names the cause;
5. the pattern library on any line, by priority (the cause outranks the consequence);
6. HTCondor facts: signals, then the exit-code tables of the wrappers;
7. nothing known: ``unknown``, with the probable cause lines of the tail as evidence.

A framework report whose category does not decide still gives its cause line as evidence.
The evidence is the winner's line first, then the lines of the other candidates, then the
probable cause lines; ``verdict.decision`` lists the candidates and why the winner won.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prodops.constants import Category
from prodops.triage import facts as facts_rules
from prodops.triage.parsers import Framework, FrameworkError, categorize, load_categories, parse_tail, prescan
from prodops.triage.patterns import Library, Match, load_library
from prodops.triage.plugins import PluginRunner, discover
from prodops.triage.scorer import GUESS_CONFIDENCE, Guess, ScoredLine, guess, probable_causes
from prodops.triage.signature import signature
from prodops.triage.tail import STDERR, STDOUT, JobTail
from prodops.triage.verdict import FACTS, FALLBACK, FRAMEWORK, GUESS, PATTERN, JobFacts, Verdict

log = logging.getLogger(__name__)

MAX_EVIDENCE = 5
MAX_CANDIDATES = 8
REPORT_STREAMS = (STDERR, STDOUT)
"""Streams read for framework reports (the event log and the reason have none)."""
WRAPPED_BONUS = 30
"""How much a service/infrastructure pattern inside an exception report outranks the report."""
PROBABLE_CAUSE = "probable-cause"
HOLD_RANK = 78
"""A held job's hold code: below a pattern that reads its reason more closely (priority 52 and up)."""
WEAK_RANK = 50
"""A winner this unspecific (a generic crash or exit-code rule) with at most one line of its own
gets the probable cause lines too."""
REASON_BASE, REASON_SCALE = 55, 0.4
"""A held job's reason outranks its log (55 to 95 by the pattern's priority): HTCondor says why it
stopped the job. A generic reason (output files missing: a consequence) stays below a specific
cause in the log (a CVMFS or storage error of priority 85 and more)."""


@dataclass
class Candidate:
    """What one piece of knowledge proposes; :func:`_rank` orders them."""

    source: str
    rule: str
    category: Category
    rank: int
    why: str
    explain: str
    service: str | None = None
    retryable: bool = False
    resource: str | None = None
    confidence: float = 0.6
    stream: str | None = None
    index: int | None = None
    text: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "rule": self.rule, "category": self.category.value, "rank": self.rank,
                "why": self.why, "line": self.text}


@dataclass(frozen=True)
class Report:
    """A framework report found in one stream."""

    stream: str
    error: FrameworkError


class Classifier:
    """Holds the compiled library and the plugins; classify a batch with :meth:`classify`."""

    def __init__(self, library: Library | None = None, runner: PluginRunner | None = None) -> None:
        self.library = library or load_library()
        self.runner = runner if runner is not None else PluginRunner(discover())
        self.plugin_seconds = self.match_seconds = 0.0
        """How long the plugins and the pattern library took in the last :meth:`classify` (shown apart)."""
        facts_rules.load_facts()  # the rest of the knowledge is read once too, before the first job
        load_categories()

    @staticmethod
    def _streams(facts: JobFacts, tail: JobTail) -> dict[str, Any]:
        streams: dict[str, Any] = dict(tail.streams())
        streams["reason"] = facts.reason_lines
        return streams

    def matches(self, facts: JobFacts, tail: JobTail) -> list[Match]:
        return self.library.match(self._streams(facts, tail), facts.experiment)

    def classify(self, items: Sequence[tuple[JobFacts, JobTail]]) -> list[Verdict]:
        prescan([t for _, tail in items for name, t in tail.streams().items() if name in REPORT_STREAMS])
        started = time.perf_counter()
        decided = self.runner.run(items) if self.runner.plugins else [None] * len(items)
        self.plugin_seconds = time.perf_counter() - started
        started = time.perf_counter()
        matched = self.library.match_many([self._streams(f, t) for f, t in items], [f.experiment for f, _ in items])
        self.match_seconds = time.perf_counter() - started
        return [self.decide(f, t, plugin_verdict=p, matches=m) for (f, t), p, m in zip(items, decided, matched)]

    def decide(self, facts: JobFacts, tail: JobTail, *, plugin_verdict: Verdict | None = None,
               matches: list[Match] | None = None) -> Verdict:
        if matches is None:
            matches = self.matches(facts, tail)
        reports = _reports(tail)
        candidates = _candidates(facts, matches, reports)
        candidates.sort(key=lambda c: -c.rank)
        lines = _with_context(_evidence_lines(candidates, tail), reports, tail)
        if plugin_verdict is not None:
            seen = {(e["stream"], e["text"]) for e in plugin_verdict.evidence}
            plugin_verdict.evidence += [e for e in lines if (e["stream"], e["text"]) not in seen]
            del plugin_verdict.evidence[MAX_EVIDENCE:]
            plugin_verdict.decision = _decision(plugin_verdict.rule, "an experiment's plugin decides first", candidates)
            plugin_verdict.signature = signature(plugin_verdict.rule, _first_text(plugin_verdict.evidence))
            return plugin_verdict
        winner = next((c for c in candidates if c.category is not Category.UNKNOWN), None)
        if winner is None:
            verdict = facts_rules.fallback(facts)
            probable = _probable_lines(tail, facts)
            verdict.evidence = lines or [_scored(tail, p) for p in probable]
            hint = guess(_report_causes(candidates, probable))
            if hint is None:
                verdict.decision = _decision(verdict.rule, "no rule decided; the evidence is the probable cause lines",
                                             candidates)
            else:
                _guessed(verdict, hint, tail)
                verdict.decision = _decision(verdict.rule, f"no rule decided; a guess from the words of the probable"
                                             f" cause lines ({', '.join(hint.words[:4])})", candidates)
        else:
            if winner.rank < WEAK_RANK and len(lines) < 2:
                seen = {(e["stream"], e["text"]) for e in lines}
                lines += [e for e in _probable(tail, facts) if (e["stream"], e["text"]) not in seen]
                del lines[MAX_EVIDENCE:]
            verdict = Verdict(category=winner.category, rule=winner.rule, source=winner.source, explain=winner.explain,
                              service=winner.service, retryable=winner.retryable, confidence=winner.confidence,
                              resource=winner.resource, evidence=lines)
            verdict.decision = _decision(winner.rule, winner.why, candidates)
        verdict.signature = signature(verdict.rule, _first_text(verdict.evidence))
        return verdict


def _reports(tail: JobTail) -> list[Report]:
    found: list[Report] = []
    streams = tail.streams()
    for name in REPORT_STREAMS:
        t = streams.get(name)
        if t is not None:
            found += [Report(name, err) for err in parse_tail(t) if not err.is_warning]
    return found


def _candidates(facts: JobFacts, matches: Sequence[Match], reports: Sequence[Report]) -> list[Candidate]:
    out: list[Candidate] = []
    held = facts.state in ("held", "removed")
    seen_rules: set[str] = set()
    for m in matches:
        if m.pattern.id in seen_rules or len(out) >= MAX_CANDIDATES:
            continue
        seen_rules.add(m.pattern.id)
        out.append(_pattern_candidate(m, reports, held))
    for n, report in enumerate(reports):
        after = _reported_before_abort(report, reports)
        out.append(_report_candidate(report, n) if after is None else _abort_candidate(report, after))
    verdict = facts_rules.from_facts(facts)
    if verdict is not None:
        hold = verdict.rule.startswith("hold-")
        rank = HOLD_RANK if hold and held else 35
        out.append(Candidate(FACTS, verdict.rule, verdict.category, rank,
                             "HTCondor held the job and its hold code says why" if hold
                             else "what HTCondor recorded (signal or exit code) says it",
                             verdict.explain, verdict.service, verdict.retryable, verdict.resource, verdict.confidence,
                             "reason" if hold and facts.reason_lines else None, 0 if hold and facts.reason_lines else None,
                             facts.reason_lines[0] if hold and facts.reason_lines else None))
    return out


def _pattern_candidate(m: Match, reports: Sequence[Report], held: bool) -> Candidate:
    p = m.pattern
    rank, why = p.priority, f"the pattern {p.id} (priority {p.priority}) matched"
    if m.stream == "reason" and held:
        rank = REASON_BASE + round(p.priority * REASON_SCALE)
        why = f"the pool's hold or remove reason says why ({p.id}, priority {p.priority})"
    elif p.category in (Category.SERVICE, Category.INFRASTRUCTURE):
        inside = next((r for r in reports if r.stream == m.stream and r.error.start < m.index <= r.error.end), None)
        if inside is not None:
            rank = max(rank, 75) + WRAPPED_BONUS
            why = (f"the {p.category.value} layer said so inside the {inside.error.framework.value} report"
                   f" ({p.id}): the exception around it is a consequence")
    return Candidate(PATTERN, p.id, p.category, rank, why, p.explain, p.service, p.retryable, p.resource,
                     p.confidence, m.stream, m.index, m.text)


def _report_candidate(report: Report, order: int) -> Candidate:
    err = report.error
    rule = categorize(err)
    chain = " -> ".join(err.categories) or err.framework.value
    rule_id = f"{err.framework.value}:{'-'.join((err.category or 'report').split())}"
    if rule is None or not rule.decides:
        return Candidate(FRAMEWORK, rule_id, Category.UNKNOWN, 0,
                         f"{err.framework.value} report ({chain}) whose category does not decide",
                         f"The job's {err.framework.value} report ends in {err.category or 'an error'}: {err.cause}",
                         stream=report.stream, index=err.cause_line, text=err.cause)
    return Candidate(FRAMEWORK, rule_id, rule.category, 75 - order,
                     f"the innermost exception of the {err.framework.value} report ({chain}) is"
                     f" {rule.key}: {rule.category.value}",
                     rule.reason, rule.service, rule.retryable, rule.resource, rule.confidence,
                     report.stream, err.cause_line, err.cause)


ABORT_AFTER = 3
"""Lines between a report and the abort it led to (``what(): ...`` then ``Aborted (core dumped)``)."""


def _reported_before_abort(report: Report, reports: Sequence[Report]) -> Report | None:
    """The report an abort followed (a C++ terminate, a failed assertion's library report): the
    abort is its consequence, so that report decides, not the signal."""
    err = report.error
    if err.framework is not Framework.CRASH or err.severity not in ("Aborted", "SIGABRT"):
        return None
    return next((r for r in reports if r is not report and r.stream == report.stream
                 and r.error.framework is not Framework.CRASH and 0 <= err.start - r.error.end <= ABORT_AFTER), None)


def _abort_candidate(report: Report, cause: Report) -> Candidate:
    err = report.error
    return Candidate(FRAMEWORK, f"{err.framework.value}:{err.category or 'report'}", Category.UNKNOWN, 0,
                     f"the abort that followed the {cause.error.framework.value} report (its consequence)",
                     f"The process aborted after the {cause.error.framework.value} report: {cause.error.cause}",
                     stream=report.stream, index=err.cause_line, text=err.cause)


def _evidence_lines(candidates: Sequence[Candidate], tail: JobTail) -> list[dict[str, Any]]:
    """The winner's line first, then the other candidates' lines, each once."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for c in candidates:
        if c.stream is None or c.index is None or (c.stream, c.index) in seen:
            continue
        seen.add((c.stream, c.index))
        out.append(_line(tail, c.stream, c.index, c.text, c.rule))
        if len(out) >= MAX_EVIDENCE:
            break
    return out


CONTEXT = "context"
"""Rule of an evidence line shown for context: the header of the framework report around the cause."""


def _with_context(lines: list[dict[str, Any]], reports: Sequence[Report], tail: JobTail) -> list[dict[str, Any]]:
    """The root-cause line, then the header of the framework report it sits in (the art/CMSSW
    exception block's first line, a traceback's start: what the cause interrupted), then the rest.
    The header is context, never the cause: it is added only where it displaces no line."""
    if not lines or len(lines) >= MAX_EVIDENCE:
        return lines
    first = lines[0]
    t = tail.streams().get(first["stream"])
    if t is None:
        return lines
    index = t.count - first["from_end"]
    around = next((r for r in reports if r.stream == first["stream"] and r.error.start < index <= r.error.end), None)
    if around is None:
        return lines
    header = t.line(around.error.start).strip()
    if not header or any(e["stream"] == first["stream"] and e["text"] == header for e in lines):
        return lines
    return [first, _line(tail, first["stream"], around.error.start, header, f"{CONTEXT}:{around.error.framework.value}"),
            *lines[1:]]


def _probable_lines(tail: JobTail, facts: JobFacts) -> list[ScoredLine]:
    streams: dict[str, Sequence[str]] = {name: t.lines for name, t in tail.streams().items()}
    streams["reason"] = facts.reason_lines
    return probable_causes(streams)


def _report_causes(candidates: Sequence[Candidate], probable: Sequence[ScoredLine]) -> list[ScoredLine]:
    """The lines a guess reads, best first: the innermost message of each framework report whose
    category did not decide (what the framework says failed, not its header), then the probable
    cause lines the scorer found elsewhere."""
    causes = [ScoredLine(c.stream, c.index, c.text, 0.0) for c in candidates
              if c.source == FRAMEWORK and c.stream is not None and c.index is not None and c.text]
    seen = {(c.stream, c.index) for c in causes}
    return [*causes, *(p for p in probable if (p.stream, p.index) not in seen)]


def _scored(tail: JobTail, p: ScoredLine) -> dict[str, Any]:
    return _line(tail, p.stream, p.index, p.text, PROBABLE_CAUSE, score=p.score)


def _probable(tail: JobTail, facts: JobFacts) -> list[dict[str, Any]]:
    return [_scored(tail, p) for p in _probable_lines(tail, facts)]


GUESS_RETRYABLE = {Category.SERVICE: True, Category.INFRASTRUCTURE: True, Category.CODE: False}
"""What a guess says of a retry (the policy still leaves a guess alone unless ``max_guess_retries``)."""


def _guessed(verdict: Verdict, hint: Guess, tail: JobTail) -> None:
    """Turn a fallback verdict into a marked, low-confidence guess of ``hint.category``; the line
    that weighed most goes first in the evidence."""
    category = Category(hint.category)
    verdict.category, verdict.rule = category, f"{GUESS}{category.value}"
    verdict.confidence, verdict.retryable = GUESS_CONFIDENCE, GUESS_RETRYABLE[category]
    verdict.explain = (f"A guess, not a known error: no rule matched, and the probable cause line speaks in"
                       f" {category.value} words ({', '.join(hint.words[:4])}). {verdict.explain} Read the evidence;"
                       f" a guess is not retried by itself.")
    first = _scored(tail, hint.line)
    verdict.evidence = [first, *(e for e in verdict.evidence if (e["stream"], e["text"]) != (first["stream"], first["text"]))]
    del verdict.evidence[MAX_EVIDENCE:]


def _line(tail: JobTail, stream: str, index: int, text: str | None, rule: str, **extra: Any) -> dict[str, Any]:
    """One evidence line, with where it is in its file (the ``reason`` stream has no file)."""
    t = tail.streams().get(stream)
    return {"stream": stream, "line": t.line_number(index) if t is not None else None,
            "from_end": t.from_end(index) if t is not None else None, "text": text, "rule": rule, **extra}


def _first_text(evidence: Sequence[dict[str, Any]]) -> str | None:
    return evidence[0]["text"] if evidence else None


def _decision(winner: str, why: str, candidates: Sequence[Candidate]) -> dict[str, Any]:
    return {"winner": winner, "why": why, "candidates": [c.summary() for c in candidates[:MAX_CANDIDATES]]}


__all__ = ["FACTS", "FALLBACK", "FRAMEWORK", "PATTERN", "Candidate", "Classifier"]
