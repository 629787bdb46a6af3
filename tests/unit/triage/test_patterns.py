"""The pattern library: validation errors that name the file, pattern and field; keywords; ranking."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodops.triage.patterns import PatternInvalid, build_library, load_library, required_literals

GOOD = {"id": "x-1", "family": "fam", "regex": "disk exploded", "category": "service", "retryable": True,
        "explain": "one line"}


def library_file(tmp_path: Path, patterns: list, name: str = "generic.yaml", scope: str = "generic") -> Path:
    import yaml

    path = tmp_path / name
    path.write_text(yaml.safe_dump({"scope": scope, "patterns": patterns}))
    return path


@pytest.mark.parametrize("change, field", [
    ({"category": "serivce"}, "category"),
    ({"category": "unknown"}, "category"),
    ({"regex": "(unclosed"}, "regex"),
    ({"retryable": "yes"}, "retryable"),
    ({"priority": 500}, "priority"),
    ({"resource": "cpu"}, "resource"),
    ({"streams": ["stdin"]}, "streams"),
    ({"id": "Bad Id"}, "id"),
    ({"explain": "two\nlines"}, "explain"),
    ({"regex": r"\d+"}, "regex"),
    ({"keywords": ["ab"]}, "keywords"),
    ({"keywords": ["x509"]}, "keywords"),
    ({"colour": "red"}, "field"),
])
def test_a_bad_field_is_named_with_file_and_pattern(tmp_path, change, field):
    path = library_file(tmp_path, [{**GOOD, **change}])
    with pytest.raises(PatternInvalid) as err:
        build_library([path])
    text = str(err.value)
    assert str(path) in text and field in text and ("'x-1'" in text or field == "id")


def test_a_missing_field_and_a_duplicate_id_are_named(tmp_path):
    missing = {k: v for k, v in GOOD.items() if k != "explain"}
    with pytest.raises(PatternInvalid, match="explain = None is missing"):
        build_library([library_file(tmp_path, [missing])])
    a = library_file(tmp_path, [GOOD], "a.yaml")
    b = library_file(tmp_path, [GOOD], "b.yaml", scope="nova")
    with pytest.raises(PatternInvalid, match="'x-1' is also used in"):
        build_library([a, b])


def test_not_yaml_is_named(tmp_path):
    path = tmp_path / "generic.yaml"
    path.write_text("patterns: [unclosed")
    with pytest.raises(PatternInvalid, match="not valid YAML"):
        build_library([path])


@pytest.mark.parametrize("regex, words", [
    (r"Server responded with an error: \[(\d+)\]", ("server responded with an error: [",)),
    (r"(?i)(?:foo bar|baz qux)\d", ("baz qux", "foo bar")),
    (r"^---- ProductNotFound BEGIN", ("---- productnotfound begin",)),
    (r"G4Exception", ("exception",)),  # digits are not in line shapes
    (r"ab|cd", ()),
])
def test_keywords_are_derived_from_the_regex(regex, words):
    assert required_literals(regex) == words


def test_the_shipped_library_loads_once_and_every_pattern_has_keywords():
    lib = load_library()
    assert lib is load_library()
    assert len(lib.patterns) >= 40 and all(p.keywords for p in lib.patterns)
    assert {p.scope for p in lib.patterns} >= {"generic", "nova", "dune"}


def test_matching_finds_overlapping_keywords_and_ranks_by_priority(tmp_path):
    lib = build_library([library_file(tmp_path, [
        {**GOOD, "id": "low", "regex": "error", "priority": 10, "category": "code"},
        {**GOOD, "id": "high", "regex": "server error", "priority": 90},
        {**GOOD, "id": "inner", "regex": "rver err", "priority": 50},
    ])])
    found = lib.match({"stderr": ["a line", "the server error 42 happened"]})
    assert [m.pattern.id for m in found] == ["high", "inner", "low"]
    assert all(m.index == 1 for m in found)
    # the same line shape with other digits is answered from the cache, still verified by the regex
    assert [m.pattern.id for m in lib.match({"stderr": ["the server error 7 happened"]})] == ["high", "inner", "low"]
