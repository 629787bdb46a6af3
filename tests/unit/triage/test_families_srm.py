"""SRM family (include/triage/patterns/srm.yaml): srm-ifce's status format, as gfal2 passes it on.

Each line is srm-ifce's ``"[%s][%s][%s] %s: %s"`` (err_msg_begin "SE", the SRM function, the
status name from srmv2_errmsg, the endpoint, the explanation or ``<none>``; src/srm_util.c),
alone or inside gfal2's ``"srm-ifce err: %s, err: %s"`` (gfal_srm_report_error,
src/plugins/srm/gfal_srm.c) after gfal-copy's ``"%s error: %d (%s) - %s"`` with the errno
statuscode2errno gives that status. Endpoints and explanations are ours.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

SRM_UTIL = "https://github.com/cern-fts/srm-ifce/blob/6d3ee1a2830fe8649cccafeed3a143888190e6b9/src/srm_util.c"
ENDPOINT = "httpg://srm.example.org:8443/srm/managerv2"

# (line, pattern id, category, service, retryable)
LINES = [
    (f"gfal-copy error: 2 (No such file or directory) - [gfal_srm_report_error] srm-ifce err: No such file or "
     f"directory, err: [SE][Ls][SRM_INVALID_PATH] {ENDPOINT}: No such file or directory",
     "srm-status-invalid-path", "service", "storage", False),
    (f"[SE][PrepareToGet][SRM_INVALID_PATH] {ENDPOINT}: <none>", "srm-status-invalid-path", "service", "storage", False),
    (f"[SE][PrepareToPut][SRM_AUTHORIZATION_FAILURE] {ENDPOINT}: Permission denied",
     "srm-status-auth-failure", "service", "auth", False),
    (f"gfal-copy error: 13 (Permission denied) - [gfal_srm_report_error] srm-ifce err: Permission denied, err: "
     f"[SE][Ls][SRM_AUTHENTICATION_FAILURE] {ENDPOINT}: <none>", "srm-status-auth-failure", "service", "auth", False),
    (f"[SE][PrepareToPut][SRM_DUPLICATION_ERROR] {ENDPOINT}: <none>", "srm-status-duplication", "code", None, False),
    (f"[SE][PrepareToPut][SRM_NO_FREE_SPACE] {ENDPOINT}: <none>", "srm-status-no-space", "service", "storage", False),
    (f"[SE][ReserveSpace][SRM_NO_USER_SPACE] {ENDPOINT}: <none>", "srm-status-no-space", "service", "storage", False),
    (f"[SE][StatusOfGetRequest][SRM_FILE_LOST] {ENDPOINT}: <none>", "srm-status-file-lost", "service", "storage", False),
]


@pytest.mark.parametrize("line, pid, category, service, retryable", LINES, ids=[row[0][:70] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, service, retryable):
    best = best_pattern(line, source=SRM_UTIL)
    assert (best.id, best.category.value, best.service, best.retryable) == (pid, category, service, retryable)


def test_a_quota_in_gfal_s_errno_and_in_the_srm_status_reads_the_same():
    # EDQUOT 122 is gfal2.yaml's space errno (same priority, same reading); the SRM status agrees
    line = (f"gfal-copy error: 122 (Disk quota exceeded) - [gfal_srm_report_error] srm-ifce err: Disk quota exceeded, "
            f"err: [SE][PrepareToPut][SRM_EXCEED_ALLOCATION] {ENDPOINT}: <none>")
    best = best_pattern(line)
    assert best.id in {"gfal-util-errno-space", "srm-status-no-space"}
    assert (best.category.value, best.service, best.retryable) == ("service", "storage", False)


@pytest.mark.parametrize("line", [
    # transient statuses and a failed connection stay storage.yaml's retryable srm-endpoint-error
    f"[SE][StatusOfGetRequest][SRM_FILE_BUSY] {ENDPOINT}: <none>",
    f"[SE][Ls][SRM_INTERNAL_ERROR] {ENDPOINT}: <none>",
    f"[SE][Ls][] {ENDPOINT}: Connection fails or timeout",
    f"[SE][StatusOfPutRequest][ETIMEDOUT] {ENDPOINT}: User timeout over",
])
def test_transient_srm_failures_stay_retryable(line):
    best = best_pattern(line)
    assert (best.id, best.retryable) == ("srm-endpoint-error", True)


def test_a_status_name_outside_the_bracket_format_is_not_read():
    ids = matched_ids("checking for SRM_INVALID_PATH handling")
    assert not {i for i in ids if i.startswith("srm-status-")}
