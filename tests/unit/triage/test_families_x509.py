"""X.509 / VOMS / GSI family (include/triage/patterns/x509.yaml), on the tools' own lines.

The grid-cert-diagnostics lines are copied verbatim from its manual (gridcf/gct); the others are
the sources' strings, whole or with their values filled in (paths and VO names are ours).
"""

from __future__ import annotations

import pytest

from prodops.triage.patterns import load_library
from tests.unit.triage.families import best_pattern

GCT = "https://github.com/gridcf/gct/blob/1ba1e10871e8cb9765c4b68838e5225966e9927a/gsi/"
VOMS = "https://github.com/italiangrid/voms/blob/2eaeb9a9ea56e84f109b6c8c6c5ea646338dbfae/src/"
VOMS_CLIENTS = ("https://github.com/italiangrid/voms-clients/blob/45f2a3134c279626e5cf9ee8b2e9dc5325a12e35/"
                "src/main/java/org/italiangrid/voms/clients/impl/DefaultVOMSProxyInfoBehaviour.java")

# (line, pattern id, service, retryable, source of the wording)
LINES = [
    # verbatim: grid-cert-diagnostics.txt
    ("        Credential with subject: /DC=org/DC=example/OU=grid/CN=CA has expired.",
     "gsi-credential-expired", "auth", False, GCT + "proxy/proxy_utils/source/programs/grid-cert-diagnostics.txt"),
    # voms_proxy_info.cc: std::cerr << "Couldn't find a valid proxy." (whole line)
    ("Couldn't find a valid proxy.", "voms-proxy-missing", "auth", False, VOMS + "utils/voms_proxy_info.cc"),
    # voms-clients: "Proxy not found: " + FileNotFoundException message
    ("Proxy not found: /tmp/x509up_u5021 (No such file or directory)", "voms-proxy-missing", "auth", False,
     VOMS_CLIENTS),
    ("Proxy not valid for the specified period", "voms-proxy-not-valid", "auth", False, VOMS_CLIENTS),
    # vomsclient.cc: "None of the contacted servers for " << vo << " were capable\nof returning a valid AC ..."
    ("None of the contacted servers for dune were capable", "voms-server-no-ac", "voms", True,
     VOMS + "client/vomsclient.cc"),
    # gsi/credential: "      expired %d minutes ago." (second line of "The proxy credential: ...")
    ("      expired 12 minutes ago.", "gsi-credential-expired", "auth", False,
     GCT + "credential/source/library/globus_gsi_credential.c"),
    # display_status.c "GSS Major Status: %s" with reason "Authentication Failed"
    ("GSS Major Status: Authentication Failed", "gsi-authentication-failed", "auth", False,
     GCT + "gssapi/source/library/display_status.c"),
    # module "globus_gsi_gssapi" + error 27 "Error with GSI credential"
    ("globus_gsi_gssapi: Error with GSI credential", "gsi-authentication-failed", "auth", False,
     GCT + "gssapi/source/library/globus_gsi_gss_error.c"),
]


@pytest.mark.parametrize("line, pid, service, retryable, source", LINES, ids=[row[0].strip()[:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, service, retryable, source):
    best = best_pattern(line, source=source)
    assert (best.id, best.category.value, best.service, best.retryable) == (pid, "service", service, retryable)


def test_a_valid_proxy_report_matches_nothing():
    # mechanics: voms-proxy-info's normal output
    lines = ["subject   : /DC=org/DC=cilogon/C=US/O=Fermi/CN=prod/CN=1234", "timeleft  : 11:59:58"]
    assert load_library().match({"stdout": lines}) == []
