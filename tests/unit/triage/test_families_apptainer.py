"""Apptainer family (include/triage/patterns/apptainer.yaml), on Apptainer's own messages.

Each line is Apptainer's format with its values filled in (paths are ours), prefixed the way its
starter reports a fatal error of the container set-up (master_linux.go
``fmt.Errorf("container creation failed: %s", err)``).
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

ENGINE = ("https://github.com/apptainer/apptainer/blob/917d66577963ca297352a22e13c86f1748ddc645/"
          "internal/pkg/runtime/engine/apptainer/container_linux.go")

# (line, pattern id, category, retryable)
LINES = [
    ("FATAL:   container creation failed: mount /proc/self/fd/3->/var/lib/apptainer/mnt/session/rootfs error:"
     " while mounting image /proc/self/fd/3: failed to find loop device: no loop devices available",
     "apptainer-no-loop-device", "infrastructure", True),
    ("FATAL:   container creation failed: mount /proc/self/fd/3->/var/lib/apptainer/mnt/session/rootfs error:"
     " while mounting image /proc/self/fd/3: squashfs filesystem seems not enabled and/or supported by your kernel",
     "apptainer-fs-unsupported", "infrastructure", True),
    ("FATAL:   container creation failed: mount source /cvmfs doesn't exist",
     "apptainer-mount-source-missing", "infrastructure", True),
    ("FATAL:   container creation failed: mount /proc/self/fd/3->/var/lib/apptainer/mnt/session/rootfs error:"
     " while mounting image /proc/self/fd/3: squashfs image partition contains a bad superblock (corrupted image ?)",
     "apptainer-image-bad-superblock", "code", False),
]


@pytest.mark.parametrize("line, pid, category, retryable", LINES, ids=[row[1] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable):
    best = best_pattern(line, source=ENGINE)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)
