"""The HTCondor backend: submit to and track a real pool's schedd with the htcondor2 bindings.

One stage submission is one cluster (``Schedd.submit`` with itemdata, one item per job),
every job tagged ``ProdopsRequest`` / ``ProdopsStage`` / ``ProdopsAttempt`` /
``ProdopsSubmission`` and ``JobBatchName`` (see :func:`~prodops.batch.submit.render_submit`).

Tracking follows the job event log, as DAGMan and Pegasus do (a tracker passes its
:class:`~prodops.batch.base.Feed`): a poll reads the new event-log records from the stored
offset and asks the schedd only about the jobs they name, in one ``Schedd.query`` constrained
to them (``ClusterId == C && member(ProcId, {...})``, projected on
:func:`~prodops.batch.classads.job_projection`), plus, when events say a job ended (terminated
or aborted) and it is no longer queued, one ``Schedd.history`` of the submission ``since`` its
history cursor (what left the queue since the last read, each job once). A poll that reads
no new record makes no schedd call. A full poll, the reconciliation, runs on a tracker's first
poll and then at most every ``reconcile_interval`` seconds, and repairs whatever the log
missed: one ``Schedd.query`` of the whole submission, constrained on its cluster and tag; when
jobs have left the queue, one ``Schedd.history`` with the same constraint and ``since`` the
newest history record already stored (the submission's history cursor), so every finished job
is fetched once; then the event log. Where the event log cannot be read (``event_log_feed=False``,
or no log after the first full poll: no shared filesystem with the submit host), every poll is
a full one, as it is for callers that pass no feed; a tracker logs that once.

htcondor2 has no per-call timeout, so every call runs in a worker thread with a deadline
(and the bindings' own time-limit knobs are lowered to it). A schedd that does not answer,
or answers with a connection error, raises :class:`~prodops.exceptions.BackendUnavailable`:
tracking retries and never marks a job failed because of it.

The job event log is written by the schedd on the submit host into the submission's
workdir: the Airflow components that track must see that directory (same host or a shared
filesystem).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import classad2
import htcondor2

from prodops.batch.base import (
    RECONCILE_INTERVAL_S, Feed, JobAction, JobEventRecord, PollResult, Submission, SubmissionSpec,
)
from prodops import config
from prodops.batch.classads import MappingConfig, job_projection
from prodops.batch.eventlog import EventLogRead, log_end, read_event_log, rotated_logs
from prodops.batch.grid import PoolSubmit
from prodops.batch.submit import EVENT_LOG_NAME, item_rows, render_submit
from prodops.exceptions import BackendUnavailable, SubmitFailed

log = logging.getLogger(__name__)

T = TypeVar("T")

_ACTIONS = {
    JobAction.HOLD: htcondor2.JobAction.Hold,
    JobAction.RELEASE: htcondor2.JobAction.Release,
    JobAction.REMOVE: htcondor2.JobAction.Remove,
}
_UNREACHABLE = re.compile(
    r"connect|timed? ?out|timeout|communicat|refused|unreachable|resolve|no route|authenticat|"
    r"security|permission|locate|DNS",
    re.IGNORECASE,
)
SUBMIT_LOOKBACK_S = 7 * 86400
"""How far back in the schedd's history a resubmit looks for jobs of the same submission."""
MAX_EVENTS = 5000
"""Events one poll reads at most; the rest of the log is read from the returned offset next poll."""
MAX_FEED_JOBS = 2000
"""Jobs one event-log poll asks the schedd about by id at most; more named jobs take a full query."""
_ENDED = frozenset(("JOB_TERMINATED", "JOB_ABORTED"))


class PoolCheckFailed(BackendUnavailable):
    """The pool of the HTCondor connection cannot be used: ``part`` says what failed (``token``:
    a token file or directory cannot be read; ``collector``: unreachable; ``schedd``: not known to
    the collector, or not answering). The message names the connection, the thing and the fix."""

    def __init__(self, part: str, message: str) -> None:
        self.part = part
        super().__init__(message)


def token_problems(settings: Any) -> list[str]:
    """Why the connection's IDTOKEN files cannot be read by this process (empty: they can)."""
    where = f"connection {settings.conn_id!r}"
    fix = "make it readable by the user the Airflow components run as"

    def unreadable(path: str) -> str | None:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as err:
            return err.strerror
        return None

    problems = []
    if settings.token_file and (why := unreadable(settings.token_file)):
        problems.append(f"extra.token_file {settings.token_file!r} of {where} cannot be read ({why}); {fix}")
    if settings.token_dir:
        try:
            names = sorted(os.listdir(settings.token_dir))
        except OSError as err:
            problems.append(f"extra.token_dir {settings.token_dir!r} of {where} cannot be listed ({err.strerror}); {fix}")
            names = None
        if names == []:
            problems.append(f"extra.token_dir {settings.token_dir!r} of {where} holds no token; "
                            "put the pool's IDTOKEN there (condor_token_fetch -tokenfile ...)")
        for name in names or ():
            path = os.path.join(settings.token_dir, name)
            if why := unreadable(path):
                problems.append(f"token {path!r} in extra.token_dir of {where} cannot be read ({why}); {fix}")
    return problems


class ScheddLike(Protocol):
    """The four ``htcondor2.Schedd`` methods prodops calls (tests pass a fake with their signatures)."""

    def submit(self, description: htcondor2.Submit, count: int = ..., spool: bool = ...,
               itemdata: Any = ..., queue: str | None = ...) -> Any: ...

    def query(self, constraint: Any = ..., projection: list[str] = ..., callback: Any = ...,
              limit: int = ..., opts: Any = ...) -> list[classad2.ClassAd]: ...

    def history(self, constraint: Any = ..., projection: list[str] = ..., match: int = ...,
                since: Any = ...) -> list[classad2.ClassAd]: ...

    def act(self, action: htcondor2.JobAction, job_spec: Any, reason: Any = ...) -> Any: ...


class HTCondorBackend:
    """Submits stages to one schedd and tracks them there.

    The pool comes from the Airflow connection ``conn_id`` (see :mod:`prodops.hooks.htcondor`),
    resolved on first use, or :meth:`aprepare` in a trigger; ``settings`` gives it directly.
    ``schedd_factory`` replaces locating the schedd (tests pass a fake schedd). ``reconcile_interval``
    (seconds) spaces the full queries of a tracker that follows the event log;
    ``event_log_feed=False`` makes every poll a full query (the tracking host cannot read the
    submissions' event logs); ``max_feed_jobs`` caps the jobs one poll asks about by id. ``mapping``
    decides the projection of its queries (default: :func:`prodops.config.ad_mapping`, the
    site chain of ``PRODOPS_SITE_ATTRIBUTES``).
    """

    name = "htcondor"
    follows_event_log = True
    """:meth:`poll` takes a tracker's :class:`~prodops.batch.base.Feed`."""

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        settings: Any | None = None,
        schedd_factory: Callable[[], ScheddLike] | None = None,
        mapping: MappingConfig | None = None,
        timeout_s: float | None = None,
        submit_lookback_s: int = SUBMIT_LOOKBACK_S,
        max_events: int | None = MAX_EVENTS,
        reconcile_interval: float = RECONCILE_INTERVAL_S,
        event_log_feed: bool = True,
        max_feed_jobs: int = MAX_FEED_JOBS,
        clock: Callable[[], float] = time.monotonic,
        pool_submit: PoolSubmit | None = None,
    ) -> None:
        self.conn_id = conn_id
        self._settings = settings
        self._factory = schedd_factory
        self.mapping = mapping if mapping is not None else config.ad_mapping()
        self._timeout_s = timeout_s
        self.submit_lookback_s = submit_lookback_s
        self.max_events = max_events
        self.reconcile_interval = float(reconcile_interval)
        self.event_log_feed = event_log_feed
        self.max_feed_jobs = max_feed_jobs
        self._clock = clock
        self.projection = job_projection(self.mapping)
        self._schedd: ScheddLike | None = None
        self._lock = threading.RLock()  # _locate runs under it and may forget the schedd on failure
        self._pool_submit = pool_submit
        self._checked = False

    # ---- pool ------------------------------------------------------------------------------

    async def aprepare(self) -> None:
        """Resolve the connection asynchronously (a trigger's event loop must not block on it)."""
        if self._settings is None and self._factory is None:
            from prodops.hooks.htcondor import DEFAULT_CONN_ID, HTCondorHook

            self._settings = await HTCondorHook(self.conn_id or DEFAULT_CONN_ID).aget_settings()

    @property
    def settings(self) -> Any | None:
        if self._settings is None and self._factory is None:
            from prodops.hooks.htcondor import DEFAULT_CONN_ID, HTCondorHook

            self._settings = HTCondorHook(self.conn_id or DEFAULT_CONN_ID).get_settings()
        return self._settings

    @property
    def timeout_s(self) -> float:
        if self._timeout_s is not None:
            return self._timeout_s
        settings = self.settings
        return float(settings.timeout_s) if settings is not None else 60.0

    @property
    def pool_submit(self) -> PoolSubmit:
        """What every job gets from the pool (the connection's extras), unless given at construction."""
        if self._pool_submit is not None:
            return self._pool_submit
        settings = self.settings
        return getattr(settings, "submit", None) or PoolSubmit()

    def check(self) -> str:
        """Check the pool as configured, before anything is submitted: the connection's tokens can
        be read, the collector answers, it knows the schedd, and the schedd answers a query.
        Returns the schedd in words; raises :class:`PoolCheckFailed` naming what failed and the fix
        (or :class:`~prodops.hooks.htcondor.PoolConfigError` for a malformed connection)."""
        schedd = self._get_schedd()
        try:
            self._call("answer a query", schedd.query, "false", ["ClusterId"], None, 1)
        except BackendUnavailable as err:
            raise PoolCheckFailed(
                "schedd", f"{self.where} was located but does not answer: {err}; check that it is up and that "
                f"this host may query it (ALLOW_READ, the token's scopes)") from err
        self._checked = True
        return self.where

    @property
    def where(self) -> str:
        settings = self.settings
        return settings.where if settings is not None else "the schedd"

    def _get_schedd(self) -> ScheddLike:
        with self._lock:
            if self._schedd is None:
                self._schedd = self._factory() if self._factory is not None else self._locate()
            return self._schedd

    def _locate(self) -> htcondor2.Schedd:
        from prodops.hooks.htcondor import apply_settings

        settings = self.settings
        assert settings is not None, "the schedd is located only without a factory, so with settings"
        problems = token_problems(settings)
        if problems:
            raise PoolCheckFailed("token", "; ".join(problems))
        apply_settings(settings)
        if settings.schedd_address:
            location = classad2.ClassAd({"MyAddress": settings.schedd_address, "CondorVersion": htcondor2.version()})
            return htcondor2.Schedd(location)
        collector_name = settings.collector or "of this machine's condor_config (COLLECTOR_HOST)"

        def collector() -> Any:
            return htcondor2.Collector(settings.collector) if settings.collector else htcondor2.Collector()

        try:
            self._call("reach the collector", lambda: collector().query(htcondor2.AdType.Collector, projection=["Name"]))
        except BackendUnavailable as err:
            raise PoolCheckFailed(
                "collector", f"the collector {collector_name} of connection {settings.conn_id!r} is unreachable: "
                f"{err}; check the connection's host and port, the network, and the client security settings "
                "(extra.config, the token)") from err
        if settings.schedd_name:
            constraint = f"Name == {classad2.quote(settings.schedd_name)}"
            known = self._call("find the schedd", lambda: collector().query(
                htcondor2.AdType.Schedd, constraint=constraint, projection=["Name"]))
            if not known:
                raise PoolCheckFailed(
                    "schedd", f"schedd {settings.schedd_name!r} is not known to the collector {collector_name}; check "
                    f"extra.schedd of connection {settings.conn_id!r} (`condor_status -schedd` lists the names) or "
                    "whether the schedd is up")

        def locate() -> classad2.ClassAd | None:
            return collector().locate(htcondor2.DaemonType.Schedd, settings.schedd_name)

        location = self._call("locate the schedd", locate)
        if location is None:
            raise PoolCheckFailed(
                "schedd", f"{settings.where} is not known to the collector; check extra.schedd of connection "
                f"{settings.conn_id!r} (`condor_status -schedd` lists the names) or whether the schedd is up"
            )
        return htcondor2.Schedd(location)

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, abandoned after :attr:`timeout_s`."""
        box: dict[str, Any] = {}
        finished = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = err
            finally:
                finished.set()

        timeout = self.timeout_s
        worker = threading.Thread(target=run, name=f"htcondor-{what.replace(' ', '-')}", daemon=True)
        worker.start()
        if not finished.wait(timeout):
            self._forget_schedd()
            raise BackendUnavailable(
                f"{self.where} did not answer '{what}' within {timeout:g} s; it is down or overloaded "
                "(raise extra.timeout_s of the HTCondor connection if it is only slow); nothing was marked failed"
            )
        error = box.get("error")
        if error is None:
            value: T = box["value"]
            return value
        if isinstance(error, (htcondor2.HTCondorException, OSError, RuntimeError)):
            if what != "submit" or _UNREACHABLE.search(str(error)):
                self._forget_schedd()
                raise BackendUnavailable(f"{self.where} could not be reached for '{what}': {error}") from error
        raise error

    def _forget_schedd(self) -> None:
        """Locate it again next time (it may have moved or restarted)."""
        if self._factory is None:
            with self._lock:
                self._schedd = None

    # ---- Backend ---------------------------------------------------------------------------

    def submit(self, spec: SubmissionSpec) -> Submission:
        """One cluster for the stage; a second call for the same ``spec.key`` finds the first."""
        submit = render_submit(spec, self.pool_submit)
        if not self._checked:
            self.check()
        workdir = os.path.abspath(spec.workdir)
        Path(workdir).mkdir(parents=True, exist_ok=True)  # the schedd writes the event log and outputs there
        schedd = self._get_schedd()
        existing = self._existing(schedd, spec)
        if existing is not None:
            log.info("Submission %s is already cluster %d on %s; not submitting again", spec.key, existing, self.where)
            return self._handle(spec, existing, len(spec.items))
        items = item_rows(submit)
        try:
            result = self._call("submit", schedd.submit, submit, itemdata=iter(items))
        except (htcondor2.HTCondorException, OSError, RuntimeError, ValueError, TypeError) as err:
            raise SubmitFailed(f"{self.where} refused submission {spec.key}: {err}") from err
        cluster_id, num_procs = int(result.cluster()), int(result.num_procs())
        if num_procs != len(items):
            raise SubmitFailed(
                f"{self.where} queued {num_procs} jobs for submission {spec.key} (cluster {cluster_id}) "
                f"instead of {len(items)}; inspect the cluster with condor_q {cluster_id} and remove it before resubmitting"
            )
        log.info("Submitted %s as cluster %d on %s: %d jobs", spec.key, cluster_id, self.where, num_procs)
        return self._handle(spec, cluster_id, num_procs)

    def _existing(self, schedd: ScheddLike, spec: SubmissionSpec) -> int | None:
        """The cluster already holding jobs tagged with ``spec.key`` (queue, then recent history)."""
        constraint = f"ProdopsSubmission == {classad2.quote(spec.key)}"
        ads = self._call("query", schedd.query, constraint, ["ClusterId", "ProcId"], None, 1)
        if not ads:
            since = f"QDate < {int(time.time()) - self.submit_lookback_s}"
            ads = self._call("history", schedd.history, constraint, ["ClusterId", "ProcId"], 1, since)
        return int(ads[0]["ClusterId"]) if ads else None

    def _handle(self, spec: SubmissionSpec, cluster_id: int, num_jobs: int) -> Submission:
        workdir = os.path.abspath(spec.workdir)
        return Submission(
            backend=self.name,
            cluster_id=cluster_id,
            num_jobs=num_jobs,
            event_log=os.path.join(workdir, EVENT_LOG_NAME),
            workdir=workdir,
            schedd=self.where,
            key=spec.key,
        )

    def constraint(self, submission: Submission) -> str:
        """The submission's jobs: its cluster, and its tag when the handle knows it."""
        self._check(submission)
        text = f"ClusterId == {int(submission.cluster_id)}"
        if submission.key:
            text += f" && ProdopsSubmission == {classad2.quote(submission.key)}"
        return text

    def poll(
        self, submission: Submission, offset: int = 0, history_cursor: str | None = None, *, feed: Feed | None = None
    ) -> PollResult:
        """Ads of the jobs that changed, and events after ``offset``.

        Without ``feed``, or when the tracker's feed fell back, a full poll: every queued job's
        ad, history ads written since ``history_cursor``, then the events. With ``feed``: a full
        poll on the first call and whenever ``reconcile_interval`` has passed since the last
        one, otherwise the new events and the ads of only the jobs they name
        (``complete=False``). At most :attr:`max_events` events: when the read stops there,
        ``more_events`` says so. Garbled or unknown events are skipped and returned as ``problems``.
        """
        self._check(submission)
        if feed is None:
            return self._full_poll(submission, offset, history_cursor)
        if not feed.fallback and not self.event_log_feed:
            feed.fallback = True
            log.info("Cluster %d: event log feed off for this backend; every cycle queries the whole submission",
                     submission.cluster_id)
        now = self._clock()
        if feed.fallback or feed.due or feed.last_full is None or now - feed.last_full >= self.reconcile_interval:
            first = feed.last_full is None
            feed.due = False
            result = self._full_poll(submission, offset, history_cursor, feed=feed)
            feed.last_full = now
            feed.full_polls += 1
            if first and not feed.fallback and not self._log_exists(submission):
                feed.fallback = True
                log.warning(
                    "Cluster %d: its event log %s does not exist after the first full query (no shared filesystem "
                    "with the submit host?); tracking falls back to a full query of the submission every cycle",
                    submission.cluster_id, submission.event_log,
                )
            return result
        feed.feed_polls += 1
        result = self._feed_poll(submission, offset, history_cursor, feed)
        if result.complete:
            feed.last_full = now
        return result

    @staticmethod
    def _log_end(submission: Submission) -> int:
        try:
            return log_end(submission.event_log) if submission.event_log else 0
        except OSError:
            return 0  # unreadable: the read that follows says so

    @staticmethod
    def _log_exists(submission: Submission) -> bool:
        path = submission.event_log
        return bool(path) and (os.path.exists(path) or bool(rotated_logs(path)))

    def _read_log(self, submission: Submission, offset: int) -> EventLogRead:
        try:
            return read_event_log(submission.event_log, offset, limit=self.max_events, submitted=submission.submitted)
        except OSError as err:
            raise BackendUnavailable(
                f"the event log {submission.event_log} of cluster {submission.cluster_id} cannot be read ({err}); "
                "the tracking host must see the submission's workdir (same host or shared filesystem)"
            ) from err

    def _full_poll(self, submission: Submission, offset: int, history_cursor: str | None,
                   read: EventLogRead | None = None, feed: Feed | None = None) -> PollResult:
        """Every queued job's ad, the history since ``history_cursor``, and the events (unless read already).

        With ``feed``, notes where the log ended before the query (:attr:`Feed.horizon`) and the
        jobs of the events read past it, which the next poll asks about again (:attr:`Feed.recheck`).
        """
        schedd = self._get_schedd()
        constraint = self.constraint(submission)
        if feed is not None and not feed.fallback:
            feed.horizon = self._log_end(submission)
        # Ads before the log: a state the ads show has its event in the log by the time it is read.
        queued = self._call("query", schedd.query, constraint, self.projection)
        calls = 1
        ads = list(queued)
        cursor = history_cursor
        if len(queued) < submission.num_jobs:
            finished = self._call("history", schedd.history, constraint, self.projection, -1, history_cursor or None)
            calls += 1
            if finished:
                newest = finished[0]  # history answers newest record first
                cursor = f"{int(newest['ClusterId'])}.{int(newest['ProcId'])}"
                ads.extend(finished)
        if read is None:
            read = self._read_log(submission, offset)
        if feed is not None and not feed.fallback:
            horizon, cluster = feed.horizon, int(submission.cluster_id)
            feed.recheck = {r.proc_id for r in read.records if r.log_offset > horizon and r.cluster_id == cluster}
        log.debug("Cluster %d: full poll, %d queued, %d from history, %d events, %d bad", submission.cluster_id,
                  len(queued), len(ads) - len(queued), len(read.records), len(read.problems))
        return PollResult(ads=ads, events=read.records, offset=read.offset, history_cursor=cursor,
                          problems=read.problems, more_events=read.more, schedd_calls=calls)

    def _feed_poll(self, submission: Submission, offset: int, history_cursor: str | None, feed: Feed) -> PollResult:
        """The new events, and the ads of the jobs they name (history for those that ended and left).

        Events before the feed's horizon (a log read behind the last full query: a first cycle's
        catching up) name no job, their effect being in that query's ads; nor do end events of
        jobs whose final ad is stored (:attr:`Feed.settled`) call for a history read.
        """
        read = self._read_log(submission, offset)
        cluster = int(submission.cluster_id)
        horizon = feed.horizon
        named, ended = _named_jobs([r for r in read.records if r.log_offset > horizon], cluster)
        ended = {proc for proc in ended if proc not in feed.settled}
        named |= feed.recheck
        feed.recheck = set()
        if len(named) > self.max_feed_jobs:
            log.debug("Cluster %d: %d jobs changed, more than %d; one full query instead", cluster, len(named),
                      self.max_feed_jobs)
            return self._full_poll(submission, offset, history_cursor, read, feed)
        ads: list[classad2.ClassAd] = []
        calls = 0
        if named:
            schedd = self._get_schedd()
            queued = self._call("query", schedd.query, self._jobs_constraint(submission, named), self.projection)
            calls += 1
            ads.extend(queued)
            gone = ended - {int(ad["ProcId"]) for ad in queued}
            if gone:
                # The submission's history since the cursor, as a full poll reads it: the jobs that
                # ended and left, and any other job of it that left since (whose events may come
                # next), each fetched once; the scan stops at the cursor, so it costs what left.
                finished = self._call("history", schedd.history, self.constraint(submission), self.projection, -1,
                                      history_cursor or None)
                calls += 1
                if finished:
                    newest = finished[0]  # history answers newest record first
                    history_cursor = f"{int(newest['ClusterId'])}.{int(newest['ProcId'])}"
                    ads.extend(finished)
                unseen = gone - {int(ad["ProcId"]) for ad in finished}
                if unseen:
                    # The log says they ended, the schedd shows them nowhere: reconcile now (the whole
                    # queue; with this history read, a full poll) so the tracker can look for them.
                    log.info("Cluster %d: job(s) %s ended per the event log but are in neither the queue nor the "
                             "history read; querying the whole submission", cluster, sorted(unseen)[:10])
                    feed.horizon = self._log_end(submission)
                    queued = self._call("query", schedd.query, self.constraint(submission), self.projection)
                    calls += 1
                    return PollResult(ads=[*queued, *finished], events=read.records, offset=read.offset,
                                      history_cursor=history_cursor, problems=read.problems, more_events=read.more,
                                      schedd_calls=calls)
        log.debug("Cluster %d: %d events named %d jobs (%d ended); %d ads, %d schedd calls", cluster,
                  len(read.records), len(named), len(ended), len(ads), calls)
        return PollResult(ads=ads, events=read.records, offset=read.offset, history_cursor=history_cursor,
                          problems=read.problems, more_events=read.more, complete=False, schedd_calls=calls)

    def _jobs_constraint(self, submission: Submission, procs: set[int]) -> str:
        """The submission's jobs among ``procs``: ``ClusterId == C && member(ProcId, {...})`` and its tag."""
        ids = ", ".join(str(proc) for proc in sorted(procs))
        text = f"ClusterId == {int(submission.cluster_id)} && member(ProcId, {{{ids}}})"
        if submission.key:
            text += f" && ProdopsSubmission == {classad2.quote(submission.key)}"
        return text

    def history(self, submission: Submission, since: int | str | None = None) -> list[classad2.ClassAd]:
        """Ads of the submission's jobs that left the queue (written after job id ``since``, if given)."""
        schedd = self._get_schedd()
        return self._call("history", schedd.history, self.constraint(submission), self.projection, -1, since)

    def act(
        self, submission: Submission, action: JobAction, reason: str, procs: Sequence[int] | None = None
    ) -> int:
        """Hold, release or remove jobs of the submission, with ``reason``; how many the schedd changed."""
        action = JobAction(action)
        if procs is not None and not procs:
            return 0
        schedd = self._get_schedd()
        if procs is None:
            job_spec: Any = self.constraint(submission)
        else:
            job_spec = [f"{int(submission.cluster_id)}.{int(proc)}" for proc in procs]
        # htcondor2's Schedd.act drops a plain string reason; a (reason, code) tuple carries it.
        result = self._call(action.value.lower(), schedd.act, _ACTIONS[action], job_spec, (reason or "by prodops", 0))
        changed = int(result.get("TotalSuccess", 0)) if result is not None else 0
        log.info("%s %d job(s) of cluster %d on %s: %s", action.value, changed, submission.cluster_id,
                 self.where, reason)
        return changed

    def _check(self, submission: Submission) -> None:
        if submission.backend != self.name:
            raise ValueError(
                f"submission of cluster {submission.cluster_id} belongs to backend {submission.backend!r}, "
                f"not {self.name!r}; get its backend with prodops.batch.registry.get_backend"
            )


def _named_jobs(events: Sequence[JobEventRecord], cluster: int) -> tuple[set[int], set[int]]:
    """Procs of ``cluster`` the events name, and those among them whose events say they ended."""
    named: set[int] = set()
    ended: set[int] = set()
    for event in events:
        if event.cluster_id == cluster:
            named.add(event.proc_id)
            if event.event_type in _ENDED:
                ended.add(event.proc_id)  # kept whatever follows (a job-ad-information event may)
    return named, ended
