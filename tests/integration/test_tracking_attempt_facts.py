# ruff: noqa: F811 - the fixtures of test_htcondor_tracking, imported, are redefined as parameters
"""Issue 12 item 9: the facts of a real pool's ads, tracked through the HTCondor backend, are on the
attempt page beside the tail (hold reason and codes, host, worker IP, site, CPU model, cpu and
wall time, memory used and requested, files and bytes in and out, time window)."""

from __future__ import annotations

import classad2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from prodops.store import records
from prodops.store.db import connect
from prodops.tracking import SubmissionTracker
from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import PluginRunner
from prodops.triage.service import triage_stage
from prodops.web.triage import triage_router

from .test_htcondor_tracking import (  # noqa: F401 - fixtures
    POOL_ADS, new_backend, rows, schedd, submission_id, submission_row,
)

pytestmark = pytest.mark.integration


class Pool:
    def __init__(self, url: str) -> None:
        self.url = url

    def connection(self):
        return connect(self.url)


def test_the_attempt_page_shows_the_facts_of_a_real_pools_ads(db_url, schedd, submission_id):
    row = submission_row(db_url, submission_id)
    key = records.submission_handle(row).key
    schedd.queue.clear()
    for ad in classad2.parseAds(POOL_ADS.read_text(), classad2.ParserType.Old):
        ad["ProdopsSubmission"] = key
        schedd.history_ads.append(ad)
    assert SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id).cycle().done
    stored = rows(db_url)
    triage_stage(db_url, row["request_id"], row["stage"], classifier=Classifier(load_library(), PluginRunner([])))
    app = FastAPI()
    app.include_router(triage_router(Pool(db_url), lambda: None))
    client = TestClient(app)

    # tests/fixtures/ads/history_pool.ads: job 3 failed at a CMS site, job 2 was held, released and removed
    assert stored[3]["outcome"] == "failed" and stored[2]["outcome"] == "removed"
    data = client.get(f"/api/v1/triage/attempts/{submission_id}/3").json()
    assert {k: data["job"][k] for k in ("site", "worker_ip", "cpu_model", "time_window", "files_in_count")} == {
        "site": "T2_Example", "worker_ip": "10.4.0.102", "cpu_model": "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz",
        "time_window": "morning", "files_in_count": 3}
    page = client.get(f"/triage/attempts/{submission_id}/3").text
    for fact in ("site T2_Example", "host slot1_2@wn-102.example.org", "worker IP 10.4.0.102",
                 "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz", "wall 55 min", "cpu 40 min", "time window morning",
                 "used 1024 MB of 2000 MB requested", "in 3 (157286400 bytes)", "out 1 (2048 bytes)"):
        assert fact in page, fact
    held = client.get(f"/triage/attempts/{submission_id}/2").text
    assert "code 13/2:" in held and "site US_Nebraska" in held and "host slot1_5@wn-220.unl.edu" in held
