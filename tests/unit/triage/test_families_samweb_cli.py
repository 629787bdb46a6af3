"""SAM web client family, as the `samweb` command prints it (include/triage/patterns/samweb.yaml).

Lines are sam-web-client's own strings with values filled in: SAMWebHTTPError.__str__
``"HTTP error: %(code)d %(msg)s\\nURL: %(url)s"`` around the requests client's
``"HTTP error: %d %s" % (status, reason)`` (_exceptions.py, http_client_requests.py),
SAMWebConnectionError's ``"%s: Timed out waiting for response" % (url,)`` and
``"%s: %s" % (url, str(ex))``, and samweb_cli.py's message for a missing experiment.
Hosts and paths are ours; the requests error inside is urllib3's wording.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

SAMWEB = "https://github.com/illingwo/sam-web-client/blob/0947120a7be74f42ae68bbbe39e64022c410effe/python/"
API = "https://samdb.example.org:8483/sam/icarus/api"

# (lines, pattern id, category, retryable)
CASES = [
    (["HTTP error: 503 HTTP error: 503 Service Unavailable", f"URL: {API}/definitions/name/d1/snapshot"],
     "samweb-client-server-error", "service", True),
    ([f"{API}/projects/p1/processes/9/getNextFile: Timed out waiting for response"],
     "samweb-client-timed-out", "service", True),
    ([f"{API}/files/name/f.root/metadata: HTTPSConnectionPool(host='samdb.example.org', port=8483): Max retries "
      "exceeded with url: /sam/icarus/api/files/name/f.root/metadata (Caused by NewConnectionError('<urllib3."
      "connection.HTTPSConnection object at 0x7f1c2a0b3d30>: Failed to establish a new connection: [Errno 111] "
      "Connection refused'))"],
     "samweb-client-connection-failed", "service", True),
    (["Experiment name is not defined. Use -e/--experiment command line option or set SAM_EXPERIMENT environment variable."],
     "samweb-experiment-not-defined", "code", False),
]


@pytest.mark.parametrize("lines, pid, category, retryable", CASES, ids=[c[1] for c in CASES])
def test_the_best_match_of_the_client_s_words(lines, pid, category, retryable):
    best = best_pattern(lines, source=SAMWEB)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)
    if category == "service":
        assert best.service == "samweb"


def test_on_the_samweb_host_the_older_pattern_reads_it_the_same():
    line = "https://samweb.fnal.gov:8483/sam/dune/api/projects/p1/processes/9/getNextFile: Timed out waiting for response"
    best = best_pattern(line)
    assert (best.category.value, best.service, best.retryable) == ("service", "samweb", True)


@pytest.mark.parametrize("line", [
    "HTTP error: 404 Not Found",  # a 4xx's text is the server's message, not this format
    "https://example.org/api/v1/items: Timed out waiting for response",  # not a SAM web URL
])
def test_other_wording_is_not_samweb_s(line):
    ids = matched_ids(line)
    assert not {i for i in ids if i.startswith("samweb-client-")}
