"""Tracking an HTCondor submission (fake schedd, real PostgreSQL): once per job, across restarts."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import classad2
import pytest

from prodops.batch import registry
from prodops.batch.base import JobAction, SubmissionSpec
from prodops.batch.classads import map_ad
from prodops.batch.eventlog import read_events
from prodops.batch.htcondor import HTCondorBackend
from prodops.constants import RequestState
from prodops.request import service
from prodops.request.decision import record_decision
from prodops.stage import submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.tracking import LOST_AFTER, SubmissionTracker
from prodops.triggers.stage import StageTrigger
from tests.fakes.schedd import FakeSchedd

from .test_request_flow import FORM

pytestmark = pytest.mark.integration

N_JOBS = 6
CLUSTER = 5001
POOL_ADS = Path(__file__).parents[1] / "fixtures" / "ads" / "history_pool.ads"


@pytest.fixture
def schedd():
    fake = FakeSchedd(first_cluster=CLUSTER)
    yield fake
    fake.close()


@pytest.fixture
def counted(schedd, monkeypatch):
    """How many times each job's ad came back from Schedd.history."""
    seen: Counter[int] = Counter()
    original = schedd.history

    def history(constraint=None, projection=[], match=-1, since=None):  # noqa: B006 - the bindings' default
        ads = original(constraint, projection, match, since)
        seen.update(int(ad["ProcId"]) for ad in ads)
        return ads

    monkeypatch.setattr(schedd, "history", history)
    return seen


def new_backend(schedd: FakeSchedd) -> HTCondorBackend:
    return HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)


@pytest.fixture
def submission_id(db_url, schedd, tmp_path):
    made = service.record_request(db_url, dag_id="production_request", run_id="htc", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=50)
    spec = SubmissionSpec(
        request_id=made["request_id"], stage="run", attempt=1, executable="/bin/true",
        items=[f"--job {i}" for i in range(N_JOBS)], workdir=str(tmp_path / "attempt-1"),
    )
    return submit_stage(db_url=db_url, backend=new_backend(schedd), spec=spec)


def rows(db_url):
    with connect(db_url) as conn:
        return {r["proc_id"]: r for r in conn.execute("SELECT * FROM job_attempts ORDER BY proc_id")}


def submission_row(db_url, submission_id):
    with connect(db_url) as conn:
        return records.get_submission(conn, submission_id)


def events_in_db(db_url):
    with connect(db_url) as conn:
        return [(r["proc_id"], r["event_type"]) for r in
                conn.execute("SELECT proc_id, event_type FROM job_events ORDER BY log_offset")]


def events_in_log(db_url, submission_id):
    records_, _ = read_events(submission_row(db_url, submission_id)["event_log"])
    return [(r.proc_id, r.event_type) for r in records_]


def test_tracking_records_every_job_once_and_resumes_after_a_restart(db_url, schedd, counted, submission_id):
    tracker = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id)
    first = tracker.cycle()
    assert (first.polled, first.written, first.events, first.done) == (N_JOBS, N_JOBS, N_JOBS, False)

    schedd.execute(CLUSTER, 0, site="FNAL")
    schedd.terminate(CLUSTER, 0, exit_code=0)
    schedd.execute(CLUSTER, 1, site="US_Wisconsin")
    schedd.terminate(CLUSTER, 1, signal=9)
    schedd.execute(CLUSTER, 2)
    schedd.hold(CLUSTER, 2, reason="Job has gone over memory limit of 2000 megabytes.", code=34, subcode=102)
    schedd.execute(CLUSTER, 3)
    second = tracker.cycle()
    assert (second.written, second.done) == (4, False)  # 0 and 1 from history, 2 held, 3 running
    assert second.states == {"completed": 2, "held": 1, "running": 1, "idle": 2}
    assert submission_row(db_url, submission_id)["history_cursor"] == f"{CLUSTER}.1"
    assert tracker.cycle().written == 0  # nothing changed: nothing mapped, nothing written

    restarted = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id)
    again = restarted.cycle()
    assert (again.written, again.events) == (0, 0)
    assert schedd.calls[-1][0] == "history" and schedd.calls[-1][1]["since"] == f"{CLUSTER}.1"

    schedd.terminate(CLUSTER, 3, exit_code=3)
    schedd.execute(CLUSTER, 4)
    schedd.terminate(CLUSTER, 4, exit_code=0)
    assert new_backend(schedd).act(records.submission_handle(submission_row(db_url, submission_id)),
                                   JobAction.REMOVE, "operator: not needed", [5]) == 1
    assert restarted.cycle().confirm  # every job final as the log-driven cycle saw it
    last = restarted.cycle()  # the full query that ends it
    assert last.done and last.states == {"completed": 4, "held": 1, "removed": 1}

    stored = rows(db_url)
    assert sorted(stored) == list(range(N_JOBS))
    assert (stored[0]["exit_code"], stored[0]["site"], stored[0]["worker_ip"]) == (0, "FNAL", "10.1.0.1")
    assert (stored[1]["exit_by_signal"], stored[1]["exit_signal"]) == (True, 9)
    assert (stored[2]["state"], stored[2]["hold_reason_code"], stored[2]["hold_reason_subcode"]) == ("held", 34, 102)
    assert (stored[3]["exit_code"], stored[5]["remove_reason"]) == (3, "operator: not needed")
    assert stored[0]["ad"]["ProdopsSubmission"] == stored[0]["ad"]["ProdopsSubmission"] != ""
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)  # none lost, none doubled
    assert set(counted.values()) == {1}, f"finished jobs fetched more than once: {dict(counted)}"
    assert submission_row(db_url, submission_id)["state"] == "done"


def test_a_crash_before_commit_loses_and_doubles_nothing(db_url, schedd, counted, submission_id, monkeypatch):
    tracker = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id)
    tracker.cycle()
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=proc % 2)

    def crash(*args, **kwargs):
        raise RuntimeError("triggerer killed between poll and commit")

    with monkeypatch.context() as patched:
        patched.setattr(records, "save_event_offset", crash)
        with pytest.raises(RuntimeError, match="killed"):
            SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id).cycle()
    assert {r["state"] for r in rows(db_url).values()} == {"idle"}  # the whole cycle rolled back
    assert submission_row(db_url, submission_id)["history_cursor"] is None

    result = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id).cycle()
    assert result.done and result.written == N_JOBS
    assert [r["exit_code"] for r in rows(db_url).values()] == [p % 2 for p in range(N_JOBS)]
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)


def test_bad_ads_are_counted_logged_and_skipped_even_after_a_restart(db_url, schedd, submission_id, caplog):
    tracker = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id)
    tracker.cycle()
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=0)
    schedd.history_ads[1]["ExitCode"] = "zero"  # a producer wrote garbage into one finished ad
    result = tracker.cycle()
    assert (result.bad_ads, result.written, result.confirm) == (1, N_JOBS - 1, True)
    assert tracker.cycle().done  # the full query that ends it
    assert f"Skipped the ad of job {CLUSTER}.1" in caplog.text and "ExitCode = 'zero'" in caplog.text
    assert rows(db_url)[1]["state"] == "idle"  # the last good ad stays; the bad one is not guessed into a row

    with connect(db_url) as conn:  # rerun the end: a restarted tracker no longer remembers the bad ad
        conn.execute("UPDATE submissions SET state = 'running' WHERE id = %s", (submission_id,))
        conn.commit()
    caplog.clear()
    again = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id).cycle()
    assert again.done and again.bad_ads == 1  # found again by reading the whole history
    assert "reading the whole history" in caplog.text


def test_a_job_in_neither_queue_nor_history_is_lost_not_failed(db_url, schedd, submission_id, caplog):
    tracker = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id)
    tracker.cycle()
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=0)
    del schedd.history_ads[2]  # rotated away before anyone read it
    results = [tracker.cycle() for _ in range(LOST_AFTER)]
    assert [r.done for r in results] == [False] * (LOST_AFTER - 1) + [True]
    assert results[-1].lost == 1 and "neither in the queue nor in the schedd's history" in caplog.text
    assert rows(db_url)[2]["state"] == "idle"  # never marked failed


def test_realistic_history_ads_are_recorded(db_url, schedd, submission_id):
    key = records.submission_handle(submission_row(db_url, submission_id)).key
    schedd.queue.clear()
    for ad in classad2.parseAds(POOL_ADS.read_text(), classad2.ParserType.Old):
        ad["ProdopsSubmission"] = key
        schedd.history_ads.append(ad)
    result = SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id).cycle()
    assert (result.written, result.bad_ads, result.done) == (N_JOBS, 0, True)
    stored = rows(db_url)
    assert (stored[0]["files_in_count"], stored[0]["files_in_bytes"], stored[0]["files_out_count"]) == (4, 681574400, 2)
    # started 09:00 UTC at FNAL: 03:00 in Batavia, by the site registry (include/services.yaml sites:)
    assert (stored[0]["cpu_model"], stored[0]["time_window"]) == ("AMD EPYC 7543 32-Core Processor", "night")
    assert (stored[2]["hold_reason_code"], stored[2]["remove_reason"]) == (13, "via condor_rm (by user prodops)")
    assert stored[5]["site"] is None and stored[5]["ad"]["RemoveReason"].startswith("via condor_rm")
    assert stored[1]["ad"]["TransferInputStats"] == {"CedarFilesCountTotal": 6, "CedarSizeBytesTotal": 314572800}


def test_bounded_cycles_leave_the_rest_for_later_and_lose_or_double_nothing(db_url, schedd, counted,
                                                                            submission_id):
    def bounded_tracker():
        backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, max_events=4)
        return SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id, max_rows=2)

    tracker = bounded_tracker()
    first = tracker.cycle()
    assert (first.written, first.deferred, first.events, first.events_behind) == (2, N_JOBS - 2, 4, True)
    assert sorted(rows(db_url)) == [0, 1] and not first.done

    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
    schedd.terminate(CLUSTER, 0, exit_code=0)
    schedd.terminate(CLUSTER, 5, exit_code=0)
    # Catching up from memory: the ads left for later are written in turn, the schedd asked only
    # about the jobs the next events name (their submits and starts: the log is behind).
    second = tracker.cycle()
    assert (second.full, second.schedd_calls, second.written, second.deferred) == (False, 1, 2, 3)
    assert {p: r["state"] for p, r in rows(db_url).items()} == dict.fromkeys(range(4), "idle")

    restarted = bounded_tracker()  # a triggerer restart in the middle of catching up: a full query
    third = restarted.cycle()  # finished jobs come from the history once: written past the bound
    assert (third.full, third.written, third.deferred) == (True, 2, 4)
    assert {p: r["state"] for p, r in rows(db_url).items() if p in (0, 5)} == {0: "completed", 5: "completed"}
    assert submission_row(db_url, submission_id)["history_cursor"] == f"{CLUSTER}.5"
    # The end events of 0 and 5, read late: logged before the restart's full query, whose ads show
    # them, so they name no job to ask about (nor a history read of what is stored already).
    fourth = restarted.cycle()
    assert (fourth.full, fourth.schedd_calls, fourth.written, fourth.deferred) == (False, 0, 2, 2)
    assert not fourth.events_behind and not fourth.done
    caught_up = restarted.cycle()  # the last ads left for later: no new event, no schedd call
    assert (caught_up.schedd_calls, caught_up.written, caught_up.deferred, caught_up.done) == (0, 2, 0, False)
    assert {r["state"] for p, r in rows(db_url).items() if p in (1, 2, 3, 4)} == {"running"}

    for proc in range(1, 5):
        schedd.terminate(CLUSTER, proc, exit_code=1)
    fifth = restarted.cycle()
    assert (fifth.written, fifth.events, fifth.events_behind, fifth.done) == (4, 4, True, False)  # log not read to its end
    assert restarted.cycle().confirm
    last = restarted.cycle()
    assert last.done and last.states == {"completed": N_JOBS}
    assert [r["exit_code"] for r in rows(db_url).values()] == [0, 1, 1, 1, 1, 0]
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)  # none lost, none doubled
    assert set(counted.values()) == {1}, f"finished jobs fetched more than once: {dict(counted)}"


def test_a_bounded_cycle_takes_changed_jobs_in_turn(db_url, schedd, submission_id):
    # The ads change without events (schedd.update logs none): only full polls see them, so every poll is one.
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, reconcile_interval=0)
    tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id, max_rows=1)
    assert [tracker.cycle().written for _ in range(N_JOBS)] == [1] * N_JOBS
    for cycle in range(4):  # jobs 0 and 3 report new usage every cycle: neither waits more than one cycle
        for proc in (0, 3):
            schedd.update(CLUSTER, proc, RemoteUserCpu=100.0 * (cycle + 1))
        assert (tracker.cycle().written, tracker.cycle().written) == (1, 1)
        assert {rows(db_url)[proc]["remote_user_cpu"] for proc in (0, 3)} == {100.0 * (cycle + 1)}


def test_direct_copy_and_merge_store_the_same_rows_and_events(db_url, schedd, submission_id, tmp_path):
    """Jobs and events new to the submission skip the stage table; what is stored must not differ."""
    history = list(classad2.parseAds(POOL_ADS.read_text(), classad2.ParserType.Old))
    for proc, ad in enumerate(history, start=N_JOBS):
        ad["ProcId"] = proc
    for proc in range(3):
        schedd.execute(CLUSTER, proc, site="FNAL")
    schedd.hold(CLUSTER, 1, reason="Transfer input files failure", code=13, subcode=2)
    ads = [schedd.ad(CLUSTER, proc) for proc in range(N_JOBS)] + history
    events = read_events(submission_row(db_url, submission_id)["event_log"])[0]
    other = SubmissionSpec(request_id=submission_row(db_url, submission_id)["request_id"], stage="run", attempt=2,
                           executable="/bin/true", items=["--job 0"], workdir=str(tmp_path / "attempt-2"))
    with connect(db_url) as conn:
        merged_id = records.claim_submission(conn, other, "htcondor")["id"]
        copied = records.write_job_attempts(conn, submission_id, (map_ad(ad) for ad in ads), existing=())
        merged = records.write_job_attempts(conn, merged_id, [map_ad(ad) for ad in ads])
        records.write_job_events(conn, submission_id, events)
        records.write_job_events(conn, merged_id, events[:1])
        records.write_job_events(conn, merged_id, events)  # the first is stored already: the merge path
        conn.commit()
        stored = {
            sid: (conn.execute("SELECT * FROM job_attempts WHERE submission_id = %s ORDER BY proc_id",
                               (sid,)).fetchall(),
                  conn.execute("SELECT * FROM job_events WHERE submission_id = %s ORDER BY log_offset",
                               (sid,)).fetchall())
            for sid in (submission_id, merged_id)
        }

    def comparable(records_):
        return [{k: v for k, v in r.items() if k not in ("submission_id", "updated_at")} for r in records_]

    assert copied == merged == len(ads) and len(stored[submission_id][0]) == len(ads)
    assert comparable(stored[submission_id][0]) == comparable(stored[merged_id][0])
    assert comparable(stored[submission_id][1]) == comparable(stored[merged_id][1])
    assert len(stored[merged_id][1]) == len(events)


# ---- the deferrable trigger with the HTCondor backend -----------------------------------------


@pytest.fixture
def htcondor_registered(schedd, db_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    monkeypatch.setitem(registry._FACTORIES, "htcondor", lambda: new_backend(schedd))


def stage_trigger(db_url, submission_id: int, poll_interval: float) -> StageTrigger:
    """The trigger track_stage defers to, for the stage of ``submission_id``."""
    row = submission_row(db_url, submission_id)
    return StageTrigger(request_id=row["request_id"], stage=row["stage"], backend="htcondor",
                        poll_interval=poll_interval, min_run_s=0)


async def first_event(trigger: StageTrigger, timeout: float):
    gen = trigger.run()
    try:
        return await asyncio.wait_for(gen.__anext__(), timeout)
    finally:
        await gen.aclose()


def test_trigger_survives_a_restart_mid_run(db_url, schedd, counted, submission_id, htcondor_registered):
    for proc in range(3):
        schedd.execute(CLUSTER, proc)
    schedd.terminate(CLUSTER, 0, exit_code=0)

    async def killed_mid_run():
        trigger = stage_trigger(db_url, submission_id, 0.05)
        with pytest.raises(asyncio.TimeoutError):
            await first_event(trigger, timeout=0.5)

    asyncio.run(killed_mid_run())
    assert rows(db_url)[0]["state"] == "completed" and rows(db_url)[1]["state"] == "running"

    for proc in range(1, N_JOBS):
        if proc >= 3:
            schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=0)
    trigger = stage_trigger(db_url, submission_id, 0.01)
    event = asyncio.run(first_event(trigger, timeout=20))
    assert event.payload["status"] == "complete"
    assert {r["state"] for r in rows(db_url).values()} == {"completed"} and len(rows(db_url)) == N_JOBS
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)
    assert set(counted.values()) == {1}


def test_unreachable_schedd_is_retried_and_marks_nothing_failed(db_url, schedd, submission_id, htcondor_registered,
                                                                capsys):
    SubmissionTracker(backend=new_backend(schedd), db_url=db_url, submission_id=submission_id).cycle()
    schedd.unreachable = True

    async def waits():
        trigger = stage_trigger(db_url, submission_id, 0.05)
        with pytest.raises(asyncio.TimeoutError):
            await first_event(trigger, timeout=0.6)

    asyncio.run(waits())
    assert "Batch system unreachable, will retry" in capsys.readouterr().out  # the trigger logs through structlog
    assert {r["state"] for r in rows(db_url).values()} == {"idle"}

    schedd.unreachable = False
    for proc in range(N_JOBS):
        schedd.execute(CLUSTER, proc)
        schedd.terminate(CLUSTER, proc, exit_code=0)
    trigger = stage_trigger(db_url, submission_id, 0.01)
    assert asyncio.run(first_event(trigger, timeout=20)).payload["status"] == "complete"


def test_new_rows_that_exist_after_all_are_merged_not_refused(db_url, schedd, submission_id):
    """Another tracker wrote some rows this one thinks new: the COPY fails in a savepoint, the merge wins."""
    ads = [schedd.ad(CLUSTER, proc) for proc in range(N_JOBS)]
    with connect(db_url) as conn:
        records.write_job_attempts(conn, submission_id, (map_ad(ad) for ad in ads[:2]), existing=())
        conn.commit()
    schedd.execute(CLUSTER, 0)
    with connect(db_url) as conn:
        written = records.write_job_attempts(conn, submission_id, (map_ad(schedd.ad(CLUSTER, p)) for p in
                                                                   range(N_JOBS)), existing=())
        records.write_job_events(conn, submission_id, read_events(submission_row(db_url, submission_id)["event_log"])[0])
        records.write_job_events(conn, submission_id, read_events(submission_row(db_url, submission_id)["event_log"])[0])
        conn.commit()
    assert written == N_JOBS and len(rows(db_url)) == N_JOBS and rows(db_url)[0]["state"] == "running"
    assert events_in_db(db_url) == events_in_log(db_url, submission_id)  # written twice, stored once
