"""The real corpus is well formed, big and varied enough, and its split is frozen by the rule."""

from __future__ import annotations

from collections import Counter

from prodops.triage.corpus import LABEL_CATEGORIES, TEST, frozen_split, load_cases, split_of

CASES = load_cases()


def test_every_case_is_frozen_on_the_side_its_url_gives():
    frozen = frozen_split()
    assert [c.id for c in CASES if c.id not in frozen] == [], "run python -m prodops.triage.corpus freeze"
    assert [c.id for c in CASES if frozen[c.id] != split_of(c.url)] == []


def test_the_corpus_covers_the_families_and_categories_the_issue_asks_for():
    assert len(CASES) >= 200
    assert len({c.family for c in CASES}) >= 6
    categories = Counter(c.label["category"] for c in CASES)
    assert all(categories[c] >= 40 for c in LABEL_CATEGORIES), categories
    assert 0.25 <= sum(c.split == TEST for c in CASES) / len(CASES) <= 0.42


def test_every_case_has_a_source_and_a_cause_line_in_its_texts():
    # load_cases() already refuses a cause line that is not in the case's texts
    assert all(c.url.startswith("https://") for c in CASES)
    assert all(c.label.get("cause_line") and c.label.get("why") for c in CASES)
    assert all(isinstance(c.label.get("retry_helps"), bool) for c in CASES)
