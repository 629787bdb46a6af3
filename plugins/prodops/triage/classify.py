"""One verdict per failed attempt, by precedence: experiment plugin, pattern library, HTCondor facts, fallback.

The pattern matches are evidence whoever decides: a plugin's verdict carries them too, so
the page and the task log always show the lines that matched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prodops.triage import facts as facts_rules
from prodops.triage.patterns import Library, Match, load_library
from prodops.triage.plugins import PluginRunner, discover
from prodops.triage.tail import JobTail
from prodops.triage.verdict import PATTERN, JobFacts, Verdict

log = logging.getLogger(__name__)

MAX_EVIDENCE = 5


class Classifier:
    """Holds the compiled library and the plugins; classify a batch with :meth:`classify`."""

    def __init__(self, library: Library | None = None, runner: PluginRunner | None = None) -> None:
        self.library = library or load_library()
        self.runner = runner if runner is not None else PluginRunner(discover())

    @staticmethod
    def _streams(facts: JobFacts, tail: JobTail) -> dict[str, Any]:
        streams: dict[str, Any] = dict(tail.streams())
        streams["reason"] = facts.reason_lines
        return streams

    def matches(self, facts: JobFacts, tail: JobTail) -> list[Match]:
        return self.library.match(self._streams(facts, tail), facts.experiment)

    def classify(self, items: Sequence[tuple[JobFacts, JobTail]]) -> list[Verdict]:
        decided = self.runner.run(items) if self.runner.plugins else [None] * len(items)
        matched = self.library.match_many([self._streams(f, t) for f, t in items], [f.experiment for f, _ in items])
        return [self.decide(f, t, plugin_verdict=p, matches=m) for (f, t), p, m in zip(items, decided, matched)]

    def decide(self, facts: JobFacts, tail: JobTail, *, plugin_verdict: Verdict | None = None,
               matches: list[Match] | None = None) -> Verdict:
        if matches is None:
            matches = self.matches(facts, tail)
        evidence = _evidence(matches, tail)
        if plugin_verdict is not None:
            seen = {(e["stream"], e["text"]) for e in plugin_verdict.evidence}
            plugin_verdict.evidence += [e for e in evidence if (e["stream"], e["text"]) not in seen]
            del plugin_verdict.evidence[MAX_EVIDENCE:]
            return plugin_verdict
        if matches:
            p = matches[0].pattern
            return Verdict(category=p.category, rule=p.id, source=PATTERN, explain=p.explain, service=p.service,
                           retryable=p.retryable, confidence=p.confidence, resource=p.resource, evidence=evidence)
        verdict = facts_rules.from_facts(facts) or facts_rules.fallback(facts)
        verdict.evidence = evidence
        return verdict


def _evidence(matches: Sequence[Match], tail: JobTail) -> list[dict[str, Any]]:
    """The best match of each pattern, best first, with where the line is in its file."""
    streams = tail.streams()
    out: list[dict[str, Any]] = []
    seen_rules: set[str] = set()
    seen_lines: set[tuple[str, int]] = set()
    for m in matches:
        if m.pattern.id in seen_rules or (m.stream, m.index) in seen_lines:
            continue
        seen_rules.add(m.pattern.id)
        seen_lines.add((m.stream, m.index))
        t = streams.get(m.stream)
        out.append({
            "stream": m.stream,
            "line": t.line_number(m.index) if t is not None else None,
            "from_end": t.from_end(m.index) if t is not None else None,
            "text": m.text,
            "rule": m.pattern.id,
        })
        if len(out) >= MAX_EVIDENCE:
            break
    return out
