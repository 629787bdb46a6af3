"""Pattern families written from the tools' own sources cite, for every pattern, where its wording is from.

A family file read from primary sources carries a top-level ``sources`` mapping (pattern id -> the
repository file at a commit, or the documentation page); the pattern loader ignores the key.
"""

from __future__ import annotations

import re

import pytest
import yaml

from prodops import config

PATTERNS = config.INCLUDE_DIR / "triage" / "patterns"
SOURCED = ["xrootd.yaml", "gfal2.yaml", "loader.yaml", "htcondor.yaml", "cvmfs.yaml", "x509.yaml", "tokens.yaml", "wmcore.yaml", "ifdh.yaml", "dcap.yaml", "pegasus_transfer.yaml", "apptainer.yaml", "rucio.yaml", "pelican.yaml", "crab.yaml", "dagman.yaml", "fts.yaml", "node_errno.yaml", "frontier.yaml", "srm.yaml", "gridftp.yaml", "samweb.yaml", "condor_events.yaml", "panda_pilot.yaml", "runtime.yaml"]
"""Family files written from primary sources: each must cite a source for every pattern."""
LEGACY = {"auth.yaml", "cms.yaml", "conditions.yaml", "datahandling.yaml", "dune.yaml", "eviction.yaml", "generic.yaml",
          "limits.yaml", "node.yaml", "nova.yaml", "pool.yaml", "storage.yaml", "workflow.yaml"}
"""Files written before per-pattern sources were kept (their comments name the tools); every new file cites."""
CITATION = re.compile(r"^https://(?:github\.com/[\w.-]+/[\w.-]+/blob/[0-9a-f]{40}/\S+|\S+)$")


@pytest.mark.parametrize("name", SOURCED)
def test_every_pattern_of_a_sourced_family_cites_its_source(name):
    raw = yaml.safe_load((PATTERNS / name).read_text())
    ids = [p["id"] for p in raw["patterns"]]
    sources = raw.get("sources") or {}
    assert sorted(sources) == sorted(ids), f"{name}: sources and patterns differ"
    for pid, cited in sources.items():
        for url in cited if isinstance(cited, list) else [cited]:
            assert CITATION.match(url), f"{name}: {pid} cites {url!r}, not a URL"


def test_a_github_citation_is_pinned_to_a_commit():
    for name in SOURCED:
        raw = yaml.safe_load((PATTERNS / name).read_text())
        for cited in raw["sources"].values():
            for url in cited if isinstance(cited, list) else [cited]:
                if url.startswith("https://github.com/") and "/blob/" in url:
                    assert re.search(r"/blob/[0-9a-f]{40}/", url), url


def test_a_new_family_file_is_a_sourced_one():
    files = {p.name for p in PATTERNS.glob("*.yaml")}
    assert files - LEGACY == set(SOURCED), "a new pattern file needs a sources map and a place in SOURCED"
