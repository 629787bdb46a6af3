"""DAGMan family (include/triage/patterns/dagman.yaml), on DAGMan's own messages.

Each line is the source's format with its values filled in (file names and line numbers are ours);
dagman.out lines carry DAGMan's time stamp before the message.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

DAGMAN = "https://github.com/htcondor/htcondor/blob/7491a145f64a1c2393ed0933375874344fa44f9f/src/condor_dagman/"

LINES = [
    # parse.cpp: "ERROR: %s (line %d): no node name specified"
    ("12/01/26 07:40:01 ERROR: workflow.dag (line 7): no node name specified", DAGMAN + "parse.cpp"),
    # parse.cpp: "%s (line %d): ERROR: expected JOB, DATA, SUBDAG, FINAL, ..."
    ("12/01/26 07:40:01 workflow.dag (line 12): ERROR: expected JOB, DATA, SUBDAG, FINAL, SCRIPT, PARENT, RETRY,"
     " ABORT-DAG-ON, DOT, VARS, PRIORITY, CATEGORY, MAXJOBS, CONFIG, SET_JOB_ATTR, SPLICE, PROVISIONER, SERVICE,"
     " NODE_STATUS_FILE, REJECT, JOBSTATE_LOG, PRE_SKIP, DONE, CONNECT, PIN_IN, PIN_OUT, INCLUDE, SAVE_POINT_FILE"
     " orSUBMIT-DESCRIPTION token (found JOBB)", DAGMAN + "parse.cpp"),
    # parse.cpp: "ERROR: Could not open file %s for input (cwd %s) (errno %d, %s)"
    ("12/01/26 07:40:01 ERROR: Could not open file inner.dag for input (cwd /home/prod/run) (errno 2, No such file or directory)",
     DAGMAN + "parse.cpp"),
    # dagman_main.cpp
    ("12/01/26 07:40:01 ERROR: a cycle exists in the dag, please check input", DAGMAN + "dagman_main.cpp"),
]


@pytest.mark.parametrize("line, source", LINES, ids=[row[0][18:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, source):
    best = best_pattern(line, "stdout")
    assert (best.id, best.category.value, best.retryable) == ("dagman-dag-file-error", "code", False), source
