"""The local pool backend: HTCondor semantics on one machine, for laptops, the demo and tests.

``submit`` renders the spec with ``htcondor2.Submit``, expands it into job ads, writes the
submit events, and starts a detached runner (``prodops.batch.local.runner``) that runs the jobs;
``poll``, ``history`` and ``act`` read and steer that runner through files in the
submission's workdir (see :mod:`prodops.batch.workdir`). The runner writes the job event log
in HTCondor's text format with the writer of :mod:`prodops.batch.eventlog`, whose reader
tracking uses for a real pool's log too.

Tracking follows that log as it follows a real pool's (a tracker passes its
:class:`~prodops.batch.base.Feed`): a poll reads the new events and then the ads of only the
jobs they name; a poll with no new event reads no ad. The runner writes the ads after the
log (at most once a second) and marks the log offset they show (``ads.offset``), so a job
whose event is past that mark waits in :attr:`Feed.lagging` until the ads show it. A full
read of every ad, the reconciliation, runs on a tracker's first poll and every
``reconcile_interval``; a workdir without the mark (written by an older runner) is read in
full every poll.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import classad2
import htcondor2
from htcondor2 import JobStatus

import prodops
from prodops import config
from prodops.batch.base import (
    RECONCILE_INTERVAL_S, Feed, JobAction, JobEventRecord, PollResult, Submission, SubmissionSpec,
)
from prodops.batch.eventlog import EventLogWriter, log_end, read_event_log
from prodops.batch.jobads import new_job_ad, write_ads, write_atomic
from prodops.batch.submit import expand_jobs, render_submit, submit_file_text
from prodops.batch.workdir import Workdir
from prodops.exceptions import BackendUnavailable, SubmitFailed

log = logging.getLogger(__name__)

PLUGINS_DIR = Path(prodops.__file__).resolve().parents[1]

_ELIGIBLE = {
    JobAction.HOLD: (JobStatus.IDLE, JobStatus.RUNNING),
    JobAction.RELEASE: (JobStatus.HELD,),
    JobAction.REMOVE: (JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD),
}


class LocalPoolBackend:
    """Runs each submission's jobs as local processes, with a bounded number of slots.

    ``pool_dir`` holds the cluster id counter (default ``$PRODOPS_HOME/pool``); ``slots``
    overrides ``PRODOPS_LOCAL_SLOTS`` for the runners this backend starts; ``act`` waits up
    to ``act_timeout_s`` for the runner to apply a request. With ``autostart=False`` no
    runner is ever started (tests and tools drive :class:`~prodops.batch.local.runner.Runner`).
    ``reconcile_interval`` (seconds) spaces the full reads of a tracker that follows the log.
    """

    name = "local"
    follows_event_log = True
    """:meth:`poll` takes a tracker's :class:`~prodops.batch.base.Feed`."""

    def __init__(
        self,
        *,
        pool_dir: str | os.PathLike[str] | None = None,
        slots: int | None = None,
        python: str | None = None,
        act_timeout_s: float = 10.0,
        runner_start_timeout_s: float = 30.0,
        autostart: bool = True,
        reconcile_interval: float = RECONCILE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if slots is not None and slots < 1:
            raise ValueError(f"slots={slots!r}: a local pool needs at least one job slot")
        self._pool_dir = Path(pool_dir) if pool_dir is not None else None
        self.slots = slots
        self.python = python or sys.executable
        self.act_timeout_s = act_timeout_s
        self.runner_start_timeout_s = runner_start_timeout_s
        self.autostart = autostart
        self.reconcile_interval = float(reconcile_interval)
        self._clock = clock

    @property
    def pool_dir(self) -> Path:
        return self._pool_dir if self._pool_dir is not None else config.prodops_home() / "pool"

    def submit(self, spec: SubmissionSpec) -> Submission:
        submit = render_submit(spec)
        workdir = Workdir(spec.workdir)
        with workdir.exclusive(".submit.lock"):
            existing = workdir.load_submission()
            if existing is not None:
                stored_key = workdir.load_spec().get("key")
                if stored_key != spec.key:
                    raise SubmitFailed(
                        f"workdir {workdir.path} already holds submission {stored_key}; "
                        f"give submission {spec.key} a workdir of its own"
                    )
                log.info("Submission %s is already cluster %d; not submitting again", spec.key, existing.cluster_id)
                self.ensure_runner(existing)
                return existing
            submission = self._submit_new(spec, submit, workdir)
        self.ensure_runner(submission)
        log.info("Submitted %s as local cluster %d: %d jobs in %s", spec.key, submission.cluster_id,
                 submission.num_jobs, workdir.path)
        return submission

    def _submit_new(self, spec: SubmissionSpec, submit: htcondor2.Submit, workdir: Workdir) -> Submission:
        for leftover in (workdir.event_log, workdir.queue_ads, workdir.history_ads, workdir.ads_offset_file,
                         workdir.state_file):
            leftover.unlink(missing_ok=True)
        for request in workdir.pending_requests():
            request.unlink()
        cluster_id = self._next_cluster_id()
        jobs = expand_jobs(submit, cluster_id)
        qdate = int(time.time())
        host = socket.gethostname()
        write_atomic(workdir.submit_file, submit_file_text(submit))
        workdir.write_json(workdir.spec_file, {**spec.to_dict(), "key": spec.key})
        write_ads(workdir.history_ads, [])
        write_ads(workdir.queue_ads, [new_job_ad(job, qdate=qdate, submit_host=host) for job in jobs])
        with EventLogWriter(workdir.event_log, host=host) as events:
            for job in jobs:
                events.submit(cluster_id, job.proc_id, when=qdate)
        workdir.mark_ads(log_end(workdir.event_log))
        submission = Submission(
            backend=self.name,
            cluster_id=cluster_id,
            num_jobs=len(jobs),
            event_log=str(workdir.event_log),
            workdir=str(workdir.path),
            schedd=f"local@{host}",
            key=spec.key,
            submitted=float(qdate),
        )
        workdir.write_json(workdir.submission_file, submission.to_dict())
        return submission

    def _next_cluster_id(self) -> int:
        """Allocate the pool's next cluster id (a counter file under a lock)."""
        pool = Workdir(self.pool_dir)
        counter = pool.path / "cluster_id"
        with pool.exclusive(".cluster_id.lock"):
            try:
                text = counter.read_text().strip()
                last = int(text) if text else 0
            except FileNotFoundError:
                last = 0
            except ValueError:
                raise SubmitFailed(
                    f"cluster id counter {counter} holds {counter.read_text()!r}, not an integer; "
                    "write the last cluster id used into it (or delete it to start from 1)"
                ) from None
            write_atomic(counter, f"{last + 1}\n")
        return last + 1

    def poll(
        self, submission: Submission, offset: int = 0, history_cursor: str | None = None, *, feed: Feed | None = None
    ) -> PollResult:
        """The ads of the jobs that changed, and the events after ``offset`` (no history cursor:
        the local pool's history is one small file).

        Without ``feed``, or when the workdir has no ads mark, every job's ad. With ``feed``: every
        job's ad on the first call and whenever ``reconcile_interval`` has passed, otherwise the
        ads of the jobs the new events name, once the ads show those events (``complete=False``).
        """
        workdir = self._workdir(submission)
        if feed is None or feed.fallback:
            return self._full_poll(submission, workdir, offset)
        now = self._clock()
        if feed.due or feed.last_full is None or now - feed.last_full >= self.reconcile_interval:
            feed.due = False
            result = self._full_poll(submission, workdir, offset, feed)
            feed.last_full = now
            feed.full_polls += 1
            return result
        feed.feed_polls += 1
        return self._feed_poll(submission, workdir, offset, feed)

    def _full_poll(self, submission: Submission, workdir: Workdir, offset: int, feed: Feed | None = None) -> PollResult:
        """Every job's ad, then the events; with ``feed``, the jobs whose events the ads do not show yet."""
        shown = workdir.ads_offset()  # before the ads, which then show at least the events before it
        # Ads first: the runner logs an event before the ads show its effect, so every state
        # these ads show has its event in the log by the time the log is read.
        ads = workdir.ads()
        read = read_event_log(submission.event_log, offset, submitted=submission.submitted)
        self.ensure_runner(submission, ads)
        if feed is not None:
            if shown is None:
                feed.fallback = True
                log.warning("Local cluster %d: %s has no ads mark (its runner predates it); tracking reads "
                            "every ad every cycle", submission.cluster_id, workdir.path)
            else:
                feed.lagging = {proc: at for proc, at in feed.lagging.items() if at > shown}
                _note_lagging(feed, read.records, int(submission.cluster_id), shown)
        return PollResult(ads=ads, events=read.records, offset=read.offset, problems=read.problems,
                          more_events=read.more)

    def _feed_poll(self, submission: Submission, workdir: Workdir, offset: int, feed: Feed) -> PollResult:
        """The new events, and the ads of the jobs named by these or earlier events that the ads now show."""
        read = read_event_log(submission.event_log, offset, submitted=submission.submitted)
        _note_lagging(feed, read.records, int(submission.cluster_id))
        ads: list[classad2.ClassAd] = []
        if feed.lagging:
            shown = workdir.ads_offset()
            if shown is None:  # the mark went away (an older runner took over): read everything
                feed.fallback = True
                return self._full_poll(submission, workdir, offset)
            ready = {proc for proc, at in feed.lagging.items() if at <= shown}
            if ready:
                ads = [ad for ad in workdir.ads() if ad.get("ProcId") in ready]
                for proc in ready:
                    del feed.lagging[proc]
        self._revive(submission, workdir, feed)
        return PollResult(ads=ads, events=read.records, offset=read.offset, problems=read.problems,
                          more_events=read.more, complete=False)

    def _revive(self, submission: Submission, workdir: Workdir, feed: Feed) -> None:
        """Restart a runner that died with work left; the ads are read only when they changed
        since the pool was last found quiet (no runner, no work: held or finished jobs)."""
        if not self.autostart or workdir.runner_alive():
            return
        shown = workdir.ads_offset()
        if shown is not None and shown == feed.quiet_at and not workdir.pending_requests():
            return
        if not self.ensure_runner(submission):
            feed.quiet_at = shown

    def history(self, submission: Submission, since: int | str | None = None) -> list[classad2.ClassAd]:
        ads = self._workdir(submission).history()
        if since is None:
            return ads
        # the local pool's cursor is an EnteredCurrentStatus time (text when read back from the store)
        return [ad for ad in ads if int(ad.get("EnteredCurrentStatus") or 0) >= int(since)]

    def act(
        self, submission: Submission, action: JobAction, reason: str, procs: Sequence[int] | None = None
    ) -> int:
        action = JobAction(action)
        workdir = self._workdir(submission)
        wanted = None if procs is None else {int(p) for p in procs}
        targets = [
            int(ad["ProcId"])
            for ad in workdir.ads()
            if int(ad["JobStatus"]) in _ELIGIBLE[action] and (wanted is None or int(ad["ProcId"]) in wanted)
        ]
        if not targets:
            return 0
        request = workdir.add_request(action.value, targets, reason)
        self.ensure_runner(submission)
        deadline = time.monotonic() + (self.act_timeout_s if self.autostart else 0.0)
        while not workdir.request_done(request) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.autostart and not workdir.request_done(request):
            log.warning("The runner of %s has not applied %s yet; it will when it gets to it", workdir.path, request.name)
        return len(targets)

    def ensure_runner(self, submission: Submission, ads: Sequence[classad2.ClassAd] | None = None) -> bool:
        """Start the submission's runner if it has work and none is alive; True if one was started."""
        workdir = self._workdir(submission)
        if not self.autostart or workdir.runner_alive() or not workdir.has_work(ads):
            return False
        self._start_runner(workdir)
        return True

    def _start_runner(self, workdir: Workdir) -> None:
        env = dict(os.environ)
        existing = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(PLUGINS_DIR)]
        env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS_DIR), *existing])
        if self.slots is not None:
            env["PRODOPS_LOCAL_SLOTS"] = str(self.slots)
        argv = [self.python, "-m", "prodops.batch.local.runner", "--detach", str(workdir.path)]
        with open(workdir.runner_log, "ab") as runner_log:
            launcher = subprocess.Popen(
                argv, cwd=workdir.path, env=env, stdin=subprocess.DEVNULL, stdout=runner_log,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        try:
            code = launcher.wait(timeout=self.runner_start_timeout_s)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
            raise BackendUnavailable(
                f"the local pool runner for {workdir.path} did not start within {self.runner_start_timeout_s:.0f} s; "
                f"see {workdir.runner_log}"
            ) from None
        if code != 0:
            raise BackendUnavailable(
                f"the local pool runner for {workdir.path} failed to start (exit {code}); see {workdir.runner_log}"
            )
        log.info("Started the local pool runner for %s", workdir.path)

    def _workdir(self, submission: Submission) -> Workdir:
        if submission.backend != self.name:
            raise ValueError(
                f"submission of cluster {submission.cluster_id} belongs to backend {submission.backend!r}, "
                f"not {self.name!r}; get its backend with prodops.batch.registry.get_backend"
            )
        workdir = Workdir(submission.workdir)
        if not workdir.submission_file.exists():
            raise BackendUnavailable(
                f"local pool workdir {workdir.path} of cluster {submission.cluster_id} is missing or incomplete; "
                "restore it (its jobs' ads and event log live there) or resubmit the stage"
            )
        return workdir


def _note_lagging(feed: Feed, events: Sequence[JobEventRecord], cluster: int, shown: int = -1) -> None:
    """Note the jobs of ``cluster`` the events name, past the ads' mark ``shown``, as lagging."""
    lagging = feed.lagging
    for event in events:
        if event.cluster_id == cluster and event.log_offset > shown:
            lagging[event.proc_id] = max(lagging.get(event.proc_id, -1), event.log_offset)
