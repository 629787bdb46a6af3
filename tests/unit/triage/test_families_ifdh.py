"""ifdh family (include/triage/patterns/ifdh.yaml), on ifdh's own messages.

Each line is ifdhc's format with its values filled in (commands, URLs and numbers are ours):
ifdh_cp.cc ``"program: " << cmd_str << "exited status " << res`` (printed after ctime(), whose
newline leaves the line starting with a space), ``" died from signal " ... "-- exiting."``, the
credential warnings, and WebAPI.cc's ``url + "FetchError: Retry count exceeded"``.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

IFDH = "https://github.com/fnal-fife/ifdhc/blob/7dc9eb7a755cc31f36a2f63b2ec0549675925dfc/"

# (line, pattern id, service, retryable, source of the wording)
LINES = [
    (" program: gfal-copy -p -t 7200 /srv/out.root https://fndcadoor.fnal.gov:2880/pnfs/fnal.gov/usr/dune/scratch/out.root exited status 70",
     "ifdh-copy-program-failed", "dcache", True, IFDH + "ifdh/ifdh_cp.cc"),
    (" program: xrdcp -s root://fndca1.fnal.gov:1094/pnfs/fnal.gov/usr/dune/in.root /srv/in.root died from signal 9-- exiting.",
     "ifdh-copy-program-killed", "dcache", True, IFDH + "ifdh/ifdh_cp.cc"),
    ("Error: exit code 1 from voms-proxy-init... later actions will likely fail",
     "ifdh-credential-tool-failed", "auth", False, IFDH + "ifdh/ifdh_cp.cc"),
    ("Error: exit code 2 from htgettoken... later actions will likely fail",
     "ifdh-credential-tool-failed", "auth", False, IFDH + "ifdh/ifdh_cp.cc"),
    ("https://samweb.fnal.gov:8483/sam/dune/api/projects/p1/processes/7/getNextFileFetchError: Retry count exceeded",
     "ifdh-webapi-retries-exhausted", "samweb", True, IFDH + "util/WebAPI.cc"),
]


@pytest.mark.parametrize("line, pid, service, retryable, source", LINES, ids=[row[0].strip()[:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, service, retryable, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.service, best.retryable) == (pid, "service", service, retryable)
