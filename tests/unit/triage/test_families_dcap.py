"""dcap family (include/triage/patterns/dcap.yaml): dccp's open failures in dcap's words.

Each line is dccp.c's ``dc_perror("Can't open source file")`` / ``("Can't open destination file")``
as dc_perror prints it (``msg + " : " + dc_strerror(dc_errno)``) with an error text from
dcap_error.c's table (whole; no values of ours).
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

DCAP = "https://github.com/dCache/dcap/blob/a1321a6ffba4e0924a21b78ca71ec92d8bc2b21c/src/"

# (line, pattern id, category, retryable)
LINES = [
    ("Can't open source file : Unable to connect to server", "dcap-open-failed", "service", True),
    ('Can\'t open source file : Server rejected "hello"', "dcap-open-failed", "service", True),
    ("Can't open destination file : Remote server has closed connection", "dcap-open-failed", "service", True),
    ("Can't open source file : File not cached", "dcap-open-failed", "service", True),
    ("Can't open source file : Can not read non existing file", "dcap-open-refused-request", "code", False),
    ("Can't open destination file : Write access to existing file", "dcap-open-refused-request", "code", False),
    ("Can't open source file : Not valid DCAP url", "dcap-open-refused-request", "code", False),
]


@pytest.mark.parametrize("line, pid, category, retryable", LINES, ids=[row[0] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable):
    best = best_pattern(line, source=DCAP + "dccp.c")
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)
