"""LocalPoolBackend end to end on temporary directories: real processes, real bindings, no mocks."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import classad2
import htcondor2
import psutil
import pytest

from prodops.batch.base import Backend, Feed, JobAction, Submission, SubmissionSpec
from prodops.batch.eventlog import EventLogWriter, log_end
from prodops.batch.jobads import read_ads, write_ads
from prodops.batch.classads import map_ad
from prodops.batch.local import LocalPoolBackend
from prodops.batch.workdir import Workdir
from prodops.exceptions import BackendUnavailable, SubmitFailed

OK, FAIL_EXIT, FAIL_EXIT_1, KILLED, OVER_MEMORY = "ok", "exit3", "exit1", "signal9", "memory"
PLAN = [OK, FAIL_EXIT, OK, KILLED, OK, OVER_MEMORY, FAIL_EXIT_1, OK, OK, OK]
FAULTS = {OK: "", FAIL_EXIT: " --exit 3", FAIL_EXIT_1: " --exit 1", KILLED: " --signal 9", OVER_MEMORY: " --memory 400"}
MEMORY_MB = 128


def spec_for(workdir: Path, demo_job: Path, plan: list[str] = PLAN, *, sleep: float = 0.3, **extra) -> SubmissionSpec:
    items = [f"--job {i} --records 20 --sleep {sleep}{FAULTS[kind]}" for i, kind in enumerate(plan)]
    fields = {"request_id": 101, "stage": "run", "attempt": 1, "request_memory_mb": MEMORY_MB,
              "request_disk_mb": 100, "max_wall_time_s": 120, **extra}
    return SubmissionSpec(executable=str(demo_job), items=items, workdir=str(workdir), **fields)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, demo_job, wait_final, stop_pool):
    """The ten-job submission, run to the end once for the tests that read its outcome."""
    home = tmp_path_factory.mktemp("mixed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRODOPS_HOME", str(home))
        patch.setenv("PRODOPS_LOCAL_SITE", "T3_Test_Local")
        patch.setenv("PRODOPS_LOCAL_CPU_VENDOR", "TestVendor")  # the model comes from the machine
        backend = LocalPoolBackend(slots=4)
        spec = spec_for(home / "requests" / "101" / "run", demo_job)
        submission = backend.submit(spec)
        try:
            result, events = wait_final(backend, submission)
            yield backend, spec, submission, result, events
        finally:
            stop_pool(home)


def test_backend_satisfies_the_protocol():
    assert isinstance(LocalPoolBackend(), Backend)
    assert LocalPoolBackend.name == "local"


def test_mixed_submission_ends_with_htcondor_facts(mixed):
    _, spec, submission, result, _ = mixed
    assert submission.backend == "local" and submission.num_jobs == len(PLAN)
    assert submission.event_log == os.path.join(spec.workdir, "jobs.log")
    ads = {int(ad["ProcId"]): ad for ad in result.ads}
    assert sorted(ads) == list(range(len(PLAN)))
    for proc, kind in enumerate(PLAN):
        ad = ads[proc]
        assert ad["ClusterId"] == submission.cluster_id
        assert ad["ProdopsSubmission"] == spec.key and ad["ProdopsStage"] == "run"
        assert ad["ProdopsRequest"] == 101 and ad["ProdopsAttempt"] == 1
        assert ad["NumJobStarts"] == 1 and ad["LastRemoteHost"].startswith("slot1_")
        assert "RemoteHost" not in ad
        assert ad["MachineAttrGLIDEIN_Site0"] == "T3_Test_Local" and ad["MachineAttrCPUModel0"]
        assert ad["QDate"] <= ad["JobStartDate"] <= ad["EnteredCurrentStatus"]
        assert ad["RemoteWallClockTime"] > 0 and ad["RemoteUserCpu"] >= 0
        assert ad["MemoryUsage"] >= 1 and ad["ResidentSetSize"] >= 1024
        assert ad["RequestMemory"] == MEMORY_MB
        if kind == OVER_MEMORY:
            assert ad["JobStatus"] == 5
            assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (34, 102)
            assert re.fullmatch(
                rf"Error from slot1_\d@.+: Job has gone over memory limit of {MEMORY_MB} megabytes\. "
                r"Peak usage: \d+ megabytes\.",
                ad["HoldReason"],
            )
            assert ad["MemoryUsage"] > MEMORY_MB and ad["NumHolds"] == 1
            assert "ExitCode" not in ad and "CompletionDate" not in ad
        elif kind == KILLED:
            assert ad["JobStatus"] == 4
            assert ad["ExitBySignal"] is True and ad["ExitSignal"] == 9
            assert "ExitCode" not in ad
        else:
            assert ad["JobStatus"] == 4
            assert ad["ExitBySignal"] is False
            assert ad["ExitCode"] == {OK: 0, FAIL_EXIT: 3, FAIL_EXIT_1: 1}[kind]
            assert ad["CompletionDate"] >= ad["JobStartDate"]


PARITY_COLUMNS = (
    "q_date", "job_start_date", "job_current_start_date", "completion_date", "entered_current_status",
    "exit_code", "exit_by_signal", "last_remote_host", "worker_ip", "site", "cpu_model", "cpu_vendor",
    "remote_wall_clock_time", "remote_user_cpu", "remote_sys_cpu", "memory_usage_mb", "resident_set_size_kb",
    "disk_usage_kb", "request_memory_mb", "request_disk_kb", "num_job_starts", "num_shadow_starts",
    "transfer_input_size_mb", "bytes_recvd", "bytes_sent", "files_in_count", "files_in_bytes", "files_out_count",
    "files_out_bytes", "time_window", "num_holds",
)


def test_local_pool_ads_fill_the_record_a_pool_fills(mixed):
    """Parity: a job that ran on the local pool has every fact a pool's completed job has."""
    _, _, _, result, _ = mixed
    rows = {row["proc_id"]: row for row in (map_ad(ad) for ad in result.ads)}
    for proc, kind in enumerate(PLAN):
        if kind not in (OK, FAIL_EXIT, FAIL_EXIT_1):
            continue
        row = rows[proc]
        assert [c for c in PARITY_COLUMNS if row[c] is None] == [], f"job {proc}"
        assert (row["site"], row["cpu_vendor"], row["worker_ip"]) == ("T3_Test_Local", "TestVendor", "127.0.0.1")
        assert (row["files_in_count"], row["files_in_bytes"], row["bytes_recvd"]) == (0, 0, 0.0)
        assert row["files_out_count"] == 2 and row["files_out_bytes"] == row["bytes_sent"] > 0  # stdout + stderr
    held = rows[PLAN.index(OVER_MEMORY)]
    assert (held["hold_reason_code"], held["num_holds"], held["site"]) == (34, 1, "T3_Test_Local")


def test_mixed_submission_events_tell_the_same_story(mixed):
    _, _, submission, _, events = mixed
    assert all(e.cluster_id == submission.cluster_id for e in events)
    by_proc: dict[int, list] = {}
    for event in events:
        if event.event_type != "IMAGE_SIZE":
            by_proc.setdefault(event.proc_id, []).append(event)
    for proc, kind in enumerate(PLAN):
        kinds = [e.event_type for e in by_proc[proc]]
        last = by_proc[proc][-1].data
        if kind == OVER_MEMORY:
            assert kinds == ["SUBMIT", "EXECUTE", "JOB_HELD"]
            assert (last["HoldReasonCode"], last["HoldReasonSubCode"]) == (34, 102)
        else:
            assert kinds == ["SUBMIT", "EXECUTE", "JOB_TERMINATED"]
            if kind == KILLED:
                assert last["TerminatedNormally"] is False and last["TerminatedBySignal"] == 9
            else:
                assert last["ReturnValue"] == {OK: 0, FAIL_EXIT: 3, FAIL_EXIT_1: 1}[kind]
                assert last["RequestMemory"] == MEMORY_MB
    offsets = [e.log_offset for e in events]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)


def test_polling_from_zero_again_reads_the_same_events(mixed):
    backend, _, submission, result, events = mixed
    again = backend.poll(submission, 0)
    assert [(e.proc_id, e.event_type, e.log_offset) for e in again.events] == [
        (e.proc_id, e.event_type, e.log_offset) for e in events
    ]
    assert again.offset == result.offset
    assert backend.poll(submission, result.offset).events == []


def test_event_log_and_ad_files_are_htcondor_formats(mixed):
    _, spec, *_ = mixed
    workdir = Path(spec.workdir)
    parsed = list(htcondor2.JobEventLog(str(workdir / "jobs.log")).events(stop_after=0))
    assert Counter(e.type.name for e in parsed)["SUBMIT"] == len(PLAN)
    history = list(classad2.parseAds((workdir / "history.ads").read_text(), classad2.ParserType.Old))
    queue = list(classad2.parseAds((workdir / "queue.ads").read_text(), classad2.ParserType.Old))
    assert [ad["ProcId"] for ad in queue] == [PLAN.index(OVER_MEMORY)]
    assert len(history) == len(PLAN) - 1
    submit = htcondor2.Submit((workdir / "job.sub").read_text())
    assert len(list(submit.itemdata())) == len(PLAN)
    assert (workdir / "job.0.out").read_text().startswith("demo job 0")
    assert (workdir / "demo_output_0.txt").read_text().count("\n") == 20


def test_history_lists_jobs_that_left_the_queue(mixed):
    backend, _, submission, _, _ = mixed
    history = backend.history(submission)
    assert [ad["ProcId"] for ad in history] == [p for p, kind in enumerate(PLAN) if kind != OVER_MEMORY]
    newest = max(ad["EnteredCurrentStatus"] for ad in history)
    assert {ad["ProcId"] for ad in backend.history(submission, since=newest)} <= {ad["ProcId"] for ad in history}
    assert backend.history(submission, since=newest + 3600) == []


def test_submit_is_idempotent_on_the_key(backend, pool_home, demo_job, wait_final):
    spec = spec_for(pool_home / "w", demo_job, [OK, OK])
    first = backend.submit(spec)
    second = backend.submit(spec)
    assert second == first
    wait_final(backend, first)
    assert backend.submit(spec) == first
    events = backend.poll(first).events
    assert Counter(e.event_type for e in events)["SUBMIT"] == 2
    assert Counter(e.event_type for e in events)["EXECUTE"] == 2
    runner_log = (pool_home / "w" / "runner.log").read_text()
    assert runner_log.count("Started job") == 2


def test_another_key_in_the_same_workdir_is_refused(backend, pool_home, demo_job):
    spec = spec_for(pool_home / "w", demo_job, [OK])
    backend.submit(spec)
    with pytest.raises(SubmitFailed, match=r"already holds submission 101/run/1; give submission 101/run/2"):
        backend.submit(dataclasses.replace(spec, attempt=2))


def test_cluster_ids_are_allocated_from_the_pool(pool_home, demo_job):
    quiet = LocalPoolBackend(autostart=False)
    clusters = [quiet.submit(spec_for(pool_home / f"w{i}", demo_job, [OK], attempt=i + 1)).cluster_id
                for i in range(3)]
    assert clusters == [clusters[0], clusters[0] + 1, clusters[0] + 2]
    assert (pool_home / "pool" / "cluster_id").read_text().strip() == str(clusters[-1])


def test_fresh_submission_is_all_idle_before_any_job_runs(pool_home, demo_job):
    quiet = LocalPoolBackend(autostart=False)
    submission = quiet.submit(spec_for(pool_home / "w", demo_job, [OK, OK, OK]))
    polled = quiet.poll(submission)
    assert [ad["JobStatus"] for ad in polled.ads] == [1, 1, 1]
    assert [e.event_type for e in polled.events] == ["SUBMIT"] * 3
    assert not (pool_home / "w" / "runner.log").exists()


def test_a_garbled_event_is_a_problem_of_the_poll_and_the_events_after_it_are_read(pool_home, demo_job):
    quiet = LocalPoolBackend(autostart=False)
    submission = quiet.submit(spec_for(pool_home / "w", demo_job, [OK, OK, OK]))
    assert submission.submitted is not None  # dates old yearless logs; the tracker passes the stored one
    log = Path(submission.event_log)
    text = log.read_text()
    header = f"000 ({submission.cluster_id:03d}.001.000)"
    log.write_text(text.replace(header, "0x0" + header[3:]))
    polled = quiet.poll(submission)
    assert [(e.proc_id, e.event_type) for e in polled.events] == [(0, "SUBMIT"), (2, "SUBMIT")]
    (problem,) = polled.problems
    assert (problem.path, problem.offset) == (str(log), text.index(header))
    assert problem.line.startswith("0x0 (") and not polled.more_events
    again = quiet.poll(submission, polled.offset)
    assert (again.events, again.problems, again.offset) == ([], [], polled.offset)


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tracking_follows_the_log_and_reads_only_ads_that_show_the_new_events(pool_home, demo_job, monkeypatch):
    """The runner's protocol played by hand: an event first, the ads and their mark later."""
    clock = _Clock()
    quiet = LocalPoolBackend(autostart=False, reconcile_interval=300, clock=clock)
    submission = quiet.submit(spec_for(pool_home / "w", demo_job, [OK, OK, OK]))
    workdir = Workdir(submission.workdir)
    reads = Counter()
    real_ads = Workdir.ads

    def counted_ads(self):
        reads["ads"] += 1
        return real_ads(self)

    monkeypatch.setattr(Workdir, "ads", counted_ads)
    feed = Feed()
    first = quiet.poll(submission, 0, feed=feed)  # a full read first
    assert (len(first.ads), len(first.events), first.complete, reads["ads"]) == (3, 3, True, 1)

    idle = quiet.poll(submission, first.offset, feed=feed)  # nothing new: no ad is read
    assert (idle.ads, idle.events, idle.complete, reads["ads"]) == ([], [], False, 1)

    with EventLogWriter(submission.event_log) as events:
        events.held(submission.cluster_id, 1, reason="operator pause", code=1)
    logged = quiet.poll(submission, idle.offset, feed=feed)  # the ads do not show the hold yet
    assert [e.event_type for e in logged.events] == ["JOB_HELD"] and logged.ads == []
    assert list(feed.lagging) == [1] and reads["ads"] == 1

    queue = read_ads(workdir.queue_ads)
    queue[1]["JobStatus"] = 5
    write_ads(workdir.queue_ads, queue)
    workdir.mark_ads(log_end(submission.event_log))  # as the runner does after writing its ads
    shown = quiet.poll(submission, logged.offset, feed=feed)
    assert shown.events == [] and [(ad["ProcId"], ad["JobStatus"]) for ad in shown.ads] == [(1, 5)]
    assert feed.lagging == {} and not shown.complete

    clock.now += 300  # the reconciliation reads every ad again
    assert len(quiet.poll(submission, shown.offset, feed=feed).ads) == 3 and feed.full_polls == 2

    workdir.ads_offset_file.unlink()  # an older runner's workdir: every poll reads everything
    clock.now += 300
    assert quiet.poll(submission, shown.offset, feed=feed).complete and feed.fallback
    assert quiet.poll(submission, shown.offset, feed=feed).complete


def test_act_hold_release_remove(pool_home, demo_job, wait_final):
    backend = LocalPoolBackend(slots=1)
    spec = spec_for(pool_home / "w", demo_job, [OK, OK, OK], sleep=30)
    submission = backend.submit(spec)
    _wait_status(backend, submission, 0, 2)

    assert backend.act(submission, JobAction.HOLD, "operator pause", [0]) == 1
    ads = _ads(backend, submission)
    assert ads[0]["JobStatus"] == 5 and ads[0]["HoldReason"] == "operator pause"
    assert (ads[0]["HoldReasonCode"], ads[0]["HoldReasonSubCode"]) == (1, 0)
    assert ads[0]["RemoteWallClockTime"] > 0 and ads[0]["LastRemoteHost"].startswith("slot1_1@")

    assert backend.act(submission, JobAction.REMOVE, "not needed", [2]) == 1
    assert backend.act(submission, JobAction.RELEASE, "go on", [0]) == 1
    assert backend.act(submission, JobAction.RELEASE, "nothing held", [0]) == 0
    ads = _ads(backend, submission)
    assert ads[2]["JobStatus"] == 3 and ads[2]["RemoveReason"] == "not needed"
    assert ads[0]["JobStatus"] in (1, 2) and "HoldReason" not in ads[0]
    assert ads[0]["LastHoldReasonCode"] == 1

    assert backend.act(submission, JobAction.REMOVE, "stop all") == 2
    result, _ = wait_final(backend, submission, timeout_s=15)
    assert [ad["JobStatus"] for ad in result.ads] == [3, 3, 3]
    events = [(e.proc_id, e.event_type) for e in backend.poll(submission).events if e.event_type != "IMAGE_SIZE"]
    assert [k for p, k in events if p == 0][:4] == ["SUBMIT", "EXECUTE", "JOB_HELD", "JOB_RELEASED"]
    assert [k for p, k in events if p == 2] == ["SUBMIT", "JOB_ABORTED"]
    aborted = [e for e in backend.poll(submission).events if e.event_type == "JOB_ABORTED" and e.proc_id == 1]
    assert aborted[0].data["Reason"] == "stop all"
    assert backend.act(submission, JobAction.REMOVE, "again") == 0


def test_act_on_a_finished_runner_starts_one_for_the_release(backend, pool_home, demo_job, wait_final):
    spec = spec_for(pool_home / "w", demo_job, [OVER_MEMORY, OK])
    submission = backend.submit(spec)
    wait_final(backend, submission)
    _wait_runner_gone(pool_home / "w")
    assert backend.act(submission, JobAction.RELEASE, "try once more", [0]) == 1
    result, _ = wait_final(backend, submission)
    ad = result.ads[0]
    assert ad["JobStatus"] == 5 and ad["NumJobStarts"] == 2 and ad["NumHolds"] == 2


def test_poll_restarts_a_runner_that_died(pool_home, demo_job, wait_final):
    backend = LocalPoolBackend(slots=1)
    submission = backend.submit(spec_for(pool_home / "w", demo_job, [OK, OK, OK], sleep=0.5))
    pid = _runner_pid_when_running(pool_home / "w")
    psutil.Process(pid).send_signal(signal.SIGKILL)
    _wait_runner_gone(pool_home / "w")
    result, events = wait_final(backend, submission, timeout_s=30)
    assert [ad["JobStatus"] for ad in result.ads] == [4, 4, 4]
    assert all(ad["ExitCode"] == 0 for ad in result.ads)
    terminated = [e.proc_id for e in events if e.event_type == "JOB_TERMINATED"]
    assert sorted(terminated) == [0, 1, 2]
    evicted = [e for e in events if e.event_type == "JOB_EVICTED"]
    assert len(evicted) == 1 and evicted[0].data["Reason"] == "the local pool's runner restarted"
    assert result.ads[evicted[0].proc_id]["NumJobStarts"] == 2
    assert sum(ad["NumJobStarts"] for ad in result.ads) == 4


def test_missing_workdir_is_reported_not_guessed(backend, tmp_path):
    ghost = Submission(backend="local", cluster_id=9, num_jobs=1, event_log=str(tmp_path / "x" / "jobs.log"),
                       workdir=str(tmp_path / "x"))
    with pytest.raises(BackendUnavailable, match="is missing or incomplete"):
        backend.poll(ghost)


def test_foreign_submission_is_refused(backend, tmp_path):
    other = Submission(backend="htcondor", cluster_id=9, num_jobs=1, event_log="", workdir=str(tmp_path))
    with pytest.raises(ValueError, match="belongs to backend 'htcondor'"):
        backend.poll(other)


def _ads(backend: LocalPoolBackend, submission: Submission) -> dict[int, classad2.ClassAd]:
    return {int(ad["ProcId"]): ad for ad in backend.poll(submission).ads}


def _wait_status(backend, submission, proc: int, status: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while _ads(backend, submission)[proc]["JobStatus"] != status:
        assert time.monotonic() < deadline, f"job {proc} never reached JobStatus {status}"
        time.sleep(0.1)


def _runner_pid_when_running(workdir: Path, timeout_s: float = 15) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ads = read_ads(workdir / "queue.ads")
        if any(ad["JobStatus"] == 2 for ad in ads):
            return int((workdir / "runner.lock").read_text().split()[0])
        time.sleep(0.05)
    raise AssertionError(f"no job of {workdir} started within {timeout_s} s")


def _wait_runner_gone(workdir: Path, timeout_s: float = 10) -> None:
    from prodops.batch.workdir import Workdir

    deadline = time.monotonic() + timeout_s
    while Workdir(workdir).runner_alive():
        assert time.monotonic() < deadline, "the runner did not exit after its jobs ended"
        time.sleep(0.05)
