"""pegasus-transfer family (include/triage/patterns/pegasus_transfer.yaml), on pegasus-worker's messages.

Each line is a pegasus-worker string, whole or with its values filled in (commands are ours):
transfer.py's "Unable to do ... transfers because ... could not be found" texts and closing line,
worker_utils.py's ``"Command exited with non-zero exit code (%d): %s"`` and
``"Command timed out after %d seconds: %s"``.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

WORKER = "https://github.com/pegasus-isi/pegasus/blob/7bb616dcbf17d0164ce3850eabbc6b3b3e5e1039/packages/pegasus-worker/src/Pegasus/"

# (line, pattern id, category, retryable, source of the wording)
LINES = [
    ("Unable to do gsiftp transfers because gfal-copy/globus-url-copy could not be found",
     "pegasus-transfer-tool-missing", "infrastructure", True, WORKER + "transfer.py"),
    ("Unable to do http/https transfers because neither curl nor wget could not be found",
     "pegasus-transfer-tool-missing", "infrastructure", True, WORKER + "transfer.py"),
    ("Unable to do irods transfers because iget could not be found in the current path",
     "pegasus-transfer-tool-missing", "infrastructure", True, WORKER + "transfer.py"),
    ("Command exited with non-zero exit code (22): /usr/bin/curl --fail -s -S --insecure -o 'f.dat' 'https://data.example.org/f.dat'",
     "pegasus-transfer-command-failed", "service", True, WORKER + "tools/worker_utils.py"),
    ("Command timed out after 3600 seconds: /usr/bin/gfal-copy -f -p -t 3600 gsiftp://se.example.org/f.dat file:///srv/f.dat",
     "pegasus-transfer-command-failed", "service", True, WORKER + "tools/worker_utils.py"),
    ("Some transfers failed! See above, and possibly stderr.", "pegasus-transfers-failed", "service", True,
     WORKER + "transfer.py"),
]


@pytest.mark.parametrize("line, pid, category, retryable, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)


def test_the_tool_s_own_error_above_outranks_the_summary():
    # mechanics: a storage refusal printed by the tool decides over pegasus-transfer's closing line
    lines = ["[ERROR] Server responded with an error: [3012] synthetic", "Some transfers failed! See above, and possibly stderr."]
    assert best_pattern(lines).id == "xrootd-kxr-transient"
