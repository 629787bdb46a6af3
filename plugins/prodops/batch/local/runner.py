"""The local pool's schedd and startds: runs one submission's jobs as local processes.

``python -m prodops.batch.local.runner <workdir>`` runs the jobs queued in ``<workdir>/queue.ads``
with at most ``PRODOPS_LOCAL_SLOTS`` (default 4) at a time, each in its own process
session with its own stdout/stderr files. It writes the HTCondor event log and keeps the
job ads current, measures each job's process tree (CPU, peak RSS) with psutil, and holds
a job as a pool does when it goes over its ``request_memory`` (code 34) or its allowed
execute duration (code 47). Hold, release and remove requests arrive as files in
``<workdir>/control``.

It outlives whoever started it, and it is restart-safe: one runner per workdir (a lock),
finished jobs are never run again, and on start it reconciles the ads with the event log,
evicting and requeueing a job that a dead runner left running, as a schedd does after
losing a shadow.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import classad2
from htcondor2 import JobStatus
import psutil

from prodops import config
from prodops.batch.base import JobAction
from prodops.batch.eventlog import EventLogWriter, ResourceUsage, Usage, log_end, read_events
from prodops.batch.jobads import (
    IN_QUEUE,
    MEMORY_SUBCODE,
    HoldCode,
    OUTPUT_STATS_PREFIX,
    Machine,
    local_machine,
    read_ads,
    transfer_stats,
    write_atomic,
)
from prodops.batch.submit import parse_environment, split_arguments
from prodops.batch.local import control, processes, transitions
from prodops.batch.workdir import Workdir

log = logging.getLogger("prodops.batch.local.runner")

_MIB = 1024 * 1024


def format_duration(seconds: int) -> str:
    """HTCondor's short duration format: ``HH:MM:SS``, or ``D+HH:MM:SS`` from one day on."""
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}+{clock}" if days else clock


@dataclass
class Stop:
    """Why the runner killed a running job, and what happens to it once it is reaped."""

    action: str  # "hold" | "remove" | "evict"
    reason: str
    code: int = 0
    subcode: int = 0


@dataclass
class RunningJob:
    proc: int
    slot: int
    popen: subprocess.Popen[bytes]
    started: float
    peak_rss_kb: int = 0
    reported_rss_kb: int = 0
    cpu: Usage = field(default_factory=Usage)
    stop: Stop | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid


class Runner:
    """One submission's local schedd; :meth:`run` returns when no job is left to run."""

    def __init__(
        self,
        *,
        workdir: str | os.PathLike[str],
        slots: int | None = None,
        tick_s: float = 0.2,
        ads_interval_s: float = 1.0,
        machine: Machine | None = None,
    ) -> None:
        self.workdir = Workdir(workdir)
        self.slots = slots or config.local_slots()
        self.tick_s = tick_s
        self.ads_interval_s = ads_interval_s
        self.machine = machine or local_machine()
        self.ads: dict[int, classad2.ClassAd] = {}
        self.running: dict[int, RunningJob] = {}
        self.events = EventLogWriter(self.workdir.event_log, host=self.machine.hostname)
        self._dirty = False
        self._last_flush = 0.0
        self._shown = -1  # the event-log offset the ad files were last marked as showing
        self._stopping = False
        self._lock_fd: int | None = None
        self._base_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ")}

    def run(self) -> int:
        self._lock_fd = self.workdir.try_lock_runner()
        if self._lock_fd is None:
            log.info("Another runner is live in %s; leaving it the work", self.workdir.path)
            return 0
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._load()
            log.info(
                "Runner %d for cluster %s in %s: %d jobs, %d slots",
                os.getpid(), self._cluster(), self.workdir.path, len(self.ads), self.slots,
            )
            while True:
                self.step()
                if self._stopping:
                    self._evict_all("the local pool's runner was stopped")
                    break
                if not self.running and not self._idle() and not self.workdir.pending_requests():
                    if self._hand_over():
                        break
                time.sleep(self.tick_s)
        finally:
            if self._lock_fd is not None:
                self._flush(force=True)
            self.events.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        log.info("Runner %d done: %s", os.getpid(), self._counts())
        return 0

    def step(self) -> None:
        """One scheduling cycle: requests, exits, measurements, starts, ads."""
        self._apply_requests()
        self._reap()
        self._measure()
        if not self._stopping:
            self._start_idle()
        self._flush()

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("Runner %d got signal %d: evicting running jobs", os.getpid(), signum)
        self._stopping = True

    def _hand_over(self) -> bool:
        """Release the lock, then look once more for requests that raced with the decision to exit."""
        self._flush(force=True)
        assert self._lock_fd is not None
        os.close(self._lock_fd)
        self._lock_fd = None
        if not self.workdir.pending_requests():
            return True
        self._lock_fd = self.workdir.try_lock_runner()
        if self._lock_fd is None:
            return True
        self._load()
        return False

    # ---- state ---------------------------------------------------------------------------

    def _cluster(self) -> int | None:
        return next((int(ad["ClusterId"]) for ad in self.ads.values()), None)

    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ad in self.ads.values():
            name = JobStatus(int(ad["JobStatus"])).name.lower()
            counts[name] = counts.get(name, 0) + 1
        return counts

    def _idle(self) -> list[int]:
        return sorted(
            proc for proc, ad in self.ads.items() if int(ad["JobStatus"]) == JobStatus.IDLE and proc not in self.running
        )

    def _load(self) -> None:
        """Ads from the files, reconciled with the event log (the log is written first)."""
        self.events.repair()
        self.ads = {int(ad["ProcId"]): ad for ad in read_ads(self.workdir.queue_ads)}
        self.ads.update((int(ad["ProcId"]), ad) for ad in read_ads(self.workdir.history_ads))
        self._kill_orphans()
        last: dict[int, dict] = {}
        records, _ = read_events(self.workdir.event_log, 0)
        for record in records:
            if record.event_type != "IMAGE_SIZE":
                last[record.proc_id] = {"type": record.event_type, "time": record.event_time, **record.data}
        now = time.time()
        for proc, ad in self.ads.items():
            if proc in self.running:
                continue
            event = last.get(proc, {})
            what = transitions.recovery(ad, event)
            if what is transitions.Recovery.EVICT:
                log.warning("Job %s.%d was running under a runner that died: evicting it", ad["ClusterId"], proc)
                self.events.evicted(int(ad["ClusterId"]), proc, reason="the local pool's runner restarted")
            transitions.recover(ad, what, event, now)
        self._dirty = True
        self._flush(force=True)

    def _kill_orphans(self) -> None:
        """Kill the process sessions of jobs a dead runner started (pid and start time must match)."""
        try:
            state = json.loads(self.workdir.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        for entry in state.get("running", []):
            try:
                proc = psutil.Process(int(entry["pid"]))
                if abs(proc.create_time() - float(entry["create_time"])) > 1.0:
                    continue
                os.killpg(int(entry["pid"]), signal.SIGKILL)
                log.warning("Killed the leftover session %d of job %s", entry["pid"], entry.get("proc"))
            except (psutil.Error, ProcessLookupError, PermissionError, KeyError, ValueError):
                continue
        self._save_state()

    def _save_state(self) -> None:
        running = []
        for job in self.running.values():
            try:
                created = psutil.Process(job.pid).create_time()
            except psutil.Error:
                continue
            running.append({"proc": job.proc, "pid": job.pid, "create_time": created})
        write_atomic(self.workdir.state_file, json.dumps({"runner": os.getpid(), "running": running}) + "\n")

    def _flush(self, force: bool = False) -> None:
        """Rewrite queue.ads and history.ads when something changed (at most once per interval),
        then mark the log offset they show (ads.offset), which tracking follows the log by.

        Every event is logged before its effect on the ads in memory, in this one thread, so
        ads written now show every event logged so far; ads that did not change show new
        events too (an event that changes nothing), so the mark moves on with the log.
        """
        now = time.monotonic()
        if not force and now - self._last_flush < self.ads_interval_s:
            return
        shown = log_end(self.workdir.event_log)
        if not self._dirty:
            if shown != self._shown:
                self.workdir.mark_ads(shown)
                self._shown = shown
            return
        for job in self.running.values():
            self._update_running_ad(job)
        queue: list[classad2.ClassAd] = []
        history: list[classad2.ClassAd] = []
        for proc in sorted(self.ads):
            ad = self.ads[proc]
            (queue if int(ad["JobStatus"]) in IN_QUEUE else history).append(ad)
        # history first: a job moving out of the queue is briefly in both files, never in neither
        write_atomic(self.workdir.history_ads, "".join(ad.printOld() + "\n" for ad in history))
        write_atomic(self.workdir.queue_ads, "".join(ad.printOld() + "\n" for ad in queue))
        self.workdir.mark_ads(shown)
        self._shown = shown
        self._dirty = False
        self._last_flush = now

    # ---- requests ------------------------------------------------------------------------

    def _apply_requests(self) -> None:
        for path in self.workdir.pending_requests():
            try:
                request = control.read_request(path)
            except control.ControlRequestInvalid as err:
                log.error("Ignoring control request %s", err)
                self.workdir.finish_request(path)
                continue
            targets = sorted(self.ads) if request.procs is None else list(request.procs)
            reason = request.reason_or_default
            applied = sum(self._act(request.action, proc, reason) for proc in targets if proc in self.ads)
            log.info("Applied %s to %d of %d jobs (%s)", request.action.value, applied, len(targets), reason)
            self._settle_stops()
            self._flush(force=True)
            self.workdir.finish_request(path)

    def _settle_stops(self, timeout_s: float = 5.0) -> None:
        """Reap the jobs a request killed, so the ads show its effect when the request is marked done."""
        deadline = time.monotonic() + timeout_s
        while any(job.stop is not None for job in self.running.values()) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.01)

    def _act(self, action: JobAction, proc: int, reason: str) -> bool:
        ad = self.ads[proc]
        cluster = int(ad["ClusterId"])
        what = control.step(action, int(ad["JobStatus"]), proc in self.running)
        if what is control.Step.STOP_TO_HOLD:
            return self._stop(proc, Stop("hold", reason, HoldCode.USER_REQUEST, 0))
        if what is control.Step.STOP_TO_REMOVE:
            return self._stop(proc, Stop("remove", reason))
        now = time.time()
        if what is control.Step.HOLD:
            self.events.held(cluster, proc, reason=reason, code=HoldCode.USER_REQUEST, subcode=0)
            self._set_held(ad, reason, HoldCode.USER_REQUEST, 0, now)
        elif what is control.Step.RELEASE:
            self.events.released(cluster, proc, reason=reason)
            transitions.release(ad, reason, now)
            self._dirty = True
        elif what is control.Step.REMOVE:
            self.events.aborted(cluster, proc, reason=reason)
            self._set_removed(ad, reason, now)
        return what is not control.Step.NOTHING

    def _stop(self, proc: int, stop: Stop) -> bool:
        job = self.running[proc]
        if job.stop is not None:
            return False
        job.stop = stop
        self._kill(job)
        return True

    def _kill(self, job: RunningJob) -> None:
        processes.kill_session(job.pid)

    def _evict_all(self, reason: str) -> None:
        for proc in list(self.running):
            self._stop(proc, Stop("evict", reason))
        deadline = time.monotonic() + 10
        while self.running and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)

    # ---- running jobs --------------------------------------------------------------------

    def _start_idle(self) -> None:
        free = sorted(set(range(1, self.slots + 1)) - {job.slot for job in self.running.values()})
        for proc in self._idle():
            if not free:
                return
            self._start(proc, free.pop(0))

    def _start(self, proc: int, slot: int) -> None:
        ad = self.ads[proc]
        cluster = int(ad["ClusterId"])
        slot_name = self.machine.slot_name(slot)
        iwd = str(ad.get("Iwd") or self.workdir.path)
        cmd = str(ad["Cmd"])
        if "Arguments" in ad:
            argv = [cmd, *split_arguments('"' + str(ad["Arguments"]) + '"')]
        else:
            argv = [cmd, *split_arguments(str(ad.get("Args") or ""))]
        env = dict(self._base_env)
        env["TMPDIR"] = tempfile.gettempdir()
        if "Environment" in ad:
            env.update(parse_environment('"' + str(ad["Environment"]) + '"'))
        env.update(
            {
                "_CONDOR_SCRATCH_DIR": iwd,
                "_CONDOR_SLOT": f"slot1_{slot}",
                "BATCH_SYSTEM": "HTCondor",
                "OMP_NUM_THREADS": str(int(ad.get("RequestCpus") or 1)),
            }
        )
        if not os.path.isdir(iwd):
            self._hold_unstarted(ad, slot_name, HoldCode.IWD_ERROR, 2,
                                 f"Failed to access initial working directory {iwd}: (errno=2: 'No such file or directory')")
            return
        try:
            out = open(str(ad.get("Out") or os.devnull), "wb")
        except OSError as exc:
            self._hold_unstarted(ad, slot_name, HoldCode.UNABLE_TO_OPEN_OUTPUT, exc.errno or 0,
                                 f"Failed to open '{exc.filename}' as standard output: {exc.strerror} (errno {exc.errno})")
            return
        try:
            err = open(str(ad.get("Err") or os.devnull), "wb")
        except OSError as exc:
            out.close()
            self._hold_unstarted(ad, slot_name, HoldCode.UNABLE_TO_OPEN_OUTPUT, exc.errno or 0,
                                 f"Failed to open '{exc.filename}' as standard error: {exc.strerror} (errno {exc.errno})")
            return
        try:
            popen = subprocess.Popen(
                argv, cwd=iwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            self._hold_unstarted(
                ad, slot_name, HoldCode.FAILED_TO_CREATE_PROCESS, exc.errno or 0,
                f"Failed to execute '{cmd}' with arguments {' '.join(argv[1:])}: (errno={exc.errno}: '{exc.strerror}')",
            )
            return
        finally:
            out.close()
            err.close()
        now = time.time()
        job = RunningJob(proc=proc, slot=slot, popen=popen, started=now)
        self.running[proc] = job
        self._save_state()
        self.events.execute(
            cluster, proc, slot_name=slot_name,
            provisioned={"Cpus": int(ad.get("RequestCpus") or 1), "Memory": int(ad["RequestMemory"]),
                         "Disk": int(ad["RequestDisk"])},
            when=now,
        )
        transitions.start(ad, slot_name, self.machine, now)
        self._dirty = True
        log.info("Started job %d.%d in %s as pid %d", cluster, proc, slot_name, popen.pid)

    def _hold_unstarted(self, ad: classad2.ClassAd, slot_name: str, code: int, subcode: int, message: str) -> None:
        reason = f"Error from {slot_name}: {message}"
        self.events.held(int(ad["ClusterId"]), int(ad["ProcId"]), reason=reason, code=code, subcode=subcode)
        self._set_held(ad, reason, code, subcode, time.time())
        log.warning("Held job %s.%s: %s", ad["ClusterId"], ad["ProcId"], reason)

    def _measure(self) -> None:
        """Sample each running job's process tree; enforce memory and execute-time limits."""
        now = time.time()
        trees = processes.process_trees([job.pid for job in self.running.values() if job.stop is None])
        for job in list(self.running.values()):
            if job.stop is not None:
                continue
            rss, cpu = processes.tree_usage(trees.get(job.pid, [job.pid]))
            if rss is None:
                continue
            job.peak_rss_kb = max(job.peak_rss_kb, rss // 1024)
            job.cpu = Usage(max(job.cpu.user_s, cpu.user_s), max(job.cpu.sys_s, cpu.sys_s))
            ad = self.ads[job.proc]
            cluster = int(ad["ClusterId"])
            peak_mb = math.ceil(job.peak_rss_kb / 1024)
            if job.peak_rss_kb > 1.25 * job.reported_rss_kb:
                job.reported_rss_kb = job.peak_rss_kb
                self.events.image_size(
                    cluster, job.proc, image_size_kb=job.peak_rss_kb, memory_usage_mb=peak_mb,
                    resident_set_size_kb=job.peak_rss_kb, when=now,
                )
                self._dirty = True
            if (over := self._memory_stop(job, ad)) is not None:
                self._stop(job.proc, over)
                log.info("Job %d.%d over its memory limit (%d MB peak): holding it", cluster, job.proc, peak_mb)
                continue
            allowed = ad.get("AllowedExecuteDuration")
            if isinstance(allowed, int) and allowed > 0 and now - job.started > allowed:
                reason = f"The job exceeded allowed execute duration of {format_duration(allowed)}"
                self._stop(job.proc, Stop("hold", reason, HoldCode.JOB_EXECUTE_EXCEEDED, 0))
                log.info("Job %d.%d ran past %d s: holding it", cluster, job.proc, allowed)

    def _memory_stop(self, job: RunningJob, ad: classad2.ClassAd) -> Stop | None:
        """The hold of a job whose sampled peak went over its request_memory."""
        peak_mb = math.ceil(job.peak_rss_kb / 1024)
        limit_mb = int(ad["RequestMemory"])
        if peak_mb <= limit_mb:
            return None
        reason = (
            f"Error from {self.machine.slot_name(job.slot)}: Job has gone over memory limit of "
            f"{limit_mb} megabytes. Peak usage: {peak_mb} megabytes."
        )
        return Stop("hold", reason, HoldCode.JOB_OUT_OF_RESOURCES, MEMORY_SUBCODE)

    def _reap(self) -> None:
        for job in list(self.running.values()):
            try:
                if os.waitid(os.P_PID, job.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                    continue
            except ChildProcessError:
                pass
            # the job's main process has exited: end the rest of its session before reaping it
            self._kill(job)
            try:
                _, status, rusage = os.wait4(job.pid, 0)
            except ChildProcessError:
                log.error("Job %d (pid %d) was reaped by someone else: counting it as killed", job.proc, job.pid)
                status, rusage = int(signal.SIGKILL), None
            job.popen.returncode = os.waitstatus_to_exitcode(status)
            if rusage is not None:  # not its ru_maxrss: Linux counts the image it was forked from
                job.cpu = Usage(max(job.cpu.user_s, rusage.ru_utime), max(job.cpu.sys_s, rusage.ru_stime))
            del self.running[job.proc]
            self._finish(job, status)
            self._save_state()

    def _finish(self, job: RunningJob, status: int) -> None:
        ad = self.ads[job.proc]
        cluster = int(ad["ClusterId"])
        now = time.time()
        wall = max(0.0, now - job.started)
        self._end_run(ad, now, job)
        stop = job.stop
        if stop is not None and stop.action == "hold":
            self.events.held(cluster, job.proc, reason=stop.reason, code=stop.code, subcode=stop.subcode, when=now)
            self._set_held(ad, stop.reason, stop.code, stop.subcode, now)
        elif stop is not None and stop.action == "remove":
            self.events.aborted(cluster, job.proc, reason=stop.reason, when=now)
            self._set_removed(ad, stop.reason, now)
        elif stop is not None:
            self.events.evicted(cluster, job.proc, run_usage=job.cpu, reason=stop.reason, when=now)
            self._set_status(ad, JobStatus.IDLE, now)
        else:
            signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            code = os.WEXITSTATUS(status) if signum is None else None
            resources = [
                ResourceUsage("Cpus", round((job.cpu.user_s + job.cpu.sys_s) / wall, 2) if wall else 0.0,
                              int(ad.get("RequestCpus") or 1), int(ad.get("RequestCpus") or 1)),
                ResourceUsage("Disk", int(ad.get("DiskUsage") or 0), int(ad["RequestDisk"]), int(ad["RequestDisk"])),
                ResourceUsage("Memory", int(ad.get("MemoryUsage") or 0), int(ad["RequestMemory"]),
                              int(ad["RequestMemory"])),
            ]
            total = Usage(float(ad["RemoteUserCpu"]), float(ad["RemoteSysCpu"]))
            self.events.terminated(
                cluster, job.proc, return_value=code, signal=signum, run_usage=job.cpu, total_usage=total,
                resources=resources, when=now,
            )
            transitions.complete(ad, code, signum, now)
            self._dirty = True
        log.info("Job %d.%d ended after %.1f s (%s, wait status %d)", cluster, job.proc, wall,
                 stop.action if stop else "exited", status)

    def _update_running_ad(self, job: RunningJob) -> None:
        ad = self.ads[job.proc]
        if job.peak_rss_kb:
            ad["ResidentSetSize"] = job.peak_rss_kb
            ad["ImageSize"] = max(int(ad.get("ImageSize") or 0), job.peak_rss_kb)
            ad["MemoryUsage"] = max(int(ad.get("MemoryUsage") or 0), math.ceil(job.peak_rss_kb / 1024))
        ad["DiskUsage"] = processes.disk_usage_kb(ad)

    def _end_run(self, ad: classad2.ClassAd, now: float, job: RunningJob | None) -> None:
        """Account one run in the ad and free its slot; a run the runner saw also brings its
        memory, disk and the stdout/stderr a pool would transfer back (here already in place)."""
        if job is not None:
            self._update_running_ad(job)
            outputs = transfer_stats([str(ad.get("Out") or ""), str(ad.get("Err") or "")])
            ad["TransferOutputStats"] = outputs
            ad["BytesSent"] = float(outputs[f"{OUTPUT_STATS_PREFIX}SizeBytesLastRun"])
        transitions.end_run(ad, now, None if job is None else transitions.Run(job.started, job.cpu))
        self._dirty = True

    def _set_status(self, ad: classad2.ClassAd, status: JobStatus, now: float) -> None:
        transitions.set_status(ad, status, now)
        self._dirty = True

    def _set_held(self, ad: classad2.ClassAd, reason: str, code: int, subcode: int, now: float) -> None:
        transitions.hold(ad, reason, code, subcode, now)
        self._dirty = True

    def _set_removed(self, ad: classad2.ClassAd, reason: str, now: float) -> None:
        transitions.remove(ad, reason, now)
        self._dirty = True


def detach(argv: Sequence[str]) -> int:
    """Fork so that the runner is re-parented to init and its starter can reap the short-lived parent."""
    if os.fork() > 0:
        return 0
    os.setsid()
    return main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prodops.batch.local.runner", description=__doc__.splitlines()[0])
    parser.add_argument("workdir", help="the submission's directory (holds queue.ads and jobs.log)")
    parser.add_argument("--slots", type=int, default=None, help=f"job slots (default $PRODOPS_LOCAL_SLOTS or {config.DEFAULT_LOCAL_SLOTS})")
    parser.add_argument("--detach", action="store_true", help="fork into the background and return at once")
    args = parser.parse_args(argv)
    if args.detach:
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--detach"]
        return detach(rest)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s")
    workdir = Path(args.workdir)
    if not (workdir / "queue.ads").exists() and not (workdir / "history.ads").exists():
        parser.error(f"{workdir} holds no queue.ads: submit through LocalPoolBackend.submit first")
    return Runner(workdir=workdir, slots=args.slots).run()


if __name__ == "__main__":
    sys.exit(main())
