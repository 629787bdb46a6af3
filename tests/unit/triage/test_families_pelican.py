"""Pelican family (include/triage/patterns/pelican.yaml): the client's structured errors.

CODES is Pelican's own table, copied from docs/error_codes.yaml (type, code, retryable); each line is
PelicanError.Error's format ``"%s Error: Error code %d: %v"`` with that type and code and a cause
of ours. The patterns must give every code Pelican's own retry advice.
"""

from __future__ import annotations

import pytest

from tests.unit.triage.families import best_pattern

DOCS = "https://github.com/PelicanPlatform/pelican/blob/4012bc4a32deb29f39b35d4cfec18c472ae4ecdb/docs/error_codes.yaml"

# (type, code, retryable) as docs/error_codes.yaml lists them
CODES = [
    ("Parameter", 1000, False), ("Parameter.FileNotFound", 1011, False),
    ("Resolution", 2000, False), ("Resolution.Timeout", 2001, True), ("Resolution.ConnectionFailure", 2002, True),
    ("Contact", 3000, False), ("Contact.Director", 3001, False), ("Contact.Cache", 3002, True),
    ("Contact.Origin", 3003, False), ("Contact.Registry", 3004, False), ("Contact.ConnectionReset", 3005, True),
    ("Contact.ConnectionSetup", 3006, True),
    ("Authorization", 4000, False), ("Authorization.TokenNotFound", 4010, False),
    ("Specification", 5000, False), ("Specification.FileNotFound", 5011, False),
    ("Specification.FileNotCreated", 5002, False), ("Specification.FileAlreadyExists", 5012, False),
    ("Transfer", 6000, True), ("Transfer.StoppedTransfer", 6001, True), ("Transfer.SlowTransfer", 6002, True),
    ("Transfer.TimedOut", 6003, True), ("Transfer.HeaderTimeout", 6004, True), ("Transfer.DirectorTimeout", 6005, True),
    ("Transfer.ChecksumMismatch", 6006, True), ("Transfer.ChecksumMissing", 6007, True),
    ("Transfer.OriginUnresponsive", 6008, True), ("Transfer.OriginSlow", 6009, True),
    ("Transfer.CacheOverloaded", 6010, True),
]
EXPECTED_CATEGORY = {"Parameter": "code", "Specification": "code"}


@pytest.mark.parametrize("etype, code, retryable", CODES, ids=[f"{c[1]}-{c[0]}" for c in CODES])
def test_every_pelican_code_gets_pelican_s_retry_advice(etype, code, retryable):
    line = f"{etype} Error: Error code {code}: cause of ours"
    best = best_pattern(line)
    assert best.family in ("osdf", "credentials"), (line, best.id, DOCS)
    assert best.retryable is retryable
    assert best.category.value == EXPECTED_CATEGORY.get(etype.split(".")[0], "service")
