"""PanDA pilot family (include/triage/patterns/panda_pilot.yaml): the pilot's job summary.

Lines are pilot/control/job.py's summary formats ``f'error {i + 1}/{n}: {code}: {diag}'`` and
``f'pilot error code: {code}'`` with codes and diag texts from ErrorCodes in
pilot/common/errorcodes.py (PanDAWMS/pilot3 at a090538b1cc9e08e957e632106b5aac14eab5025).
"""

from __future__ import annotations

import pytest
import yaml

from prodops import config
from prodops.triage.patterns import load_library
from tests.unit.triage.families import best_pattern

PILOT = "https://github.com/PanDAWMS/pilot3/blob/a090538b1cc9e08e957e632106b5aac14eab5025/pilot/common/errorcodes.py"

# (code, the pilot's diag for it, pattern id, category, service, resource, retryable)
CODES = [
    (1151, "File transfer timed out during stage-in", "panda-pilot-transfer-failed", "service", "storage", None, True),
    (1137, "Failed to stage-out file", "panda-pilot-transfer-failed", "service", "storage", None, True),
    (1145, "md5sum mismatch on input file", "panda-pilot-transfer-failed", "service", "storage", None, True),
    (1331, "Input file is missing in storage element", "panda-pilot-input-missing", "service", "storage", None, False),
    # "No space left on device" here is the remote storage's: not limits.yaml's node disk
    (1333, "No space left on device", "panda-pilot-remote-space", "service", "storage", None, False),
    (1316, "Rucio: Service unavailable", "panda-pilot-rucio", "service", "rucio", None, True),
    (1177, "Voms proxy not valid", "panda-pilot-credentials", "service", "auth", None, False),
    (1338, "Authentication failure during stage-in", "panda-pilot-credentials", "service", "auth", None, False),
    (1377, "CVMFS is not responding", "panda-pilot-node-environment", "infrastructure", "worker-node", None, True),
    (1307, "Singularity/Apptainer: No more available loop devices", "panda-pilot-node-environment", "infrastructure",
     "worker-node", None, True),
    (1098, "Not enough local space", "panda-pilot-local-space", "infrastructure", "worker-node", "disk", True),
    (1212, "Payload ran out of memory", "panda-pilot-memory", "infrastructure", "worker-node", "memory", True),
    (1213, "Reached batch system time limit", "panda-pilot-time-limit", "infrastructure", "worker-node", "time", True),
    (1379, "Job was preempted", "panda-pilot-preempted", "infrastructure", "worker-node", None, True),
    (1369, "Frontier error", "panda-pilot-frontier", "service", "frontier", None, True),
    (1346, "Transform not found", "panda-pilot-payload-setup", "code", None, None, False),
]


@pytest.mark.parametrize("code, diag, pid, category, service, resource, retryable", CODES, ids=[str(c[0]) for c in CODES])
def test_both_summary_lines_of_a_code_are_read(code, diag, pid, category, service, resource, retryable):
    for line in (f"error 1/1: {code}: {diag}", f"pilot error code: {code}"):
        p = best_pattern(line, "stdout", source=PILOT)
        assert (p.id, p.category.value, p.service, p.resource, p.retryable) == (
            pid, category, service, resource, retryable), line


@pytest.mark.parametrize("line", [
    "pilot error code: 1008",  # GENERALERROR: not read by its code
    "pilot error code: 11510",  # not a pilot code
    "error 1/1: 1301: An unknown pilot exception has occurred",  # UNKNOWNEXCEPTION
])
def test_codes_that_say_nothing_are_left_alone(line):
    assert not {m.pattern.id for m in load_library().match({"stdout": [line]}) if m.pattern.family == "panda_pilot"}


def test_no_code_is_in_two_groups():
    raw = yaml.safe_load((config.INCLUDE_DIR / "triage" / "patterns" / "panda_pilot.yaml").read_text())
    seen: dict[str, str] = {}
    for p in raw["patterns"]:
        codes = p["regex"].rsplit("(?:", 1)[1].split(")")[0].split("|")
        for code in codes:
            assert code not in seen, f"{code} is in {seen[code]} and {p['id']}"
            seen[code] = p["id"]
