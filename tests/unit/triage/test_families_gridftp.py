"""GridFTP family (include/triage/patterns/gridftp.yaml): the server's reply as globus-url-copy prints it.

Lines are the Grid Community Toolkit's formats with values filled in: the client's
"globus_ftp_client: the server responded with an error" (globus_i_ftp_client.h), then reply lines
"<code>-<text>" (multi-line FTP reply) carrying globus_xio's "System error in <call>: <strerror>"
(globus_xio_util.h with globus_error_errno.c's "%s: %s") and "A system call failed: <strerror>"
(globus_i_error_errno.c), or the server's own "550 <path>: No such file or directory." and
"553 Permission denied." (globus_gridftp_server_control_commands.c). Paths are ours.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_match, best_pattern, matched_ids

GCT = "https://github.com/gridcf/gct/blob/1ba1e10871e8cb9765c4b68838e5225966e9927a/"
RESPONDED = "error: globus_ftp_client: the server responded with an error"

# (lines, pattern id, category, service, retryable)
CASES = [
    ([RESPONDED, "500-globus_xio: System error in open: No such file or directory",
      "500-globus_xio: A system call failed: No such file or directory"],
     "gridftp-server-no-such-file", "service", "storage", False),
    ([RESPONDED, "550 /pnfs/example.org/data/run1: No such file or directory."],
     "gridftp-server-no-such-file", "service", "storage", False),
    ([RESPONDED, "500-globus_xio: System error in open: Permission denied"],
     "gridftp-server-permission-denied", "service", "auth", False),
    ([RESPONDED, "553 Permission denied."], "gridftp-server-permission-denied", "service", "auth", False),
    # the storage's full disk, not the node's (outranks limits.yaml's disk-limit)
    ([RESPONDED, "500-globus_xio: System error in write: No space left on device"],
     "gridftp-server-no-space", "service", "storage", False),
    ([RESPONDED, "500-globus_xio: A system call failed: Disk quota exceeded"],
     "gridftp-server-no-space", "service", "storage", False),
]


@pytest.mark.parametrize("lines, pid, category, service, retryable", CASES, ids=[c[0][-1][:60] for c in CASES])
def test_the_reply_decides_over_the_client_s_line(lines, pid, category, service, retryable):
    best = best_match(lines, source=GCT)
    assert (best.pattern.id, best.pattern.category.value, best.pattern.service, best.pattern.retryable) == (
        pid, category, service, retryable)
    assert best.index > 0, "the evidence is the server's reply, not the client's summary line"


def test_a_reply_without_a_known_cause_stays_the_generic_retryable_gridftp_failure():
    best = best_pattern(RESPONDED)
    assert (best.id, best.retryable) == ("gridftp-server-error", True)


@pytest.mark.parametrize("line, not_pid", [
    # the node's own full disk is still limits.yaml's (no FTP reply code before globus_xio)
    ("cp: error writing 'out.root': No space left on device", "gridftp-server-no-space"),
    # a local file missing is not the GridFTP server's
    ("ls: cannot access 'in.root': No such file or directory", "gridftp-server-no-such-file"),
])
def test_lines_outside_a_gridftp_reply_are_not_read(line, not_pid):
    assert not_pid not in matched_ids(line)
