"""One checker for every settings section: types, bounds and errors that name the key and the fix."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from prodops.sections import checked, fraction, number


@dataclass(frozen=True)
class Knobs:
    enabled: bool = True
    count: int = number(3, above=0)
    share: float = fraction(0.25, of="the jobs")
    factor: float = number(1.5, at_least=1, why="it multiplies the request")
    budget: int = number(0, at_least=0)


def check(raw):
    return checked(Knobs, raw, "knobs.yaml: knobs", what="a knob", example="{count: 3}")


def test_values_take_their_declared_types_and_defaults():
    got = check({"count": 4.0, "share": 1, "factor": 2, "enabled": False})
    assert got == Knobs(enabled=False, count=4, share=1.0, factor=2.0)
    assert isinstance(got.count, int) and isinstance(got.share, float)
    assert check({}) == Knobs()


@pytest.mark.parametrize(("raw", "words"), [
    ([1], "knobs.yaml: knobs: must be a mapping, e.g. {count: 3}"),
    ({"colour": 1}, "'colour' is not a knob; use budget, count, enabled, factor, share"),
    ({"enabled": "yes"}, "enabled = 'yes' must be true or false"),
    ({"count": 2.5}, "count = 2.5 must be a whole number more than 0"),
    ({"count": 0}, "count = 0 must be a whole number more than 0"),
    ({"count": True}, "count = True must be a whole number"),
    ({"share": 0}, "share = 0 must be a fraction of the jobs, more than 0 and at most 1 (0.25 is 25 %)"),
    ({"share": 1.5}, "share = 1.5 must be a fraction of the jobs"),
    ({"factor": 0.5}, "factor = 0.5 must be a number at least 1 (it multiplies the request)"),
    ({"budget": -1}, "budget = -1 must be a whole number >= 0"),
    ({"budget": "2"}, "budget = '2' must be a whole number >= 0"),
])
def test_a_bad_value_names_the_key_the_value_and_the_fix(raw, words):
    with pytest.raises(ValueError) as err:
        check(raw)
    assert words in str(err.value)
