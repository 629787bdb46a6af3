"""Rucio family (include/triage/patterns/rucio.yaml), on Rucio's exception messages.

Each line is how a traceback prints a Rucio exception: its class's dotted name, then
RucioException.__str__'s first line, the class's fixed message (exception.py, verbatim); the
"Details:" line that follows is not needed to classify.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

EXC = "https://github.com/rucio/rucio/blob/2e14c417ba068b8605fc4df18179e8f45fa133a1/lib/rucio/common/exception.py"

# (line, pattern id, category, retryable)
LINES = [
    ("rucio.common.exception.ServerConnectionException: Cannot connect to the Rucio server.",
     "rucio-server-unreachable", "service", True),
    ("rucio.common.exception.RSENotConnected: Connection to RSE not established.", "rucio-rse-unavailable", "service", True),
    ("rucio.common.exception.RSEWriteBlocked: RSE excluded; not available for writing.", "rucio-rse-unavailable",
     "service", True),
    ("rucio.common.exception.RSEOverQuota: Quota of Referenced RSE is exceeded.", "rucio-rse-full", "service", False),
    ("rucio.common.exception.InsufficientAccountLimit: There is not enough quota left to fulfil the operation.",
     "rucio-rse-full", "service", False),
    ("rucio.common.exception.CannotAuthenticate: Cannot authenticate.", "rucio-credentials-refused", "service", False),
    ("rucio.common.exception.ErrorLoadingCredentials: Unable to to load user credentials.", "rucio-credentials-refused",
     "service", False),
    ("rucio.common.exception.DataIdentifierNotFound: Data identifier not found.", "rucio-request-invalid", "code", False),
    ("rucio.common.exception.RSENotFound: RSE does not exist.", "rucio-request-invalid", "code", False),
    ("rucio.common.exception.NotAllFilesDownloaded: Not all of the requested files have been downloaded.",
     "rucio-transfers-incomplete", "service", True),
    ("rucio.common.exception.NoFilesUploaded: None of the given files have been uploaded.", "rucio-transfers-incomplete",
     "service", True),
]


@pytest.mark.parametrize("line, pid, category, retryable", LINES, ids=[row[1] + ":" + row[0][23:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable):
    best = best_pattern(line, source=EXC)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)
