"""The labelled corpus (tests/fixtures/triage/corpus.yaml): every case gets its verdict and evidence line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from prodops.triage.classify import Classifier
from prodops.triage.corpus import TRAIN, load_cases
from prodops.triage.patterns import load_library
from prodops.triage.plugins import PluginRunner
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail
from prodops.triage.verdict import JobFacts

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "triage" / "corpus.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CORPUS.read_text())["cases"]
ISSUE_FAMILIES = {
    "sam", "ifdh", "xrootd", "gfal_fts", "cvmfs", "database", "credentials", "condor_transfer", "shadow",
    "eviction", "resources", "bad_alloc", "segfault", "art", "fhicl", "geant4", "root", "python",
}


def tail_of(text: str | None, stream: str) -> Tail:
    lines = (text or "").splitlines()
    return Tail(stream=stream, path=f"/w/{stream}", lines=lines, status="ok" if lines else "empty", first_line=1)


def case_input(case: dict[str, Any], proc: int = 0) -> tuple[JobFacts, JobTail]:
    facts = {"state": "completed", **case.get("facts", {})}
    jf = JobFacts(submission_id=1, proc_id=proc, cluster_id=123, experiment=case.get("experiment", "nova"), **facts)
    tail = JobTail(stdout=tail_of(case.get("stdout"), STDOUT), stderr=tail_of(case.get("stderr"), STDERR),
                   eventlog=tail_of(case.get("eventlog"), EVENTLOG))
    return jf, tail


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_library(), PluginRunner([]))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(classifier, case):
    facts, tail = case_input(case)
    [verdict] = classifier.classify([(facts, tail)])
    expect = case["expect"]
    got = {"category": verdict.category.value, "rule": verdict.rule}
    assert got == {"category": expect["category"], "rule": expect["rule"]}, verdict.evidence
    for key in ("service", "resource"):
        if key in expect:
            assert getattr(verdict, key) == expect[key]
    if "evidence" in expect:
        assert verdict.evidence and expect["evidence"] in verdict.evidence[0]["text"]
        assert verdict.evidence[0]["rule"] == verdict.rule
    if "explain" in expect:
        assert expect["explain"] in verdict.explain


def test_the_whole_corpus_in_one_batch_gives_the_same_verdicts(classifier):
    items = [case_input(c, proc=i) for i, c in enumerate(CASES)]
    assert [v.rule for v in classifier.classify(items)] == [c["expect"]["rule"] for c in CASES]


def _train_cause_lines() -> list[str]:
    """The cause line of every real ``train`` case, with the whole line of the case that holds it.

    A label's cause_line is a substring of the line a person names, so a pattern may need the
    rest of that line (a host, a prefix) to match. ``test`` cases are never read here.
    """
    lines: list[str] = []
    for case in load_cases():
        if case.split != TRAIN:
            continue
        cause = str(case.label.get("cause_line") or "")
        if not cause:
            continue
        lines.append(cause)
        lines += [line for text in case.texts() for line in text.splitlines() if cause in line]
    return lines


def test_every_pattern_and_every_family_of_the_issue_has_a_case(classifier):
    """A pattern is covered by a synthetic case it decides, gives evidence for or matches (a framework
    report may decide the case, the pattern still reads a line), or by the cause line of a real train case."""
    library = load_library()
    verdicts = classifier.classify([case_input(c, proc=i) for i, c in enumerate(CASES)])
    shown = {c["expect"]["rule"] for c in CASES} | {e["rule"] for v in verdicts for e in v.evidence}
    shown |= {m.pattern.id for c in CASES for m in classifier.matches(*case_input(c))}
    causes = _train_cause_lines()
    uncovered = [p.id for p in library.patterns
                 if p.id not in shown and not any(p.regex.search(line) for line in causes)]
    assert sorted(uncovered) == []
    assert ISSUE_FAMILIES <= library.families()


def test_evidence_lines_carry_their_numbers(classifier):
    case = next(c for c in CASES if c["id"] == "art-product-not-found")
    [verdict] = classifier.classify([case_input(case)])
    best = verdict.evidence[0]  # the innermost message, not the block's BEGIN line
    assert best["text"] == "getByLabel: Found zero products matching all criteria"
    assert best["stream"] == "stderr" and best["line"] == 4 and best["from_end"] == 6
