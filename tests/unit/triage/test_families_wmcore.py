"""WMCore stage-out family (include/triage/patterns/wmcore.yaml), on WMCore's own messages.

Each line is a WMCore string, whole or with its values filled in (paths, codes and output are ours):
SiteLocalConfig.py / StageInMgr.py messages, Execute.py's ``"Command exited with status: %s, Output: (%s)"``,
StageOutImpl.py's and StageOutMgr.py's log lines, the backends' ``"File sizes don't match"``.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

WMCORE = "https://github.com/dmwm/WMCore/blob/16a70a1e17939e45d6003edde221cd2a0d0aa56c/src/python/WMCore/Storage/"

# (line, pattern id, category, retryable, source of the wording)
LINES = [
    ("Unable to find site local config file:", "wmcore-siteconf-unusable", "infrastructure", False,
     WMCORE + "SiteLocalConfig.py"),
    ("SITECONFIG_PATH variable is not defined.", "wmcore-siteconf-unusable", "infrastructure", False,
     WMCORE + "SiteLocalConfig.py"),
    ("Error:Unable to find any local-stage-out information in:", "wmcore-siteconf-unusable", "infrastructure", False,
     WMCORE + "SiteLocalConfig.py"),
    ("Unable to load Rucio File Catalog. This stage out will not be attempted:", "wmcore-siteconf-unusable",
     "infrastructure", False, WMCORE + "StageInMgr.py"),
    ("Command exited with status: 110, Output: (gfal-copy exit status: 110)", "wmcore-stageout-command-failed",
     "service", True, WMCORE + "Execute.py"),
    ("Maximum number of retries exhausted. Further details on the failed command reported below.",
     "wmcore-stageout-command-failed", "service", True, WMCORE + "StageOutImpl.py"),
    ("===> Stage Out Failure for file:", "wmcore-stageout-command-failed", "service", True, WMCORE + "StageOutMgr.py"),
    ("File sizes don't match", "wmcore-stageout-size-mismatch", "service", True, WMCORE + "Plugins/LCGImpl.py"),
]


@pytest.mark.parametrize("line, pid, category, retryable, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, source):
    best = best_pattern(line, "stdout", source=source)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)


def test_a_command_that_exited_zero_is_not_a_failure():
    # mechanics
    ids = matched_ids("Command exited with status: 0, Output: ()", "stdout")
    assert "wmcore-stageout-command-failed" not in ids
