"""CVMFS client family (include/triage/patterns/cvmfs.yaml): the loader, mount points, mount.cvmfs, cvmfs_config.

Each line is a cvmfs source's format string with its values filled in (repository names are
ours): loader.cc ``"%s (%d - %s)"`` with a boot error from mountpoint.cc and the failure's text
from loader.h, mount.cvmfs.cc's refusals, cvmfs_config's probe output.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

CVMFS = "https://github.com/cvmfs/cvmfs/blob/ae7450ec9c98d45ee1c1c3ab2cc7955dcbfd928a/"

# (line, pattern id, source of the wording)
LINES = [
    ("Failed to initialize root file catalog (16 - file catalog failure)", "cvmfs-loader-failure",
     CVMFS + "cvmfs/loader.h"),
    ("failed to load public key(s) (15 - signature verification failure)", "cvmfs-loader-failure",
     CVMFS + "cvmfs/loader.h"),
    ("failed to discover HTTP proxy servers (23 - proxy auto-discovery failed)", "cvmfs-loader-failure",
     CVMFS + "cvmfs/loader.h"),
    ("Failed to initialize root file catalog", "cvmfs-boot-error", CVMFS + "cvmfs/mountpoint.cc"),
    ("Failed to fetch manifest", "cvmfs-boot-error", CVMFS + "cvmfs/mountpoint.cc"),
    ("Repository dune.opensciencegrid.org is not mounted on /cvmfs/dune.opensciencegrid.org",
     "cvmfs-mount-refused", CVMFS + "mount/mount.cvmfs.cc"),
    ("Not allowed to mount larsoft.opensciencegrid.org, add it to CVMFS_REPOSITORIES", "cvmfs-mount-refused",
     CVMFS + "mount/mount.cvmfs.cc"),
    ("Probing /cvmfs/fermilab.opensciencegrid.org... Failed!", "cvmfs-probe-failed", CVMFS + "cvmfs/cvmfs_config"),
]


@pytest.mark.parametrize("line, pid, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, source):
    best = best_pattern(line, "stdout", source=source)
    assert (best.id, best.category.value, best.service, best.retryable) == (pid, "infrastructure", "cvmfs", True)


@pytest.mark.parametrize("line", [
    "unknown option (2 - illegal options)",  # the caller's mistake, not the repository's
    "Probing /cvmfs/fermilab.opensciencegrid.org... OK",
])
def test_lines_that_are_not_a_broken_repository_do_not_match(line):
    ids = matched_ids(line, "stdout")
    assert not ids & {"cvmfs-loader-failure", "cvmfs-probe-failed"}
