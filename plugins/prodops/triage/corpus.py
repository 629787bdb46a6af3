"""The public corpus of real failed jobs, its frozen train/test split, and triage's score on it.

Cases live in ``tests/fixtures/triage/real/<family>.yaml`` (format and sources: the README
there). A case's split is decided by its source URL alone (:func:`split_of`), so every case
copied from one thread lands on the same side, and is frozen in ``split.yaml`` when the case
is added: ``python -m prodops.triage.corpus freeze`` adds new cases and never moves one.
:func:`evaluate` scores a classifier on one split; ``make eval-triage`` prints both.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.constants import Category
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail
from prodops.triage.verdict import JobFacts, Verdict

CORPUS_DIR = config.REPO_ROOT / "tests" / "fixtures" / "triage" / "real"
SPLIT_FILE = "split.yaml"
SEEN_FILE = "seen.yaml"
"""Test-split sources a rule writer saw (reported apart, never moved to train)."""
TRAIN, TEST = "train", "test"
LABEL_CATEGORIES = (Category.SERVICE.value, Category.INFRASTRUCTURE.value, Category.CODE.value)
FACT_FIELDS = ("state", "exit_code", "exit_by_signal", "exit_signal", "hold_reason", "hold_reason_code",
               "hold_reason_subcode", "remove_reason")


class CorpusInvalid(ValueError):
    """A corpus file or case is malformed."""


def split_of(url: str) -> str:
    """``test`` for about a third of the sources, by a stable hash of the URL."""
    return TEST if int(hashlib.sha256(url.encode()).hexdigest(), 16) % 3 == 0 else TRAIN


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    url: str
    label: Mapping[str, Any]
    facts: Mapping[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    eventlog: str = ""
    experiment: str = ""

    @property
    def split(self) -> str:
        return split_of(self.url)

    def texts(self) -> list[str]:
        return [self.stdout, self.stderr, self.eventlog, str(self.facts.get("hold_reason") or "")]


def _case(raw: Any, where: str) -> Case:
    if not isinstance(raw, dict):
        raise CorpusInvalid(f"{where}: a case is a mapping")
    missing = [k for k in ("id", "family", "url", "label") if not raw.get(k)]
    if missing:
        raise CorpusInvalid(f"{where}: case {raw.get('id')!r} lacks {', '.join(missing)}")
    label = raw["label"]
    if label.get("category") not in LABEL_CATEGORIES:
        raise CorpusInvalid(f"{where}: case {raw['id']}: label.category {label.get('category')!r}"
                            f" is not one of {LABEL_CATEGORIES}")
    facts = {k: v for k, v in (raw.get("facts") or {}).items() if k in FACT_FIELDS and v is not None}
    case = Case(id=str(raw["id"]), family=str(raw["family"]), url=str(raw["url"]), label=label, facts=facts,
                stdout=raw.get("stdout") or "", stderr=raw.get("stderr") or "", eventlog=raw.get("eventlog") or "",
                experiment=str(raw.get("experiment") or ""))
    cause = str(label.get("cause_line") or "")
    if cause and not any(cause in text for text in case.texts()):
        raise CorpusInvalid(f"{where}: case {case.id}: label.cause_line {cause!r} is not in the case's texts")
    return case


def load_cases(directory: Path = CORPUS_DIR) -> list[Case]:
    """Every case of every family file, ids unique."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name in (SPLIT_FILE, SEEN_FILE):
            continue
        data = yaml.safe_load(path.read_text()) or {}
        for n, raw in enumerate(data.get("cases") or []):
            cases.append(_case(raw, f"{path.name}: cases[{n}]"))
    seen = Counter(c.id for c in cases)
    if twice := [i for i, n in seen.items() if n > 1]:
        raise CorpusInvalid(f"case ids used twice: {twice[:5]}; make each id unique")
    return cases


def frozen_split(directory: Path = CORPUS_DIR) -> dict[str, str]:
    path = directory / SPLIT_FILE
    return dict(yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def seen_urls(directory: Path = CORPUS_DIR) -> set[str]:
    path = directory / SEEN_FILE
    return {str(e["url"]) for e in (yaml.safe_load(path.read_text()) or [])} if path.exists() else set()


def freeze(directory: Path = CORPUS_DIR) -> list[str]:
    """Add every new case's split to ``split.yaml`` (existing entries are never changed)."""
    frozen = frozen_split(directory)
    new = {c.id: c.split for c in load_cases(directory) if c.id not in frozen}
    if new:
        merged = {**frozen, **new}
        header = ("# Frozen train/test split of the real corpus: written when a case is added, before any rule\n"
                  "# is written for it (python -m prodops.triage.corpus freeze). Never edit an entry.\n")
        (directory / SPLIT_FILE).write_text(header + yaml.safe_dump(dict(sorted(merged.items())), sort_keys=False))
    return sorted(new)


def _tail(text: str, stream: str) -> Tail:
    lines = text.splitlines()
    return Tail(stream=stream, path=f"/corpus/{stream}", lines=lines, status="ok" if lines else "empty", first_line=1)


def case_input(case: Case, proc: int = 0) -> tuple[JobFacts, JobTail]:
    """The case as triage sees a failed attempt: its facts and its three tails."""
    facts = {"state": "completed", **case.facts}
    job = JobFacts(submission_id=1, proc_id=proc, cluster_id=1, experiment=case.experiment, **facts)
    return job, JobTail(stdout=_tail(case.stdout, STDOUT), stderr=_tail(case.stderr, STDERR),
                        eventlog=_tail(case.eventlog, EVENTLOG))


def retry_would_help(verdict: Verdict) -> bool:
    """What triage's verdict says of resubmitting the job unchanged: a guess is not resubmitted (the
    policy leaves it for a person unless ``max_guess_retries`` says otherwise; 0 by default)."""
    return bool(verdict.retryable) and not verdict.resource and not verdict.is_guess


def cause_in_evidence(case: Case, verdict: Verdict) -> bool:
    cause = str(case.label.get("cause_line") or "")
    return bool(cause) and any(cause in e["text"] or (len(e["text"].strip()) > 8 and e["text"].strip() in cause)
                               for e in verdict.evidence)


@dataclass
class Score:
    split: str
    cases: int = 0
    category_right: int = 0
    cause_right: int = 0
    cause_labelled: int = 0
    action_right: int = 0
    unknown: int = 0
    guesses: int = 0
    guesses_right: int = 0
    confusion: Counter = field(default_factory=Counter)
    by_category: Counter = field(default_factory=Counter)
    right_by_category: Counter = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def add(self, case: Case, verdict: Verdict) -> None:
        want, got = case.label["category"], verdict.category.value
        self.cases += 1
        self.confusion[(want, got)] += 1
        self.by_category[want] += 1
        self.unknown += got == Category.UNKNOWN.value
        right = want == got
        if verdict.is_guess:
            self.guesses += 1
            self.guesses_right += right
        self.category_right += right
        self.right_by_category[want] += right
        if case.label.get("cause_line"):
            self.cause_labelled += 1
            self.cause_right += cause_in_evidence(case, verdict)
        if "retry_helps" in case.label:
            self.action_right += bool(case.label["retry_helps"]) == retry_would_help(verdict)
        if not right:
            first = verdict.evidence[0]["text"][:100] if verdict.evidence else "-"
            self.misses.append(f"{case.id}: want {want}, got {got} by {verdict.rule} ({first})")

    def share(self, n: int, of: int | None = None) -> str:
        of = self.cases if of is None else of
        return f"{100 * n / of:.1f}% ({n}/{of})" if of else "n/a"

    def format(self, *, show_misses: bool) -> str:
        cats = (*LABEL_CATEGORIES, Category.UNKNOWN.value)
        lines = [
            f"=== {self.split}: {self.cases} cases",
            f"category accuracy      {self.share(self.category_right)}",
            *(f"  {c:<15}      {self.share(self.right_by_category[c], self.by_category[c])}" for c in LABEL_CATEGORIES),
            f"root-cause line shown  {self.share(self.cause_right, self.cause_labelled)}",
            f"retry agrees           {self.share(self.action_right)}",
            f"unknown                {self.share(self.unknown)}",
            f"guesses (guess:<cat>)  {self.share(self.guesses)}, right {self.share(self.guesses_right, self.guesses)}",
            "confusion (rows: label, columns: verdict)",
            "  " + " " * 15 + "".join(f"{c:>16}" for c in cats),
            *("  " + f"{w:<15}" + "".join(f"{self.confusion[(w, g)]:>16}" for g in cats) for w in LABEL_CATEGORIES),
        ]
        if show_misses and self.misses:
            lines += [f"misses ({len(self.misses)}):", *(f"  {m}" for m in self.misses)]
        return "\n".join(lines)


def evaluate(cases: Sequence[Case], classify: Any, split: str, exclude: AbstractSet[str] = frozenset(),
             name: str | None = None) -> Score:
    """Score ``classify`` (a :class:`~prodops.triage.classify.Classifier`) on the cases of one split
    (without the cases whose source URL is in ``exclude``)."""
    chosen = [c for c in cases if c.split == split and c.url not in exclude]
    score = Score(name or split)
    verdicts = classify.classify([case_input(c, n) for n, c in enumerate(chosen)])
    for case, verdict in zip(chosen, verdicts):
        score.add(case, verdict)
    return score


def corpus_summary(cases: Iterable[Case]) -> str:
    cases = list(cases)
    families = Counter(c.family for c in cases)
    cats = Counter(c.label["category"] for c in cases)
    splits = Counter(c.split for c in cases)
    return (f"{len(cases)} real cases; families: {', '.join(f'{k} {v}' for k, v in sorted(families.items()))};"
            f" categories: {', '.join(f'{k} {v}' for k, v in sorted(cats.items()))};"
            f" split: train {splits[TRAIN]}, test {splits[TEST]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prodops.triage.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["freeze", "eval"])
    parser.add_argument("--misses", choices=[TRAIN, TEST, "both", "none"], default=TEST,
                        help="which split's misses to list (default: test)")
    parser.add_argument("--only", "--split", dest="only", choices=[TRAIN, TEST],
                        help="score one split only (rule writers: --split train, so test stays unseen)")
    parser.add_argument("--no-test-misses", action="store_true",
                        help="never list a test miss, whatever --misses says (rule writers: train misses and the"
                             " test aggregate only)")
    args = parser.parse_args(argv)
    if args.no_test_misses and args.misses != TRAIN:
        args.misses = TRAIN if args.misses == "both" else "none"
    if args.command == "freeze":
        added = freeze()
        print(f"froze {len(added)} new case(s): {', '.join(added) or '-'}")
        return 0
    from prodops.triage.classify import Classifier
    from prodops.triage.patterns import load_library
    from prodops.triage.plugins import PluginRunner, discover

    cases = load_cases()
    frozen = frozen_split()
    unfrozen = [c.id for c in cases if c.id not in frozen]
    if unfrozen:
        print(f"warning: {len(unfrozen)} case(s) not in {SPLIT_FILE}; run `python -m prodops.triage.corpus freeze`",
              file=sys.stderr)
    classifier = Classifier(load_library(), PluginRunner(discover()))
    print(corpus_summary(cases))
    for split in (args.only,) if args.only else (TRAIN, TEST):
        print()
        print(evaluate(cases, classifier, split).format(show_misses=args.misses in (split, "both")))
    seen = seen_urls() & {c.url for c in cases if c.split == TEST}
    if seen and args.only != TRAIN:
        print()
        unseen = evaluate(cases, classifier, TEST, exclude=seen, name=f"{TEST} without the {len(seen)} sources in {SEEN_FILE}")
        print(unseen.format(show_misses=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
