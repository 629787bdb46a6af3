"""The unknown-line scorer: the probable cause lines of a log that no rule matched."""

from __future__ import annotations

import pytest

from prodops.triage.corpus import load_cases
from prodops.triage.scorer import probable_causes, score_line

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
