"""Node errno family (include/triage/patterns/node_errno.yaml): glibc's strerror texts as programs print them.

Lines are Python's OSError format ``[Errno <n>] <strerror>`` and a tool's ``<path>: <strerror>``
with glibc's texts (sysdeps/gnu/errlist.h); paths and hosts are ours.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

ERRLIST = "https://github.com/bminor/glibc/blob/04e750e75b73957cf1c791535a3f4319534a52fc/sysdeps/gnu/errlist.h"

LINES = [
    ("OSError: [Errno 107] Transport endpoint is not connected: '/scratch/cache/f.root'", "node-mount-broken",
     "infrastructure"),
    ("cp: cannot stat '/data/shared/run7/f.root': Stale file handle", "node-mount-broken", "infrastructure"),
    ("socket.error: [Errno 111] Connection refused", "python-oserror-connection", "service"),
    ("OSError: [Errno 104] Connection reset by peer", "python-oserror-connection", "service"),
]


@pytest.mark.parametrize("line, pid, category", LINES, ids=[row[0][:50] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category):
    best = best_pattern(line)
    assert (best.id, best.category.value, best.retryable) == (pid, category, True), ERRLIST


def test_a_cvmfs_path_stays_with_the_cvmfs_rule():
    line = "ls: cannot access '/cvmfs/dune.opensciencegrid.org/products': Transport endpoint is not connected"
    assert best_pattern(line).id == "cvmfs-unavailable"
