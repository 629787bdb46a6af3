"""The HTCondor backend against a fake schedd with htcondor2.Schedd's exact signatures.

Everything that needs no daemon is the real thing: Submit rendering, the job ads the fake
queues (classad2), the event log (written by EventLogWriter, read by htcondor2.JobEventLog).
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from pathlib import Path

import classad2
import htcondor2
import pytest

from prodops.batch.base import JobAction, SubmissionSpec
from prodops.batch.classads import job_projection, map_ad
from prodops.batch.htcondor import HTCondorBackend
from prodops.batch.registry import get_backend
from prodops.exceptions import BackendUnavailable, SubmitFailed
from tests.fakes.schedd import FakeSchedd

N_JOBS = 5


@pytest.fixture
def schedd() -> FakeSchedd:
    fake = FakeSchedd(first_cluster=5001)
    yield fake
    fake.close()


@pytest.fixture
def backend(schedd: FakeSchedd) -> HTCondorBackend:
    return HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)


@pytest.fixture
def spec(tmp_path: Path) -> SubmissionSpec:
    return SubmissionSpec(
        request_id=7, stage="reco", attempt=1, executable="/bin/true", workdir=str(tmp_path / "attempt-1"),
        items=[f"--job {i} --records 100" for i in range(N_JOBS)], request_memory_mb=2000, batch_name="nova-7-reco",
    )


def calls(schedd: FakeSchedd, method: str) -> list[dict]:
    return [args for name, args in schedd.calls if name == method]


@pytest.mark.parametrize("method", ["submit", "query", "history", "act"])
def test_fake_schedd_has_the_bindings_signatures(method):
    assert inspect.signature(getattr(FakeSchedd, method)) == inspect.signature(getattr(htcondor2.Schedd, method))


def test_registry_knows_the_htcondor_backend():
    assert isinstance(get_backend("htcondor"), HTCondorBackend)


def test_submit_queues_one_tagged_cluster_with_one_job_per_item(backend, schedd, spec):
    submission = backend.submit(spec)
    assert (submission.backend, submission.cluster_id, submission.num_jobs) == ("htcondor", 5001, N_JOBS)
    assert submission.key == "7/reco/1" and submission.event_log == str(Path(spec.workdir) / "jobs.log")
    assert len(calls(schedd, "submit")) == 1
    ads = [schedd.ad(5001, proc) for proc in range(N_JOBS)]
    assert [ad["Args"] for ad in ads] == list(spec.items)
    for ad in ads:
        assert (ad.eval("ProdopsRequest"), ad.eval("ProdopsStage"), ad.eval("ProdopsAttempt")) == (7, "reco", 1)
        assert ad.eval("ProdopsSubmission") == "7/reco/1" and ad["JobBatchName"] == "nova-7-reco"
        assert ad["RequestMemory"] == 2000


def test_submit_is_idempotent_on_the_submission_key(backend, schedd, spec):
    first = backend.submit(spec)
    again = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5).submit(spec)  # e.g. a retried task
    assert again == first and len(calls(schedd, "submit")) == 1
    query = calls(schedd, "query")[-1]
    assert query["constraint"] == 'ProdopsSubmission == "7/reco/1"'


def test_submit_finds_a_submission_whose_jobs_already_left_the_queue(backend, schedd, spec):
    first = backend.submit(spec)
    for proc in range(N_JOBS):
        schedd.execute(5001, proc)
        schedd.terminate(5001, proc, exit_code=0)
    assert not schedd.queue
    assert backend.submit(spec).cluster_id == first.cluster_id and len(calls(schedd, "submit")) == 1
    assert calls(schedd, "history")[-1]["match"] == 1


def test_refused_submission_is_a_submit_failure(backend, schedd, spec, monkeypatch):
    def refuse(*args, **kwargs):
        raise htcondor2.HTCondorException("Submit failed: Invalid requirements expression")

    monkeypatch.setattr(schedd, "submit", refuse)
    with pytest.raises(SubmitFailed, match="refused submission 7/reco/1: Submit failed"):
        backend.submit(spec)


def test_poll_is_one_projected_query_while_every_job_is_queued(backend, schedd, spec):
    submission = backend.submit(spec)
    schedd.calls.clear()
    polled = backend.poll(submission, 0)
    assert [name for name, _ in schedd.calls] == ["query"]
    query = schedd.calls[0][1]
    assert query["constraint"] == 'ClusterId == 5001 && ProdopsSubmission == "7/reco/1"'
    assert query["projection"] == job_projection()
    assert len(polled.ads) == N_JOBS and polled.history_cursor is None
    assert [e.event_type for e in polled.events] == ["SUBMIT"] * N_JOBS
    assert all(set(ad.keys()) <= set(job_projection()) for ad in polled.ads)


def test_finished_jobs_are_read_from_history_once(backend, schedd, spec):
    submission = backend.submit(spec)
    first = backend.poll(submission, 0)
    schedd.execute(5001, 0, site="FNAL")
    schedd.terminate(5001, 0, exit_code=0)
    schedd.execute(5001, 1)
    schedd.terminate(5001, 1, signal=9)

    second = backend.poll(submission, first.offset, first.history_cursor)
    assert calls(schedd, "history")[-1]["since"] is None
    assert second.history_cursor == "5001.1"  # the newest history record
    by_proc = {int(ad["ProcId"]): ad for ad in second.ads}
    assert by_proc[0]["JobStatus"] == 4 and by_proc[1]["ExitSignal"] == 9 and len(second.ads) == N_JOBS
    assert [e.event_type for e in second.events] == ["EXECUTE", "JOB_TERMINATED"] * 2

    third = backend.poll(submission, second.offset, second.history_cursor)
    assert calls(schedd, "history")[-1]["since"] == "5001.1"
    assert len(third.ads) == N_JOBS - 2 and third.events == [] and third.history_cursor == "5001.1"

    schedd.execute(5001, 2)
    schedd.terminate(5001, 2, exit_code=3)
    restarted = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)  # only the stored cursor survives
    fourth = restarted.poll(submission, third.offset, third.history_cursor)
    finished = [ad for ad in fourth.ads if int(ad["JobStatus"]) == 4]
    assert [int(ad["ProcId"]) for ad in finished] == [2] and fourth.history_cursor == "5001.2"


def test_poll_reads_at_most_max_events_and_resumes_after_them(schedd, spec):
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, max_events=3)
    submission = backend.submit(spec)
    for proc in range(N_JOBS):
        schedd.execute(5001, proc)
    read, offset = [], 0
    for _ in range(4):
        polled = backend.poll(submission, offset)
        assert len(polled.ads) == N_JOBS and len(polled.events) <= 3
        read += [(e.proc_id, e.event_type) for e in polled.events]
        offset = polled.offset
    assert read == [(p, "SUBMIT") for p in range(N_JOBS)] + [(p, "EXECUTE") for p in range(N_JOBS)]
    assert backend.poll(submission, offset).events == []


def test_poll_says_when_the_event_log_has_more_than_max_events(schedd, spec):
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5, max_events=3)
    submission = backend.submit(spec)
    first = backend.poll(submission, 0)
    assert len(first.events) == 3 and first.more_events
    rest = backend.poll(submission, first.offset)
    assert len(rest.events) == N_JOBS - 3 and not rest.more_events


def test_poll_skips_a_garbled_event_as_a_problem_and_reads_the_events_after_it(backend, schedd, spec):
    submission = backend.submit(spec)
    for proc in range(N_JOBS):
        schedd.execute(5001, proc)
    log = Path(submission.event_log)
    text = log.read_text()
    bad = text.index("001 (5001.002.000)")
    log.write_text(text[:bad] + "099" + text[bad + 3:])  # an event number these bindings do not know
    polled = backend.poll(submission, 0)
    kinds = [(e.proc_id, e.event_type) for e in polled.events]
    assert kinds == [(p, "SUBMIT") for p in range(N_JOBS)] + [(p, "EXECUTE") for p in range(N_JOBS) if p != 2]
    (problem,) = polled.problems
    assert (problem.path, problem.offset, problem.cluster_id, problem.proc_id) == (str(log), bad, 5001, 2)
    assert problem.line.startswith("099 (5001.002.000)") and "event number 99" in problem.reason
    assert polled.offset == log.stat().st_size and not polled.more_events
    assert backend.poll(submission, polled.offset).problems == []  # recorded once, never a stall


def test_the_projection_fetches_the_configured_site_attributes(schedd, monkeypatch):
    monkeypatch.setenv("PRODOPS_SITE_ATTRIBUTES", "MyPoolSite, GLIDEIN_Site")
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)
    assert tuple(backend.mapping.site_attributes) == ("MyPoolSite", "GLIDEIN_Site")
    assert "MyPoolSite" in backend.projection and "MATCH_EXP_JOB_CMSSite" not in backend.projection


def test_fake_schedd_answers_a_one_job_query_like_a_scan(backend, schedd, spec):
    backend.submit(spec)
    schedd.execute(5001, 3, site="FNAL")
    projection = job_projection()
    one = schedd.query('ClusterId == 5001 && ProcId == 3 && ProdopsSubmission == "7/reco/1"', projection)
    scanned = schedd.query('ProcId == 3 && ClusterId == 5001 && ProdopsSubmission == "7/reco/1"', projection)
    assert [ad.printJson() for ad in one] == [ad.printJson() for ad in scanned] and one[0]["ProcId"] == 3
    assert schedd.query('ClusterId == 5001 && ProcId == 3 && ProdopsSubmission == "other"', projection) == []
    assert len(schedd.query("ClusterId == 5001 && ProcId == 3 || ProcId == 4", projection)) == 2
    assert schedd.query("ClusterId == 5001 && ProcId == 99", projection) == []


def test_act_holds_releases_and_removes_with_the_reason(backend, schedd, spec):
    submission = backend.submit(spec)
    schedd.execute(5001, 1)
    assert backend.act(submission, JobAction.HOLD, "dCache outage: holding until it is back", [1, 2]) == 2
    assert schedd.ad(5001, 1)["HoldReason"] == "dCache outage: holding until it is back"
    assert (schedd.ad(5001, 2)["JobStatus"], schedd.ad(5001, 2)["HoldReasonCode"]) == (5, 1)
    assert backend.act(submission, JobAction.HOLD, "again", [1]) == 0  # already held
    assert backend.act(submission, JobAction.RELEASE, "dCache is back", [1]) == 1
    assert schedd.ad(5001, 1)["ReleaseReason"] == "dCache is back"
    assert backend.act(submission, JobAction.REMOVE, "request cancelled by the operator") == N_JOBS
    assert not schedd.queue
    assert {ad["RemoveReason"] for ad in schedd.history_ads} == {"request cancelled by the operator"}
    assert backend.act(submission, JobAction.REMOVE, "nothing left", []) == 0
    events = [e.event_type for e in backend.poll(submission, 0).events]
    assert events.count("JOB_HELD") == 2 and events.count("JOB_RELEASED") == 1 and events.count("JOB_ABORTED") == N_JOBS


def test_unreachable_schedd_is_backend_unavailable(backend, schedd, spec):
    submission = backend.submit(spec)
    schedd.unreachable = True
    with pytest.raises(BackendUnavailable, match="could not be reached for 'query'.*Failed to fetch ads"):
        backend.poll(submission, 0)
    with pytest.raises(BackendUnavailable, match="'hold'"):
        backend.act(submission, JobAction.HOLD, "x")
    with pytest.raises(BackendUnavailable, match="'query'"):
        backend.submit(spec)  # the idempotency query fails first: nothing is submitted
    assert len(calls(schedd, "submit")) == 1


def test_a_hanging_schedd_is_abandoned_after_the_deadline(schedd, spec):
    backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=0.3)
    submission = backend.submit(spec)
    schedd.delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"did not answer 'query' within 0.3 s.*nothing was marked failed"):
        backend.poll(submission, 0)
    assert time.monotonic() - started < 1.5


def test_real_bindings_against_a_closed_port_give_backend_unavailable(spec, tmp_path):
    from prodops.hooks.htcondor import PoolSettings

    settings = PoolSettings(schedd_address="<127.0.0.1:9?addrs=127.0.0.1-9>", timeout_s=5, conn_id="test_closed")
    backend = HTCondorBackend(settings=settings)
    submission = backend._handle(spec, 1, N_JOBS)
    with pytest.raises(BackendUnavailable, match="schedd at <127.0.0.1:9"):
        backend.poll(submission, 0)


def test_poll_refuses_a_submission_of_another_backend(backend, spec):
    submission = backend.submit(spec)
    with pytest.raises(ValueError, match="belongs to backend 'local'"):
        backend.poll(type(submission)(**{**submission.to_dict(), "backend": "local"}), 0)


def test_polled_ads_map_like_the_full_ads(backend, schedd, spec):
    """The projection starves no column: mapping a projected ad equals mapping the full one."""
    submission = backend.submit(spec)
    schedd.execute(5001, 0, site="FNAL", cpu_model="AMD EPYC 7543 32-Core Processor", cpu_vendor="AuthenticAMD")
    schedd.update(5001, 0, ResidentSetSize=1843200, MemoryUsage=classad2.ExprTree("((ResidentSetSize + 1023) / 1024)"),
                  TransferInputStats=classad2.parseOne("[ CedarFilesCountLastRun = 2; CedarSizeBytesLastRun = 10 ]"))
    full = map_ad(schedd.ad(5001, 0))
    polled = next(ad for ad in backend.poll(submission, 0).ads if int(ad["ProcId"]) == 0)
    projected = map_ad(polled)
    for row in (full, projected):
        row.pop("ad"), row.pop("ad_hash")
    assert projected == full
    assert (projected["site"], projected["memory_usage_mb"], projected["files_in_count"]) == ("FNAL", 1800, 2)


def test_a_retry_queues_its_jobs_with_their_index_and_own_memory(backend, schedd, spec):
    retry = dataclasses.replace(spec, attempt=2, items=[spec.items[1], spec.items[2]], job_indexes=[1, 2],
                                job_resources=[{"request_memory_mb": 3000}, {}])
    submission = backend.submit(retry)
    assert submission.num_jobs == 2
    ads = [schedd.ad(submission.cluster_id, proc) for proc in range(2)]
    assert [ad["Args"] for ad in ads] == [spec.items[1], spec.items[2]]
    assert [ad.eval("ProdopsJobIndex") for ad in ads] == [1, 2]
    assert [ad["RequestMemory"] for ad in ads] == [3000, 2000]
