"""Frontier client family (include/triage/patterns/frontier.yaml): the client's own messages.

Each line is a format string of fermitools/frontier's client (file beside it) with its values
filled in, as frontier_log writes it ("error [<file>:<line>]: <message>", frontier_log.c) or as
it is nested in the request that failed ("Request <n> on chan <n> failed at <date>: <code>
[<file>:<line>]: <message>", frontier.c) and in the C++ exception ("Can not get data (Additional
Information: ...)", frontier-cpp.cc). Line numbers are those of the call at the commit; hosts ours.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern, matched_ids

CLIENT = "https://github.com/fermitools/frontier/blob/25267cc181971d8122406a8ca29791c52ce99229/client/"

# (line, pattern id, category, retryable, source file)
LINES = [
    ("error [frontier.c:1171]: No more servers/proxies. Last error was: Request 45 on chan 1 failed at "
     "Tue Dec  1 07:00:00 2026: -6 [fn-socket.c:261]: read from 188.184.1.1:8000 timed out after 10 seconds",
     "frontier-no-more-servers", "service", True, "frontier.c"),
    ("error [frontier.c:1136]: No more proxies. Last error was: Request 3 on chan 1 failed at "
     "Tue Dec  1 07:00:00 2026: -6 [fn-socket.c:261]: read from 10.0.0.5:3128 timed out after 10 seconds",
     "frontier-no-more-servers", "service", True, "frontier.c"),
    # the C++ API's exception around it, as CMSSW prints it
    ("Can not get data (Additional Information: [frontier.c:1171]: No more servers/proxies. Last error was: "
     "Request 45 on chan 1 failed at Tue Dec  1 07:00:00 2026: -6 [fn-socket.c:210]: connection reset by peer)",
     "frontier-socket-error", "service", True, "frontier-cpp.cc"),
    ("error [fn-htclient.c:444]: server error (HTTP/1.0 503 Service Unavailable) proxy=squid.example.org:3128 "
     "server=cmsfrontier.cern.ch:8000",
     "frontier-server-error", "service", True, "http/fn-htclient.c"),
    ("warn  [frontier.c:1025]: Request 7 on chan 2 failed at Tue Dec  1 07:00:00 2026: -9 [fn-htclient.c:444]: "
     "server error (HTTP/1.1 404 Not Found) proxy=squid.example.org:3128 server=cmsfrontier.cern.ch:8000",
     "frontier-server-error", "service", True, "http/fn-htclient.c"),
    ("error [fn-htclient.c:451]: bad response (HTTP/1.1 403 Forbidden) proxy=squid.example.org:3128 "
     "server=cmsfrontier.cern.ch:8000",
     "frontier-bad-response", "service", True, "http/fn-htclient.c"),
    ("error [fn-htclient.c:527]: empty response from server proxy=squid.example.org:3128 server=cmsfrontier.cern.ch:8000",
     "frontier-bad-response", "service", True, "http/fn-htclient.c"),
    ("error [fn-socket.c:112]: system error 111 on connect to 10.0.0.5:3128: Connection refused",
     "frontier-socket-error", "service", True, "http/fn-socket.c"),
    ("error [fn-urlparse.c:176]: host name squid.example.org problem: Name or service not known",
     "frontier-host-name-problem", "infrastructure", True, "http/fn-urlparse.c"),
    ("error [response.c:55]: Server has signalled Global Error [ORA-12541: TNS:no listener]",
     "frontier-server-payload-error", "service", True, "response.c"),
    ("error [payload.c:101]: Server signalled payload error -1: ORA-01013: user requested cancel of current operation",
     "frontier-server-payload-error", "service", True, "payload.c"),
    ("error [response.c:369]: Payload[1]: MD5 hash mismatch: server [0f343b0931126a20f133d67c2b018a3b], "
     "local [9e107d9d372bb6826bd81d3542a419d6]",
     "frontier-server-payload-error", "service", True, "response.c"),
    ("error [frontier_config.c:1012]: config error: failed to read a proxyconfig url.  Last url was "
     "http://wpad.example.org/wpad.dat and last error was: connect to 10.0.0.9:80 timed out after 5 seconds",
     "frontier-proxyconfig-unreadable", "service", True, "frontier_config.c"),
    ('error [frontier_config.c:1083]: config error: proxyconfigurl http://wpad.example.org/wpad.dat '
     'FindProxyForURL("http://cmsfrontier.cern.ch:8000/FrontierProd","cmsfrontier.cern.ch") returned no match',
     "frontier-proxyconfig-error", "infrastructure", False, "frontier_config.c"),
]


@pytest.mark.parametrize("line, pid, category, retryable, source", LINES, ids=[row[0][:60] for row in LINES])
def test_the_best_match_of_a_source_line(line, pid, category, retryable, source):
    best = best_pattern(line, source=CLIENT + source)
    assert (best.id, best.category.value, best.retryable) == (pid, category, retryable)
    assert best.service in {"frontier", "network"}


@pytest.mark.parametrize("line, pid", [
    # conditions.yaml's older patterns keep what they read: a config error of fn-urlparse.c, a timed-out read
    ("error [fn-urlparse.c:59]: config error: bad url 10.3.0.123:3128", "frontier-config-error"),
    ("warn  [frontier.c:1025]: Request 286 on chan 2 failed at Tue Dec  1 07:00:00 2026: -6 [fn-socket.c:261]: "
     "read from 10.0.0.5:3127 timed out after 10 seconds", "frontier-request-failed"),
])
def test_the_older_frontier_patterns_keep_their_lines(line, pid):
    assert best_pattern(line).id == pid


@pytest.mark.parametrize("line", [
    "server error (HTTP/1.1 503 Service Unavailable)",  # not the Frontier client's: no [fn-htclient.c:N] prefix
    "Payload: 12 files",
    "host name lookup problem: synthetic",
])
def test_lines_not_from_the_client_are_not_frontier_s(line):
    ids = matched_ids(line)
    assert not {i for i in ids if i.startswith("frontier-")}
