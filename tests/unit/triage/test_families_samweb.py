"""SAM web client family (samweb_client exceptions in include/triage/framework_categories.yaml).

The tracebacks end in the client's own exceptions as it raises them: SAMWebConnectionError with
http_client_requests.py's ``"%s: Timed out waiting for response" % (url,)``, and the server's error
types (makeHTTPError) whose message is the server's. URLs and names are ours.
"""

from __future__ import annotations

import pytest

from prodops.constants import Category
from prodops.triage.parsers import load_categories
from tests.unit.triage.families import classify_stderr

SAMWEB = "https://github.com/illingwo/sam-web-client/blob/0947120a7be74f42ae68bbbe39e64022c410effe/python/samweb_client/"


def classify(stderr: list[str]):
    return classify_stderr(stderr, experiment="dune", exit_code=1)


@pytest.mark.parametrize("name, category, service, retryable", [
    ("samweb_client.exceptions.SAMWebConnectionError", Category.SERVICE, "samweb", True),
    ("SAMWebSSLError", Category.SERVICE, "auth", False),
    ("samweb_client.exceptions.DefinitionNotFound", Category.CODE, None, False),
    ("DimensionError", Category.CODE, None, False),
])
def test_the_client_exceptions_are_in_the_category_table(name, category, service, retryable):
    rule = load_categories().python(name)
    assert rule is not None and (rule.category, rule.service, rule.retryable) == (category, service, retryable)


def test_a_timed_out_samweb_call_is_a_samweb_failure():
    # http_client_requests.py: errmsg = "%s: Timed out waiting for response" % (url,); SAMWebConnectionError(errmsg)
    verdict = classify([
        "Traceback (most recent call last):",
        '  File "/cvmfs/fermilab.opensciencegrid.org/products/common/prd/sam_web_client/v3_6/NULL/python/samweb_client/http_client_requests.py", line 138, in _doURL',
        "    raise exc",
        "samweb_client.exceptions.SAMWebConnectionError: https://samweb.fnal.gov:8483/sam/dune/api/projects/p1/processes/9/getNextFile: Timed out waiting for response",
    ])
    assert (verdict.category, verdict.service, verdict.retryable) == (Category.SERVICE, "samweb", True)


def test_an_unknown_definition_is_the_request_s_fault():
    # makeHTTPError with the server's error type DefinitionNotFound; the message text is synthetic
    # (mechanics: the class name decides, whatever the server says)
    verdict = classify([
        "Traceback (most recent call last):",
        '  File "run.py", line 12, in <module>',
        "    files = samweb.listFiles(defname='dune_reco_v9')",
        "samweb_client.exceptions.DefinitionNotFound: synthetic server message",
    ])
    assert verdict.category is Category.CODE and not verdict.retryable
