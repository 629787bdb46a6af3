"""The unknown-line scorer: the probable cause lines of a log that no rule matched."""

from __future__ import annotations

import pytest

from prodops.triage.corpus import load_cases
from prodops.triage.scorer import guess, probable_causes, score_line

CASES = {c.id: c for c in load_cases()}


@pytest.mark.parametrize("line", ["", "=====================", "Begin processing the 3rd record. run: 1 event: 3",
                                  "INFO: 0 errors found", "%MSG"])
def test_noise_scores_nothing(line):
    assert score_line(line) == 0


def test_an_error_outranks_a_warning_and_later_lines_outrank_earlier_ones():
    lines = ["Warning: calibration constant missing", "Error: could not open input", "Error: could not open input 2"]
    best = probable_causes({"stderr": lines})
    assert [b.index for b in best] == [2, 1]


def test_the_line_before_a_stack_ranks_first():
    lines = ["ERROR: job failed early", "Segmentation fault while reading event", "#0  0x00007f in foo() at a.cc:12",
             "#1  0x00008f in main()"]
    assert probable_causes({"stderr": lines})[0].index == 1


@pytest.mark.parametrize("case_id", [
    "cmssw-segv-malloc-junk-1",
    "python-parsl-condor-provider-indexerror-1",
])
def test_the_cause_a_person_names_is_among_the_probable_causes_of_real_logs(case_id):
    case = CASES[case_id]
    streams = {"stdout": case.stdout.splitlines(), "stderr": case.stderr.splitlines()}
    assert any(case.label["cause_line"] in line.text for line in probable_causes(streams))


@pytest.mark.parametrize("line", ["@@prodops phase=copy-out state=failed status=1 time=2026-12-02T10:00:00Z",
                                  "2026-12-02 10:00:01 INFO @@prodops phase=process state=finished status=2"])
def test_prodops_phase_markers_are_never_a_cause(line):
    assert score_line(line) == 0
    lines = ["Error: could not open calibration table", line]
    assert [b.text for b in probable_causes({"stdout": lines})] == [lines[0]]


@pytest.mark.parametrize("lines, category", [
    (["Error: transfer of out_51234.root to root://fndca1.fnal.gov//pnfs/nova/out failed after 3 tries"], "service"),
    (["ERROR: worker has no memory left for the merge step, giving up"], "infrastructure"),
    (["reco: Reco.cc:42: void Reco::run(): Assertion `n > 0' failed."], "code"),
])
def test_a_guess_reads_the_words_of_the_probable_cause_lines(lines, category):
    hint = guess(probable_causes({"stderr": lines}))
    assert hint is not None and hint.category == category and hint.line.text == lines[0] and hint.words


@pytest.mark.parametrize("lines", [["the frobnicator could not reach its quorum; giving up"], ["bye"],
                                   ["Error: timeout in module TrackFinder"]])  # no word, or service = code (1 each)
def test_no_guess_without_category_words_or_on_a_tie(lines):
    assert guess(probable_causes({"stderr": lines})) is None
