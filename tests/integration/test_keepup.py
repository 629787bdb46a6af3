"""Keepup following on the real PostgreSQL: each file claimed once (twice run, two followers at
once, a retried claim), the cap per UTC day, the standing approval, and the batch's dataset."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from prodops.constants import RequestState
from prodops.datasets import resolve_dataset
from prodops.keepup import claims
from prodops.keepup.campaigns import parse
from prodops.keepup.decisions import CampaignDecision, decision_of, record_decision, standing_approval
from prodops.keepup.follow import follow, jobs_of
from prodops.keepup.listing import list_dataset
from prodops.request import service
from prodops.stage import stage_input_files
from prodops.store import records
from prodops.store.db import connect
from prodops.workflows import load_templates
from tests.unit.keepup.test_campaigns import entry

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def raw(tmp_path, monkeypatch, db_url):
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(tmp_path))
    monkeypatch.setenv("PRODOPS_DB_URL", db_url)
    (tmp_path / "raw").mkdir()
    return tmp_path / "raw"


def write(raw, *names: str) -> list[str]:
    for name in names:
        (raw / name).write_text("event\n" * 3)
    return [str(raw / name) for name in names]


def campaign(raw, db_url=None, approved=True, **changes):
    [followed] = parse({"campaigns": {"nova_keepup": entry(raw, **changes)}}, "keepup.yaml")
    if db_url and approved:
        with connect(db_url) as conn:
            record_decision(conn, followed, CampaignDecision("approved", "anna", NOW - timedelta(days=1)))
            conn.commit()
    return followed


def batches(db_url) -> dict[int, list[str]]:
    with connect(db_url) as conn:
        rows = conn.execute("SELECT batch, path FROM keepup_files ORDER BY batch, path").fetchall()
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row["batch"], []).append(row["path"])
    return found


def test_a_campaign_without_standing_approval_asks_once_and_claims_nothing(db_url, raw):
    write(raw, "r1.raw")
    followed = campaign(raw)
    first, second = follow(db_url, [followed], NOW), follow(db_url, [followed], NOW)
    assert first.approvals == second.approvals == [{
        "trigger_run_id": f"keepup_approval__nova_keepup__{followed.definition_hash[:12]}",
        "conf": {"campaign": "nova_keepup", "definition_hash": followed.definition_hash}}]
    assert first.requests == [] and batches(db_url) == {}
    with connect(db_url) as conn:
        record_decision(conn, followed, CampaignDecision("rejected", "ben", NOW))
        stored = record_decision(conn, followed, CampaignDecision("approved", "anna", NOW))  # the first answer stands
        conn.commit()
    assert (stored.decision, stored.decided_by) == ("rejected", "ben")
    rejected = follow(db_url, [followed], NOW)
    assert rejected.approvals == [] and rejected.requests == [] and batches(db_url) == {}


def test_following_twice_claims_each_file_once_and_only_new_files_the_second_time(db_url, raw):
    followed = campaign(raw, db_url)
    first_files = write(raw, "r1.raw", "r2.raw", "r3.raw", "r4.raw", "r5.raw")
    first = follow(db_url, [followed], NOW)
    assert batches(db_url) == {1: first_files[:4], 2: first_files[4:]}
    assert [r["trigger_run_id"] for r in first.requests] == ["keepup__nova_keepup__000001", "keepup__nova_keepup__000002"]
    assert first.requests[0]["conf"]["input_dataset"] == "keepup:nova_keepup:1"

    again = follow(db_url, [followed], NOW)  # nothing new: the batches not yet requested are offered again
    assert batches(db_url) == {1: first_files[:4], 2: first_files[4:]} and again.requests == first.requests

    for request in first.requests:  # the runs start: their requests are recorded
        service.record_request(db_url, dag_id="production_request", run_id=request["trigger_run_id"],
                               conf=request["conf"])
    later = write(raw, "r6.raw", "r7.raw")
    third = follow(db_url, [followed], NOW)
    assert batches(db_url)[3] == later and len(batches(db_url)) == 3
    assert [r["trigger_run_id"] for r in third.requests] == ["keepup__nova_keepup__000003"]


def test_a_claim_that_fails_half_way_claims_nothing_and_its_retry_claims_all(db_url, raw):
    followed = campaign(raw, db_url, files_per_request=1)
    names = write(raw, "a.raw", "b.raw")
    listing = list_dataset(followed.campaign.dataset)

    def breaks_on_b(asked):
        if list(asked) == [names[1]]:
            raise OSError("the disk went away")
        return listing.details(asked)

    with connect(db_url) as conn, pytest.raises(OSError):
        claims.claim(conn, followed, listing.names, breaks_on_b, jobs_of(followed), NOW)
    assert batches(db_url) == {}
    with connect(db_url) as conn:
        done = claims.claim(conn, followed, listing.names, listing.details, jobs_of(followed), NOW)
    assert [b.batch for b in done.batches] == [1, 2] and batches(db_url) == {1: names[:1], 2: names[1:]}


def test_two_followers_at_once_claim_each_file_once(db_url, raw):
    """The first holds the campaign's lock while it reads its files; the second, started then,
    waits for it (seen in pg_locks) and claims only what the first left."""
    followed = campaign(raw, db_url, files_per_request=2)
    names = write(raw, "a.raw", "b.raw", "c.raw")
    listing = list_dataset(followed.campaign.dataset)
    reading, go_on = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def slow_details(asked):
        reading.set()
        assert go_on.wait(30)
        return listing.details(asked)

    def claimer(label, details, listed):
        with connect(db_url) as conn:
            results[label] = claims.claim(conn, followed, listed, details, jobs_of(followed), NOW)

    first = threading.Thread(target=claimer, args=("first", slow_details, listing.names))
    first.start()
    assert reading.wait(30)
    write(raw, "d.raw")
    second = threading.Thread(target=claimer, args=("second", listing.details, list_dataset(followed.campaign.dataset).names))
    second.start()
    with connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while not conn.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone():
            assert time.monotonic() < deadline, "the second follower never waited for the campaign's lock"
            time.sleep(0.05)
    go_on.set()
    first.join(30)
    second.join(30)
    assert batches(db_url) == {1: names[:2], 2: names[2:], 3: [str(raw / "d.raw")]}
    assert [b.batch for b in results["first"].batches] == [1, 2]  # type: ignore[attr-defined]
    assert [b.batch for b in results["second"].batches] == [3]  # type: ignore[attr-defined]


def test_files_over_the_days_cap_wait_for_the_next_day_and_the_log_says_so(db_url, raw, caplog):
    followed = campaign(raw, db_url, files_per_request=4, max_jobs_per_day=5)  # 4 files: 3 jobs; 2 files: 2 jobs
    names = write(raw, *(f"r{i}.raw" for i in range(1, 10)))
    with caplog.at_level(logging.INFO, logger="prodops.keepup.follow"):
        follow(db_url, [followed], NOW)
    assert batches(db_url) == {1: names[:4], 2: names[4:6]}
    assert "3 new files wait for the cap of 5 jobs per day (5 used since 00:00 UTC)" in caplog.text
    assert "at the latest after 2026-12-03 00:00 UTC" in caplog.text

    follow(db_url, [followed], NOW + timedelta(hours=13))  # 23:00: still the same day
    assert len(batches(db_url)) == 2
    follow(db_url, [followed], NOW + timedelta(hours=14))  # the next day
    assert batches(db_url)[3] == names[6:]
    with connect(db_url) as conn:
        jobs = [r["jobs"] for r in conn.execute("SELECT jobs FROM keepup_batches ORDER BY batch")]
    assert jobs == [3, 2, 3]


def test_the_gate_approves_the_followers_run_by_the_standing_approval_and_nothing_else(db_url, raw):
    followed = campaign(raw, db_url)
    names = write(raw, "r1.raw", "r2.raw", "r3.raw")
    [request] = follow(db_url, [followed], NOW).requests
    made = service.record_request(db_url, dag_id="production_request", run_id=request["trigger_run_id"],
                                  conf=request["conf"])
    forged = service.record_request(db_url, dag_id="production_request", run_id="someone_else",
                                    conf=request["conf"])
    with connect(db_url) as conn:
        standing = standing_approval(conn, records.require_request(conn, made["request_id"]))
        assert standing is not None and (standing.campaign, standing.batch, standing.approved_by) == ("nova_keepup", 1, "anna")
        assert standing_approval(conn, records.require_request(conn, forged["request_id"])) is None
        conn.execute("UPDATE requests SET form = jsonb_set(form, '{priority}', '99') WHERE id = %(i)s",
                     {"i": made["request_id"]})
        assert standing_approval(conn, records.require_request(conn, made["request_id"])) is None

    # the batch's request reads exactly its claimed files, whatever the directory holds by then
    write(raw, "r4.raw")
    assert [f.path for f in resolve_dataset("keepup:nova_keepup:1")] == names
    with connect(db_url) as conn:
        row = records.require_request(conn, made["request_id"])
        inputs = stage_input_files(conn, row, load_templates()["keepup"], "reco")
    assert inputs == {name: 3 for name in names}


def test_the_request_gate_records_the_standing_approval_without_asking(db_url, raw, monkeypatch):
    from prodops.operators.approval import RequestApprovalOperator

    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    followed = campaign(raw, db_url)
    write(raw, "r1.raw")
    [request] = follow(db_url, [followed], NOW).requests
    made = service.record_request(db_url, dag_id="production_request", run_id=request["trigger_run_id"],
                                  conf=request["conf"])
    other = service.record_request(db_url, dag_id="production_request", run_id="by_hand", conf=request["conf"])
    gate = RequestApprovalOperator(task_id="await_approval", request_id=made["request_id"], subject="s")
    assert gate.approved_standing() and gate.approved_standing()  # a retried gate finds it recorded
    assert not RequestApprovalOperator(task_id="await_approval", request_id=other["request_id"], subject="s").approved_standing()
    with connect(db_url) as conn:
        row = records.require_request(conn, made["request_id"])
        assert decision_of(conn, followed) is not None
    assert row["state"] == RequestState.APPROVED and row["decided_by"] == "anna" and row["priority"] == 40
    assert row["decision_note"].startswith("standing approval of keepup campaign nova_keepup (batch 1), given by anna")
