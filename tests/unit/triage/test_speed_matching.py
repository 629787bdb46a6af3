"""The fast paths of triage give exactly what the plain ones give: a batch scan (Hyperscan) finds
the same pattern matches, report triggers, vocabulary lines and needles as a search per line."""

from __future__ import annotations

import random

import pytest

from prodops.triage import literals, parsers, scorer
from prodops.triage.corpus import TRAIN, load_cases
from prodops.triage.literals import JoinedLines
from prodops.triage.parsers import parse_all, parse_tail, prescan
from prodops.triage.patterns import load_library
from prodops.triage.tail import Tail

needs_hyperscan = pytest.mark.skipif(literals.hyperscan is None, reason="Hyperscan is not installed")

TRAIN_STREAMS = [(name, text.splitlines()) for c in load_cases() if c.split == TRAIN
                 for name, text in (("stdout", c.stdout), ("stderr", c.stderr), ("eventlog", c.eventlog)) if text]
"""Real lines (train split only): the shapes the library's keywords were written for."""


def _jobs() -> list[dict[str, list[str]]]:
    """The train streams as jobs, each twice more with other numbers (another job of the same failure)."""
    rng = random.Random(11)
    renumber = str.maketrans("0123456789", "".join(rng.sample("0123456789", 10)))
    return [{name: lines} for name, lines in TRAIN_STREAMS] + [
        {name: [line.translate(renumber) for line in lines]} for name, lines in TRAIN_STREAMS]


def _as_raw(lines: list[str], stream: str) -> Tail:
    data = "\n".join(lines).encode()
    return Tail(stream=stream, path=None, raw=data, count=len(lines), first_line=1)


def _summary(found):
    return [[(m.pattern.id, m.stream, m.index, m.text) for m in matches] for matches in found]


@needs_hyperscan
def test_one_scan_of_the_batch_finds_what_the_shape_by_shape_search_finds(monkeypatch):
    lib = load_library()
    jobs = _jobs()
    experiments = ["nova"] * len(jobs)
    scanned = _summary(lib.match_many(jobs, experiments))
    monkeypatch.setattr(lib._literals, "engine", None)
    lib._cache.clear()
    assert _summary(lib.match_many(jobs, experiments)) == scanned
    assert sum(map(len, scanned)) > 100  # the corpus does match: the comparison is not of empty lists


@needs_hyperscan
def test_tails_read_from_files_match_as_their_lines_do():
    lib = load_library()
    as_lines = [{name: lines} for name, lines in TRAIN_STREAMS]
    as_raw = [{name: _as_raw(lines, name)} for name, lines in TRAIN_STREAMS]
    assert _summary(lib.match_many(as_raw, [None] * len(as_raw))) == _summary(
        lib.match_many(as_lines, [None] * len(as_lines)))


@needs_hyperscan
def test_prescan_leaves_each_tail_the_reports_its_lines_hold():
    tails = [_as_raw(lines, name) for name, lines in TRAIN_STREAMS]
    prescan(tails)
    assert any(t.reports == () for t in tails) and any(t.reports is None for t in tails)
    assert [parse_tail(t) for t in tails] == [parse_all(lines) for _, lines in TRAIN_STREAMS]


def test_a_tail_is_parsed_once_whoever_asks(monkeypatch):
    lines = ["---- ProductNotFound BEGIN", "  getByLabel: Found zero products", "---- ProductNotFound END"]
    tail = Tail(stream="stderr", path=None, lines=lines)
    calls = []
    parse = parsers._parse
    monkeypatch.setattr(parsers, "_parse", lambda *args: calls.append(args) or parse(*args))
    first = parse_tail(tail)
    assert first and parse_tail(tail) == first and len(calls) == 1


@pytest.mark.parametrize("needles", [("error",), ("Error", "fail", "program: ", "---- ")])
def test_joined_lines_name_the_lines_holding_a_needle(needles):
    for _, lines in TRAIN_STREAMS:
        expected = [i for i, line in enumerate(lines) if any(n in line for n in needles)]
        assert JoinedLines(lines).holding(*needles) == expected


def test_a_line_holding_a_newline_is_searched_alone():
    lines = ["a fail\nb", "ok", "fail again"]
    assert JoinedLines(lines).text is None
    assert JoinedLines(lines).holding("fail", "x", "y") == [0, 2]


@needs_hyperscan
def test_the_vocabulary_lines_are_the_same_with_and_without_the_scan(monkeypatch):
    found = [scorer._word_lines(JoinedLines(lines)) for _, lines in TRAIN_STREAMS]
    monkeypatch.setattr(scorer._WORD_SET, "engine", None)
    assert [scorer._word_lines(JoinedLines(lines)) for _, lines in TRAIN_STREAMS] == found


def test_literal_sets_name_the_blocks_holding_each_literal():
    found = literals.LiteralSet([b"abc", b"bcd", b"zz"])
    if found.engine is None:
        pytest.skip("Hyperscan is not installed")
    assert found.in_blocks([b"xabcd", b"", b"zzz\nabc", b"none"]) == [{0, 1}, set(), {0, 2}, set()]
    assert found.hits(b"abcd") == [(3, 0), (4, 1)]


def test_a_signature_skips_only_the_masks_that_cannot_apply():
    from prodops.triage import signature

    def unguarded(line: str) -> str:
        text = line.strip()
        for pattern, placeholder, _ in signature._MASKS:
            text = pattern.sub(placeholder, text)
        return signature._SPACE.sub(" ", text)[:signature.MAX_CHARS]

    lines = [line for _, ls in TRAIN_STREAMS for line in ls] + ["slot1_2@wn 0xdead 2026-01-02T03:04:05Z ٣٤"]
    assert [signature.normalize(line) for line in lines] == [unguarded(line) for line in lines]


ODD_RAW = b"\n".join([
    b"plain Art has line\r", b"bad utf-8 \xe2\x82 program: x", b"nul \x00 retrying...", b"x" * 2100 + b" SAMWeb",
    b"", b"last words\r",
])


@pytest.mark.parametrize("raw", [ODD_RAW, ODD_RAW.replace(b"\x00", b"-"), b"one line", b""])
def test_a_tail_searched_in_its_bytes_gives_what_its_decoded_lines_give(raw):
    needles = ("Art has", "program: ", "retrying...", "SAMWeb", "words")

    def fresh() -> Tail:
        tail = Tail(stream="stderr", path=None, raw=raw, count=raw.count(b"\n") + 1)
        tail.binary = b"\x00" in raw
        return tail

    decoded = fresh().lines
    assert fresh().holding(*needles) == [i for i, line in enumerate(decoded) if any(n in line for n in needles)]
    assert [fresh().line(i) for i in range(len(decoded))] == decoded
    assert fresh().last_lines(3) == list(enumerate(decoded))[max(0, len(decoded) - 3):]


@pytest.mark.skipif(literals.hyperscan is None, reason="Hyperscan is not installed")
def test_blocks_are_scanned_as_one_stream_without_a_false_hit_across_them():
    found = literals.LiteralSet([b"abc"])
    assert found.in_blocks([b"xab", b"cx", b"", b"abc"]) == [set(), set(), set(), {0}]  # "ab" + "c" is no hit
    assert found.block_hits([b"xab", b"", b"abc"]) == [(2, 3, 0)]
