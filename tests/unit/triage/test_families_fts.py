"""FTS3 family (include/triage/patterns/fts.yaml): FTS's "<scope> [<errno>] <message>" reasons with
FTS's own retry decision (heuristics.cpp retryTransfer).

Each line is LegacyReporter.cpp's ``scope << " [" << code << "] " << what`` with the scope names of
UrlCopyError.h and a message of ours (gfal2's wording where it has one).
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

FTS = "https://github.com/cern-fts/fts3/blob/e0a7e05825ea0a9ef7ee40409b9c00ba618d08b2/src/url-copy/"

# (line, pattern id, category, retryable)
LINES = [
    ("SOURCE [13] Permission denied", "fts-permission-refused", "service", False),
    ("DESTINATION [1] Operation not permitted", "fts-permission-refused", "service", False),
    ("SOURCE [2] No such file or directory", "fts-source-missing", "service", False),
    ("DESTINATION [17] File exists", "fts-destination-exists", "code", False),
    ("TRANSFER [28] No space left on device", "fts-no-space", "service", False),
    ("TRANSFER [110] Connection timed out", "fts-timed-out", "service", True),
]


@pytest.mark.parametrize("line, pid, category, retryable", LINES, ids=[row[0] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable):
    best = best_pattern(line, "stdout")
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable), FTS + "heuristics.cpp"


def test_a_permission_errno_in_the_transfer_scope_stays_retryable():
    # documented deviation from FTS: a TRANSFER-scope EACCES is often the TLS/GSI handshake (mechanics)
    best = best_pattern("TRANSFER [13] SOURCE CHECKSUM synthetic handshake failure", "stdout")
    assert best.id == "fts-scoped-error" and best.retryable
