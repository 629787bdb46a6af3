"""Token family (include/triage/patterns/tokens.yaml): htgettoken's and gfal2's token-retrieval failures.

Each line is the source's format with its values filled in (servers and URLs are ours):
htgettoken ``prog + ": " + msg`` (fatal) with ``msg + ": " + type + ": " + str(e)`` (efatal), and
gfal2's ``"Could not retrieve token for %s [last failed attempt: %s]"``.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

HTGETTOKEN = "https://github.com/fermitools/htgettoken/blob/cd17775c56d9afb39a1ebefefe91ceda1d157f13/htgettoken/__init__.py"
GFAL2 = ("https://github.com/cern-fts/gfal2/blob/e301920ec26a1134d5003d189703bd5333875962/"
         "src/plugins/http/gfal_http_plugin_token.cpp")

# (line, pattern id, service, retryable, source of the wording)
LINES = [
    ("htgettoken: getting vault token from https://htvaultprod.fnal.gov:8200/v1/auth/kerberos-dune_production/login"
     " failed: URLError: <urlopen error [Errno 111] Connection refused>",
     "htgettoken-vault-failed", "vault", True, HTGETTOKEN),
    ("htgettoken: Failure getting token from htvaultprod.fnal.gov", "htgettoken-vault-failed", "vault", True, HTGETTOKEN),
    ("htgettoken: Kerberos negotiate with https://htvaultprod.fnal.gov:8200/v1/auth/kerberos-dune_production/login"
     " failed: GSSError: Unspecified GSS failure.",
     "htgettoken-kerberos-failed", "auth", False, HTGETTOKEN),
    ("gfal-copy error: 61 (No data available) - [gfal_http_token_retrieve] Could not retrieve token for"
     " davs://fndcadoor.fnal.gov:2880/pnfs/out.root [last failed attempt: HTTP 503 : Unexpected server error: 503 ]",
     "gfal-se-token-failed", "storage", True, GFAL2),
]


@pytest.mark.parametrize("line, pid, service, retryable, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, service, retryable, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.service, best.retryable) == (pid, "service", service, retryable)
