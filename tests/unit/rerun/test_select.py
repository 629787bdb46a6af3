"""Choosing the attempts of a debug rerun from a request's candidates, without a database."""

from __future__ import annotations

import pytest

from prodops.rerun.select import Selection, _pick
from prodops.rerun.settings import DebugSettingsInvalid


def candidate(job: int, category: str | None = None, signature: str | None = None, site: str = "FermiGrid",
              stage: str = "run") -> dict:
    return {"stage": stage, "job_index": job, "category": category, "signature": signature, "site": site}


ROWS = [candidate(0), candidate(1, "code", "aa11", "FermiGrid"), candidate(2, "service", "bb22", "US_Nebraska"),
        candidate(3, "code", "aa11", "US_Nebraska")]


def pick(**form) -> list[int]:
    return [r["job_index"] for r in _pick(ROWS, Selection.parse({"request_id": 1, **form}))]


def test_job_indexes_choose_those_jobs_whatever_their_verdict():
    assert pick(job_indexes=[3, 0, 3]) == [0, 3]


def test_a_filter_chooses_failed_jobs_by_category_signature_and_site():
    assert pick(category="code") == [1, 3]
    assert pick(signature="aa11", site="US_Nebraska") == [3]
    assert pick(site="US_Nebraska") == [2, 3]


def test_the_form_s_empty_fields_mean_not_set():
    assert pick(job_indexes=[], category="service", signature="", site="", stage="") == [2]


@pytest.mark.parametrize(("form", "field", "words"), [
    ({}, "job_indexes", "give job indexes, or a category"),
    ({"job_indexes": [9]}, "job_indexes", "jobs [9] are not in request 1"),
    ({"category": "infrastructure"}, "category", "no failed job"),
    ({"category": "codes"}, "category", "Input should be"),
    ({"job_indexes": [-1]}, "job_indexes", "whole numbers"),
    ({"request_id": 0}, "request_id", "greater than or equal to 1"),
])
def test_a_bad_choice_names_its_field(form, field, words):
    with pytest.raises(DebugSettingsInvalid) as err:
        pick(**form)
    assert words in err.value.errors[field]
