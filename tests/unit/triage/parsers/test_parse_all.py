"""parse_all: the order of reports, and robustness on arbitrary text (mechanics; synthetic inputs are fine here)."""

from __future__ import annotations

import logging
import random

import pytest

from prodops.triage import parsers
from prodops.triage.parsers import Framework, categorize, parse_all

from .test_art import AUTH_FAILED, GEOMETRY_THEN_ROOT, TPCGEO
from .test_pytraceback import DURING_HANDLING, HTTP_401
from .test_root import XROOTD_ERRORS

FRAGMENTS = [
    "---- FileOpenError BEGIN", "---- FileOpenError END", "---- Can't find key BEGIN", "---- Can't find key END",
    "  ---- X BEGIN", "%MSG-s ArtException:  PostEndJob 12-Nov-2019", "%MSG", "cet::exception caught in art",
    "Art has completed and will exit with status 65.", "Traceback (most recent call last):",
    '  File "x.py", line 1, in f', "    f()", "KeyError: 'runs'", "During handling of the above exception, another exception occurred:",
    "----- Begin Fatal Exception 15-Feb-2021", "An exception of category 'FileOpenError' occurred while", "   [0] Constructing",
    "Exception Message:", "   Additional Info:", "      [a] x", "----- End Fatal Exception ----",
    "-------- EEEE ------- G4Exception-START -------- EEEE -------", "*** G4Exception : GeomNav0003",
    "      issued by : G4Navigator::ComputeStep()", "*** Fatal Exception *** core dump ***",
    "-------- EEEE -------- G4Exception-END --------- EEEE -------", "terminate called after throwing an instance of 'std::bad_alloc'",
    "  what():  std::bad_alloc", "#4  <signal handler called>", "#5  0x0000 in f () from libx.so", "Module: X (crashed)",
    "A fatal system signal has occurred: segmentation violation", " *** Break *** bus error", "Segmentation fault (core dumped)",
    "Error in <TNetXNGFile::Open>: [ERROR] Operation expired", "SysError in <TFile::TFile>: x", "Fatal in <X>: y",
    "", "   ", "\x00\x01garbage\x07", "日本語のログ", "BEGIN", "END", "---- ", "---- BEGIN", "----  END", "<<<>>>", "(Caused by X(",
]


def test_library_reports_come_before_the_framework_report_around_them():
    tail = XROOTD_ERRORS + AUTH_FAILED
    ordered = parse_all(tail)
    assert [e.framework for e in ordered[:3]] == [Framework.ROOT] * 3
    assert ordered[-1].framework is Framework.ART and ordered[-1].categories == ("FileOpenError", "FatalRootError")
    assert ordered[0].cause_line == 2  # the later ROOT line first


def test_the_later_report_first_and_line_numbers_index_the_input():
    tail = DURING_HANDLING + ["", "some unrelated output"] + HTTP_401
    first, second = parse_all(tail)
    assert first.code == "401" and first.start == len(DURING_HANDLING) + 2
    assert second.categories == ("RuntimeError", "FileNotFoundError")
    assert tail[first.cause_line].strip() == first.cause


def test_art_blocks_of_one_message_keep_their_order():
    first, second = [e for e in parse_all(GEOMETRY_THEN_ROOT + TPCGEO) if e.framework is Framework.ART][1:]
    assert first.categories[-1] == "Geometry" and second.categories[-1] == "FatalRootError"


def test_nothing_found_in_nothing():
    assert parse_all([]) == [] and parse_all(["", "all good"]) == []


def test_lines_that_are_not_strings_are_read_not_raised_on():
    errors = parse_all([b"Error in <TNetXNGFile::Open>: [ERROR] Operation expired", None, 42, "x" * 100_000])
    assert [e.module for e in errors] == ["TNetXNGFile::Open"]


@pytest.mark.parametrize("seed", range(40))
def test_arbitrary_text_never_raises_and_every_index_is_in_range(seed):
    rng = random.Random(seed)
    lines = [rng.choice(FRAGMENTS) if rng.random() < 0.7 else "".join(chr(rng.randrange(1, 0x3000)) for _ in range(40))
             for _ in range(200)]
    for err in parse_all(lines):
        assert 0 <= err.start <= err.end < len(lines)
        assert 0 <= err.cause_line < len(lines)
        assert err.categories
        categorize(err)


@pytest.mark.parametrize("line", [
    "---- A BEGIN", "---- A END", "Traceback (most recent call last):", '  File "x", line 1, in f',
    "An exception of category 'X' occurred while", "-------- EEEE ------- G4Exception-START -------- EEEE -------",
    "#4  <signal handler called>", "Error in <X>: y", "terminate called after throwing an instance of 'X'",
    "---- " * 800 + "BEGIN", "<" * 4000,
])
def test_a_tail_of_one_marker_repeated_is_bounded(line):
    errors = parse_all([line] * 200)
    assert len(errors) <= 200
    for err in errors:
        assert err.end < 200


def test_a_long_log_of_nested_blocks_is_read_once():
    lines = [f"{'  ' * (i % 50)}---- C{i % 50} BEGIN" for i in range(10_000)]
    errors = parse_all(lines)
    assert errors and all(len(e.categories) <= 64 for e in errors)


def test_a_parser_that_fails_is_skipped_and_logged(monkeypatch, caplog):
    def broken(lines):
        raise RuntimeError("bug")

    monkeypatch.setitem(parsers.PARSERS, Framework.ART, broken)
    parsers.clear_cache()  # results are cached by the lines: this test changes the parsers under them
    with caplog.at_level(logging.ERROR, logger="prodops.triage.parsers"):
        errors = parse_all(XROOTD_ERRORS + AUTH_FAILED)
    assert [e.framework for e in errors] == [Framework.ROOT] * 3 and "The art report parser failed" in caplog.text
    parsers.clear_cache()


def test_a_tail_is_parsed_once_whoever_asks():
    parsers.clear_cache()
    lines = XROOTD_ERRORS + AUTH_FAILED
    first = parse_all(lines)
    assert parse_all(list(lines)) == first and parsers._parse_cached.cache_info().hits == 1


def test_the_trigger_words_never_hide_a_report():
    from . import test_art, test_cmssw, test_crash, test_cxx, test_geant4, test_pytraceback, test_root

    samples = [(f"{module.__name__}.{name}", value)
               for module in (test_art, test_cmssw, test_crash, test_cxx, test_geant4, test_pytraceback, test_root)
               for name, value in vars(module).items() if name.isupper() and isinstance(value, list)]
    assert len(samples) >= 25
    for name, lines in samples:
        direct = {(e.framework, e.start, e.cause_line) for p in parsers.PARSERS.values() for e in p(lines)}
        assert {(e.framework, e.start, e.cause_line) for e in parse_all(lines)} == direct, name
