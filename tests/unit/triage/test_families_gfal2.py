"""gfal2 / davix family (include/triage/patterns/gfal2.yaml): gfal2-util's errno format and davix's HTTP wording.

Each line is a source's format string with its values filled in: gfal2-util base.py
``"%s error: %d (%s) - %s" % (progr, e.code, os.strerror(e.code), e.message)``, whose message is
gfal2's ``"[<function>] <text>"`` (gfal_error.c) around davix's ``"HTTP {} : {} {}"``
(httprequest.cpp). The strerror texts are Linux's for the errno shown.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

GFAL2_UTIL = "https://github.com/cern-fts/gfal2-util/blob/5aeb6dbcd5f21b17c393ffbb4c371f354895b463/src/gfal2_util/base.py"
DAVIX = "https://github.com/cern-fts/davix/blob/3054c828c4b63ff194880845c4a93a908b984a91/src/request/httprequest.cpp"

# (line, pattern id, category, retryable, source of the wording)
LINES = [
    ("gfal-copy error: 110 (Connection timed out) - [gfalt_copy_file][perform_copy] Connection timed out",
     "gfal-util-errno-transient", "service", True, GFAL2_UTIL),
    ("gfal-ls error: 111 (Connection refused) - [gfal2_stat] Connection refused",
     "gfal-util-errno-transient", "service", True, GFAL2_UTIL),
    # ECOMM 70 is not classed by errno (storage.yaml keeps it); the davix text inside decides
    ("gfal-copy error: 70 (Communication error on send) - [gfalt_copy_file][perform_copy] HTTP 500 : Unexpected server error: 500 ",
     "davix-http-server-error", "service", True, GFAL2_UTIL),
    ("gfal-rm error: 13 (Permission denied) - [gfal_http_unlinkG] Permission denied",
     "gfal-util-errno-denied", "service", False, GFAL2_UTIL),
    # an HTTP 403 inside is auth.yaml's token/credential rule (same reading, higher priority)
    ("gfal-copy error: 13 (Permission denied) - [gfalt_copy_file][perform_copy] HTTP 403 : Permission refused ",
     "token-expired", "service", False, GFAL2_UTIL),
    ("gfal-copy error: 28 (No space left on device) - [gfalt_copy_file][perform_copy] DESTINATION No space left on device",
     "gfal-util-errno-space", "service", False, GFAL2_UTIL),
    ("gfal-copy error: 122 (Disk quota exceeded) - [gfalt_copy_file][perform_copy] DESTINATION Disk quota exceeded",
     "gfal-util-errno-space", "service", False, GFAL2_UTIL),
    ("gfal-copy error: 17 (File exists) - [gfalt_copy_file][perform_copy] DESTINATION HTTP 409 : Conflict, File Exist ",
     "gfal-util-errno-exists", "code", False, GFAL2_UTIL),
    ("HTTP 503 : Unexpected server error: 503 ", "davix-http-server-error", "service", True, DAVIX),
    ("Result HTTP 502 : Unexpected server error: 502  after 3 attempts", "davix-http-server-error", "service", True,
     "https://github.com/cern-fts/davix/blob/3054c828c4b63ff194880845c4a93a908b984a91/src/fileops/davix_reliability_ops.cpp"),
    ("HTTP 504 : Operation timeout ", "davix-http-timeout", "service", True, DAVIX),
]


@pytest.mark.parametrize("line, pid, category, retryable, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)


@pytest.mark.parametrize("line", [
    "gfal-copy error: 2 (No such file or directory) - synthetic",  # ENOENT: left to the generic rule
    "HTTP 404 : File not found ",
])
def test_errnos_and_statuses_not_classed_here_fall_through(line):
    ids = matched_ids(line)
    assert not ids & {"gfal-util-errno-transient", "gfal-util-errno-denied", "gfal-util-errno-space",
                      "gfal-util-errno-exists", "davix-http-server-error", "davix-http-timeout"}


ROOT_DAVIX = "https://github.com/root-project/root/blob/ab4ebbea4fb16f7e02ba1c13c7dfeda5998a9db7/net/davix/src/TDavixFile.cxx"


@pytest.mark.parametrize("line, pid, retryable", [
    # TError's "Error in <%s>: %s" with TDavixFile's "can not open file with davix: %s (%d)" around davix's message
    ("Error in <DavixOpen>: can not open file with davix: HTTP 503 : Unexpected server error: 503  (256)",
     "root-davix-io-failed", True),
    ("Error in <DavixReadBuffers>: can not read data with davix: HTTP 504 : Operation timeout  (9)",
     "root-davix-io-failed", True),
    # a refusal inside is auth.yaml's
    ("Error in <DavixOpen>: can not open file with davix: HTTP 401 : Authentication Error  (14)", "token-expired", False),
])
def test_root_s_davix_errors(line, pid, retryable):
    best = best_pattern(line)
    assert (best.id, best.retryable) == (pid, retryable), ROOT_DAVIX
