"""The local pool runner: limits, slots, restarts and reconciliation, run in-process on real jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prodops.batch.base import Submission, SubmissionSpec
from prodops.batch.eventlog import EventLogWriter, ResourceUsage, Usage, read_events
from prodops.batch.jobads import read_ads, write_ads
from prodops.batch.local import PLUGINS_DIR, LocalPoolBackend
from prodops.batch.local.runner import Runner, format_duration
from prodops.batch.workdir import Workdir


def submit(pool_home: Path, executable: Path | str, items: list[str], **extra) -> tuple[Submission, Workdir]:
    """Queue jobs without starting a runner: the test runs the Runner itself."""
    fields = {"request_id": 7, "stage": "gen", "attempt": 1, "request_memory_mb": 128, "max_wall_time_s": 60, **extra}
    spec = SubmissionSpec(executable=str(executable), items=items, workdir=str(pool_home / "w"), **fields)
    submission = LocalPoolBackend(autostart=False).submit(spec)
    return submission, Workdir(submission.workdir)


def run(workdir: Workdir, slots: int = 4) -> None:
    Runner(workdir=workdir.path, slots=slots, tick_s=0.05, ads_interval_s=0.2).run()


def ads_by_proc(workdir: Workdir) -> dict[int, dict]:
    return {int(ad["ProcId"]): dict(ad) for ad in workdir.ads()}


def kinds(workdir: Workdir, proc: int) -> list[str]:
    records, _ = read_events(workdir.event_log)
    return [r.event_type for r in records if r.proc_id == proc and r.event_type != "IMAGE_SIZE"]


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_slots_bound_how_many_jobs_run_at_once(pool_home, demo_job):
    _, workdir = submit(pool_home, demo_job, [f"--job {i} --records 5 --sleep 0.4" for i in range(5)])
    run(workdir, slots=2)
    records, _ = read_events(workdir.event_log)
    running, peak = 0, 0
    for record in records:
        running += {"EXECUTE": 1, "JOB_TERMINATED": -1}.get(record.event_type, 0)
        peak = max(peak, running)
    assert peak == 2
    ads = ads_by_proc(workdir)
    assert {ad["LastRemoteHost"].split("@")[0] for ad in ads.values()} == {"slot1_1", "slot1_2"}
    assert all(ad["JobStatus"] == 4 and ad["ExitCode"] == 0 for ad in ads.values())


def test_memory_of_the_whole_process_tree_is_enforced(pool_home, demo_job, tmp_path):
    wrapper = script(tmp_path, "wrap.sh", f'"{sys.executable}" "{demo_job}" --job 0 --records 1 --memory 300\n')
    _, workdir = submit(pool_home, wrapper, ["--ignored"], request_memory_mb=96)
    run(workdir)
    ad = ads_by_proc(workdir)[0]
    assert ad["JobStatus"] == 5
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (34, 102)
    assert "over memory limit of 96 megabytes" in ad["HoldReason"]
    assert ad["MemoryUsage"] > 96
    assert kinds(workdir, 0) == ["SUBMIT", "EXECUTE", "JOB_HELD"]


def test_execute_duration_is_enforced_with_code_47(pool_home, demo_job):
    _, workdir = submit(pool_home, demo_job, ["--job 0 --records 10 --sleep 20"], max_wall_time_s=1)
    started = time.monotonic()
    run(workdir)
    assert time.monotonic() - started < 10
    ad = ads_by_proc(workdir)[0]
    assert ad["JobStatus"] == 5
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (47, 0)
    assert ad["HoldReason"] == "The job exceeded allowed execute duration of 00:00:01"
    assert 1 <= ad["RemoteWallClockTime"] < 5


@pytest.mark.parametrize(("mode", "subcode"), [("missing", 2), ("not-executable", 13)])
def test_a_job_that_cannot_start_is_held_with_code_6(pool_home, tmp_path, mode, subcode):
    executable = tmp_path / "job.sh"
    if mode == "not-executable":
        executable.write_text("#!/bin/sh\nexit 0\n")
        executable.chmod(0o644)
    _, workdir = submit(pool_home, executable, ["--x 1"])
    run(workdir)
    ad = ads_by_proc(workdir)[0]
    assert ad["JobStatus"] == 5
    assert (ad["HoldReasonCode"], ad["HoldReasonSubCode"]) == (6, subcode)
    assert f"Failed to execute '{executable}' with arguments --x 1" in ad["HoldReason"]
    assert ad["NumJobStarts"] == 0
    assert kinds(workdir, 0) == ["SUBMIT", "JOB_HELD"]


def test_job_gets_its_environment_stdio_and_cpu_accounted(pool_home, tmp_path):
    job = script(
        tmp_path, "env.sh",
        'echo "site=$SITE slot=$_CONDOR_SLOT batch=$BATCH_SYSTEM args=$*"\necho oops >&2\n'
        "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done\n",
    )
    _, workdir = submit(pool_home, job, ["a b", "c"], environment={"SITE": "two words"})
    run(workdir, slots=1)
    out = (workdir.path / "job.0.out").read_text()
    assert out == "site=two words slot=slot1_1 batch=HTCondor args=a b\n"
    assert (workdir.path / "job.1.out").read_text().endswith("args=c\n")
    assert (workdir.path / "job.0.err").read_text() == "oops\n"
    ad = ads_by_proc(workdir)[0]
    assert ad["RemoteUserCpu"] + ad["RemoteSysCpu"] > 0.05
    assert ad["RemoteWallClockTime"] >= ad["RemoteUserCpu"] * 0.5
    terminated = [r for r in read_events(workdir.event_log)[0] if r.event_type == "JOB_TERMINATED"]
    assert terminated[0].data["RunRemoteUsage"].startswith("Usr 0 00:00:")


def test_rerunning_a_finished_workdir_runs_nothing(pool_home, demo_job):
    _, workdir = submit(pool_home, demo_job, ["--job 0 --records 3 --sleep 0", "--job 1 --records 3 --exit 2"])
    run(workdir)
    log_before = workdir.event_log.read_bytes()
    ads_before = ads_by_proc(workdir)
    run(workdir)
    assert workdir.event_log.read_bytes() == log_before
    assert ads_by_proc(workdir) == ads_before
    assert ads_before[1]["ExitCode"] == 2


def test_a_second_runner_leaves_the_workdir_to_the_live_one(pool_home, demo_job):
    _, workdir = submit(pool_home, demo_job, ["--job 0 --records 3 --sleep 0"])
    lock = workdir.try_lock_runner()
    try:
        assert lock is not None and workdir.runner_alive()
        run(workdir)
        assert ads_by_proc(workdir)[0]["JobStatus"] == 1
    finally:
        os.close(lock)
    assert not workdir.runner_alive()


def test_termination_in_the_log_but_not_in_the_ads_is_reconciled(pool_home, demo_job):
    """A runner that died between writing an event and rewriting the ads must not rerun the job."""
    submission, workdir = submit(pool_home, demo_job, ["--job 0 --records 3"])
    ads = read_ads(workdir.queue_ads)
    ads[0]["JobStatus"] = 2
    ads[0]["JobCurrentStartDate"] = ads[0]["QDate"]
    ads[0]["RemoteHost"] = "slot1_1@elsewhere"
    write_ads(workdir.queue_ads, ads)
    with EventLogWriter(workdir.event_log) as log:
        log.execute(submission.cluster_id, 0, slot_name="slot1_1@elsewhere")
        log.terminated(submission.cluster_id, 0, return_value=5, run_usage=Usage(2, 1),
                       resources=[ResourceUsage("Memory", 10, 128, 128)])
    run(workdir)
    ad = ads_by_proc(workdir)[0]
    assert (ad["JobStatus"], ad["ExitCode"], ad["ExitBySignal"]) == (4, 5, False)
    assert (ad["RemoteUserCpu"], ad["RemoteSysCpu"]) == (2.0, 1.0)
    assert ad["LastRemoteHost"] == "slot1_1@elsewhere"
    assert kinds(workdir, 0) == ["SUBMIT", "EXECUTE", "JOB_TERMINATED"]
    assert read_ads(workdir.queue_ads) == [] and len(read_ads(workdir.history_ads)) == 1


def test_sigterm_evicts_running_jobs_and_a_new_runner_finishes_them(pool_home, demo_job):
    _, workdir = submit(pool_home, demo_job, ["--job 0 --records 50 --sleep 30", "--job 1 --records 3 --sleep 0"])
    env = {**os.environ, "PYTHONPATH": str(PLUGINS_DIR)}
    runner = subprocess.Popen([sys.executable, "-m", "prodops.batch.local.runner", str(workdir.path), "--slots", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while "EXECUTE" not in kinds(workdir, 0):
            assert time.monotonic() < deadline, "job 0 never started"
            time.sleep(0.05)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=15) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    ad = ads_by_proc(workdir)[0]
    assert ad["JobStatus"] == 1 and ad["NumJobStarts"] == 1 and "RemoteHost" not in ad
    assert kinds(workdir, 0) == ["SUBMIT", "EXECUTE", "JOB_EVICTED"]
    assert ads_by_proc(workdir)[1]["JobStatus"] == 1
    workdir.add_request("Remove", [0], "no time for it")
    run(workdir, slots=1)
    final = ads_by_proc(workdir)
    assert final[0]["JobStatus"] == 3 and final[1]["JobStatus"] == 4
    assert kinds(workdir, 0) == ["SUBMIT", "EXECUTE", "JOB_EVICTED", "JOB_ABORTED"]


def test_malformed_control_request_is_set_aside(pool_home, demo_job):
    _, workdir = submit(pool_home, demo_job, ["--job 0 --records 3 --sleep 0"])
    workdir.control_dir.mkdir()
    (workdir.control_dir / "0001-bad.json").write_text('{"action": "Explode"}')
    run(workdir)
    assert workdir.pending_requests() == []
    assert (workdir.done_dir / "0001-bad.json").exists()
    assert ads_by_proc(workdir)[0]["JobStatus"] == 4


def test_runner_refuses_a_directory_without_a_queue(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PLUGINS_DIR)}
    done = subprocess.run([sys.executable, "-m", "prodops.batch.local.runner", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "submit through LocalPoolBackend.submit first" in done.stderr


@pytest.mark.parametrize(("seconds", "text"), [(1, "00:00:01"), (72000, "20:00:00"), (3 * 86400 + 61, "3+00:01:01")])
def test_durations_are_formatted_like_htcondor(seconds, text):
    assert format_duration(seconds) == text
