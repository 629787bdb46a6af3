"""A fake ``htcondor2.Schedd``: the bindings' method signatures, real ClassAds, a queue and a history.

``submit``, ``query``, ``history`` and ``act`` have exactly the signatures of
``htcondor2.Schedd`` (tests/unit/batch/test_htcondor.py compares them with ``inspect``), take
the same argument forms and answer with ``classad2.ClassAd`` objects and a real
``htcondor2.SubmitResult``. Jobs get the ads a schedd gives them (``prodops.batch.jobads``
builds them from the expanded submit description) and the schedd's job event log is
written with :class:`~prodops.batch.eventlog.EventLogWriter`, so the backend reads real
events through ``htcondor2.JobEventLog``.

Tests drive the jobs' lives with :meth:`FakeSchedd.execute`, :meth:`terminate`,
:meth:`hold`, :meth:`evict`, :meth:`update`; :attr:`unreachable` and :attr:`delay_s`
simulate a schedd that is down or hangs; :attr:`calls` records every call.

No ``from __future__ import annotations`` here: the annotations must be the same objects
as the bindings' for the signatures to compare equal.
"""

import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import classad2
import htcondor2
from htcondor2._query_opt import QueryOpt
from htcondor2._schedd import DefaultItemData

from prodops.batch.eventlog import EventLogWriter, ResourceUsage, Usage
from prodops.batch.jobads import new_job_ad
from prodops.batch.submit import ITEM_VARIABLE, expand_jobs

JobId = Tuple[int, int]
_JOB_ID = re.compile(r"(\d+)\.(\d+)")
_CLUSTER = re.compile(r"\d+")
_ONE_JOB = re.compile(r"\s*ClusterId\s*==\s*(\d+)\s*&&\s*ProcId\s*==\s*(\d+)\s*(?:&&[^|?]*)?$")
_SOME_JOBS = re.compile(
    r"\s*ClusterId\s*==\s*(\d+)\s*&&\s*member\(\s*ProcId\s*,\s*\{([\d,\s]*)\}\s*\)\s*(?:&&[^|?]*)?$"
)
_VERB = {htcondor2.JobAction.Hold: "hold", htcondor2.JobAction.Release: "release",
         htcondor2.JobAction.Remove: "rm"}


class FakeSchedd:
    """One schedd with a queue and a history file, in memory."""

    def __init__(self, *, first_cluster: int = 100, host: str = "submit01.example.org", owner: str = "prodops") -> None:
        self.host = host
        self.owner = owner
        self.next_cluster = first_cluster
        self.queue: Dict[JobId, classad2.ClassAd] = {}
        self.history_ads: List[classad2.ClassAd] = []
        """The history file, oldest record first."""
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.unreachable = False
        self.delay_s = 0.0
        self._versions: Dict[JobId, int] = {}
        self._projected: Dict[JobId, Tuple[int, Tuple[str, ...], classad2.ClassAd]] = {}
        self._logs: Dict[str, EventLogWriter] = {}
        self._lock = threading.RLock()

    # ---- htcondor2.Schedd's API ----------------------------------------------------------

    def submit(self,
        description: htcondor2.Submit,
        count: int = 0,
        spool: bool = False,
        itemdata: Optional[Union[Iterator[str], Iterator[dict]]] = DefaultItemData,
        queue: str = None,
    ) -> htcondor2.SubmitResult:
        self._enter("submit", count=count, spool=spool, queue=queue)
        if not isinstance(description, htcondor2.Submit):
            raise TypeError("description must be an htcondor2.Submit object")
        if queue is not None and (itemdata is not DefaultItemData or count != 0):
            raise ValueError("queue and count/itemdata are mutually exclusive")
        template = {key: value for key, value in description.items()}
        submit = htcondor2.Submit(template)
        if itemdata is DefaultItemData:
            submit.setQArgs(description.getQArgs())
            items = [item if isinstance(item, dict) else {ITEM_VARIABLE: item} for item in description.itemdata() or []]
        else:
            items = [item if isinstance(item, dict) else {ITEM_VARIABLE: item} for item in (itemdata or [])]
        if items:
            names = list(items[0])
            if ITEM_VARIABLE not in names or any(list(item) != names for item in items):
                raise ValueError(f"every itemdata entry needs the same variables, {ITEM_VARIABLE!r} among them")
            names.remove(ITEM_VARIABLE)
            names.append(ITEM_VARIABLE)  # the last variable takes the rest of the line
            rows = [" ".join(str(item[n]).strip() for n in names) for item in items]
            submit.setQArgs(f"{', '.join(names)} from (\n" + "\n".join(rows) + "\n)")
        with self._lock:
            cluster = self.next_cluster
            self.next_cluster += 1
            now = int(time.time())
            jobs = expand_jobs(submit, cluster)
            for job in jobs:
                ad = new_job_ad(job, qdate=now, owner=self.owner, submit_host=self.host)
                self._put(ad)
                self._log(ad).submit(cluster, job.proc_id, when=now)
            cluster_ad = classad2.ClassAd({"ClusterId": cluster, "NumProcs": len(jobs)})
            return htcondor2.SubmitResult(cluster, 0, len(jobs), cluster_ad, None)

    def query(self,
        constraint: Union[str, classad2.ExprTree] = 'True',
        projection: List[str] = [],  # noqa: B006 - the bindings' signature, checked by a test
        callback: Callable[[classad2.ClassAd], Any] = None,
        limit: int = -1,
        opts: QueryOpt = QueryOpt.Default,
    ) -> List[classad2.ClassAd]:
        self._enter("query", constraint=str(constraint), projection=list(projection), limit=limit)
        test = classad2.ExprTree(str(constraint))
        with self._lock:
            results = []
            for job, ad in self._candidates(str(constraint)):
                if limit >= 0 and len(results) >= limit:
                    break
                if test.eval(ad) is True:
                    results.append(self._project(job, ad, projection))
        if callback is None:
            return results
        return [r for r in (callback(ad) for ad in results) if r is not None]

    def history(self,
        constraint: Optional[Union[str, classad2.ExprTree]] = None,
        projection: List[str] = [],  # noqa: B006 - the bindings' signature, checked by a test
        match: int = -1,
        since: Union[int, str, classad2.ExprTree] = None,
    ) -> List[classad2.ClassAd]:
        self._enter("history", constraint=None if constraint is None else str(constraint),
                    projection=list(projection), match=match, since=None if since is None else str(since))
        test = classad2.ExprTree(str(constraint)) if constraint is not None else None
        stop = _since_expression(since)
        results = []
        with self._lock:
            for ad in reversed(self.history_ads):  # newest record first, as condor_history reads
                if stop is not None and stop.eval(ad) is True:
                    break
                if test is None or test.eval(ad) is True:
                    results.append(_projected(ad, projection))
                    if 0 <= match <= len(results):
                        break
        return results

    def act(self,
        action: htcondor2.JobAction,
        job_spec: Union[List[str], str, classad2.ExprTree, int],
        reason: str = None,
    ) -> classad2.ClassAd:
        self._enter("act", action=action, job_spec=job_spec, reason=reason)
        if not isinstance(action, htcondor2.JobAction):
            raise TypeError("action must be a JobAction")
        # As htcondor2 25.x: a plain string reason is dropped, a (reason, code) tuple carries it.
        if reason is None or not isinstance(reason, tuple):
            text, code = f"via condor_{_VERB.get(action, 'act')} (by user {self.owner})", 0
        else:
            text, code = reason[0], int(reason[1] or 0)
        totals = {"TotalSuccess": 0, "TotalNotFound": 0, "TotalBadStatus": 0}
        with self._lock:
            jobs = self._select(job_spec)
            totals["TotalNotFound"] = sum(1 for job in jobs if job not in self.queue)
            for job in [j for j in jobs if j in self.queue]:
                if self._apply(action, job, text, code):
                    totals["TotalSuccess"] += 1
                else:
                    totals["TotalBadStatus"] += 1
        result = classad2.ClassAd(totals)
        result["TotalJobAds"] = len(jobs)
        result["TotalChangedAds"] = totals["TotalSuccess"]
        return result

    # ---- driving jobs (what the pool would do) -------------------------------------------

    def ad(self, cluster: int, proc: int) -> classad2.ClassAd:
        return self.queue[(cluster, proc)]

    def put(self, ad: classad2.ClassAd) -> None:
        """Queue (or replace) a job ad as it is, e.g. a synthetic one."""
        with self._lock:
            self._put(ad)

    def update(self, cluster: int, proc: int, **attributes: Any) -> None:
        with self._lock:
            ad = self.queue[(cluster, proc)]
            for name, value in attributes.items():
                if value is None:
                    ad.pop(name, None)
                else:
                    ad[name] = value
            self._touch((cluster, proc))

    def execute(self, cluster: int, proc: int, *, slot: str = "slot1_1@wn-001.example.org",
                ip: str = "10.1.0.1", site: str = "Example_Site", cpu_model: str = "Intel(R) Xeon(R) Gold 6248",
                cpu_vendor: str = "GenuineIntel", when: Optional[int] = None) -> None:
        now = int(when or time.time())
        with self._lock:
            ad = self.queue[(cluster, proc)]
            address = f"<{ip}:9618?addrs={ip}-9618&alias={slot.split('@')[-1]}>"
            self._log(ad).execute(cluster, proc, slot_name=slot, when=now)
            ad["LastJobStatus"] = int(ad["JobStatus"])
            ad["JobStatus"] = 2
            ad["EnteredCurrentStatus"] = now
            ad["JobCurrentStartDate"] = now
            if "JobStartDate" not in ad:
                ad["JobStartDate"] = now
            for name in ("NumJobStarts", "NumShadowStarts", "JobRunCount"):
                ad[name] = int(ad.get(name) or 0) + 1
            ad["RemoteHost"] = slot
            ad["StartdIpAddr"] = address
            ad["MATCH_EXP_JOB_GLIDEIN_Site"] = site
            ad["MachineAttrGLIDEIN_Site0"] = site
            ad["MachineAttrCPUModel0"] = cpu_model
            ad["MachineAttrCPUVendor0"] = cpu_vendor
            self._touch((cluster, proc))

    def terminate(self, cluster: int, proc: int, *, exit_code: Optional[int] = None, signal: Optional[int] = None,
                  wall_s: float = 60.0, user_cpu_s: float = 50.0, sys_cpu_s: float = 2.0,
                  when: Optional[int] = None, leave_queue: bool = True) -> None:
        now = int(when or time.time())
        with self._lock:
            ad = self.queue[(cluster, proc)]
            usage = Usage(user_cpu_s, sys_cpu_s)
            self._log(ad).terminated(
                cluster, proc, return_value=exit_code if signal is None else None, signal=signal,
                run_usage=usage, resources=[ResourceUsage("Cpus", 1, 1, 1)], when=now,
            )
            self._end_run(ad, wall_s, usage)
            ad["ExitBySignal"] = signal is not None
            if signal is None:
                ad["ExitCode"] = int(exit_code or 0)
            else:
                ad["ExitSignal"] = int(signal)
            ad["CompletionDate"] = now
            self._status(ad, 4, now)
            self._touch((cluster, proc))
            if leave_queue:
                self._leave((cluster, proc))

    def hold(self, cluster: int, proc: int, *, reason: str, code: int, subcode: int = 0,
             when: Optional[int] = None) -> None:
        now = int(when or time.time())
        with self._lock:
            ad = self.queue[(cluster, proc)]
            self._log(ad).held(cluster, proc, reason=reason, code=code, subcode=subcode, when=now)
            if int(ad["JobStatus"]) == 2:
                self._end_run(ad, 0.0, Usage())
            ad["HoldReason"], ad["HoldReasonCode"], ad["HoldReasonSubCode"] = reason, code, subcode
            ad["NumHolds"] = int(ad.get("NumHolds") or 0) + 1
            self._status(ad, 5, now)
            self._touch((cluster, proc))

    def evict(self, cluster: int, proc: int, *, reason: str = "Job was evicted", wall_s: float = 30.0,
              when: Optional[int] = None) -> None:
        now = int(when or time.time())
        with self._lock:
            ad = self.queue[(cluster, proc)]
            self._log(ad).evicted(cluster, proc, run_usage=Usage(wall_s * 0.9, 0.0), reason=reason, when=now)
            self._end_run(ad, wall_s, Usage(wall_s * 0.9, 0.0))
            ad["VacateReason"] = reason
            self._status(ad, 1, now)
            self._touch((cluster, proc))

    def leave_queue(self, cluster: int, proc: int) -> None:
        with self._lock:
            self._leave((cluster, proc))

    def close(self) -> None:
        for writer in self._logs.values():
            writer.close()
        self._logs.clear()

    # ---- internals -------------------------------------------------------------------------

    def _enter(self, method: str, **arguments: Any) -> None:
        self.calls.append((method, arguments))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.unreachable:
            raise htcondor2.HTCondorException(
                f"Failed to fetch ads from schedd, errmsg=SECMAN:2007:Failed to end classad message. "
                f"(connect to {self.host}:9618 refused)"
            )

    def _put(self, ad: classad2.ClassAd) -> None:
        job = (int(ad["ClusterId"]), int(ad["ProcId"]))
        self.queue[job] = ad
        self._touch(job)

    def _touch(self, job: JobId) -> None:
        self._versions[job] = self._versions.get(job, 0) + 1

    def _candidates(self, constraint: str) -> Iterator[Tuple[JobId, classad2.ClassAd]]:
        """The queued jobs a constraint can match: only the jobs a conjunction names by id, else all.

        ``ClusterId == C && ProcId == P [&& ...]`` and ``ClusterId == C && member(ProcId, {P1, P2}) [&& ...]``
        are answered by lookup (the whole constraint is still evaluated on each job found).
        """
        match = _ONE_JOB.match(constraint)
        if match is not None:
            jobs = [(int(match[1]), int(match[2]))]
        else:
            match = _SOME_JOBS.match(constraint)
            if match is None:
                return iter(list(self.queue.items()))
            cluster = int(match[1])
            jobs = [(cluster, int(proc)) for proc in match[2].split(",") if proc.strip()]
        return iter([(job, self.queue[job]) for job in jobs if job in self.queue])

    def _project(self, job: JobId, ad: classad2.ClassAd, projection: List[str]) -> classad2.ClassAd:
        """The projected copy of a queued ad, made once per version of the ad (queries repeat)."""
        version, names = self._versions.get(job, 0), tuple(projection)
        cached = self._projected.get(job)
        if cached is None or cached[0] != version or cached[1] != names:
            cached = self._projected[job] = (version, names, _projected(ad, projection))
        return cached[2]

    def _log(self, ad: classad2.ClassAd) -> EventLogWriter:
        path = str(ad.get("UserLog") or "")
        if not path:
            raise ValueError(f"job {ad['ClusterId']}.{ad['ProcId']} has no UserLog; submit it with a log")
        writer = self._logs.get(path)
        if writer is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            writer = self._logs[path] = EventLogWriter(path, host=self.host)
        return writer

    def _status(self, ad: classad2.ClassAd, status: int, now: int) -> None:
        ad["LastJobStatus"] = int(ad["JobStatus"])
        ad["JobStatus"] = status
        ad["EnteredCurrentStatus"] = now

    def _end_run(self, ad: classad2.ClassAd, wall_s: float, usage: Usage) -> None:
        ad["RemoteWallClockTime"] = float(ad.get("RemoteWallClockTime") or 0.0) + wall_s
        ad["RemoteUserCpu"] = float(ad.get("RemoteUserCpu") or 0.0) + usage.user_s
        ad["RemoteSysCpu"] = float(ad.get("RemoteSysCpu") or 0.0) + usage.sys_s
        if "RemoteHost" in ad:
            ad["LastRemoteHost"] = ad["RemoteHost"]
            del ad["RemoteHost"]

    def _leave(self, job: JobId) -> None:
        ad = self.queue.pop(job)
        self._versions.pop(job, None)
        self._projected.pop(job, None)
        self.history_ads.append(ad)

    def _select(self, job_spec: Union[List[str], str, classad2.ExprTree, int]) -> List[JobId]:
        if isinstance(job_spec, int):
            return [job for job in self.queue if job[0] == job_spec]
        if isinstance(job_spec, list):
            jobs: List[JobId] = []
            for item in job_spec:
                if _JOB_ID.fullmatch(item):
                    cluster, proc = item.split(".")
                    jobs.append((int(cluster), int(proc)))
                elif _CLUSTER.fullmatch(item):
                    jobs.extend(job for job in self.queue if job[0] == int(item))
                else:
                    raise ValueError("All elements of the job_spec list must be strings of the form clusterID[.procID]")
            return jobs
        text = str(job_spec)
        if _JOB_ID.fullmatch(text):
            cluster, proc = text.split(".")
            return [(int(cluster), int(proc))]
        if _CLUSTER.fullmatch(text):
            return [job for job in self.queue if job[0] == int(text)]
        test = classad2.ExprTree(text)
        return [job for job, ad in self.queue.items() if test.eval(ad) is True]

    def _apply(self, action: htcondor2.JobAction, job: JobId, reason: str, code: int) -> bool:
        ad = self.queue[job]
        status, now = int(ad["JobStatus"]), int(time.time())
        cluster, proc = job
        if action == htcondor2.JobAction.Hold:
            if status not in (1, 2):
                return False
            self.hold(cluster, proc, reason=reason, code=1, subcode=code, when=now)
        elif action == htcondor2.JobAction.Release:
            if status != 5:
                return False
            self._log(ad).released(cluster, proc, reason=reason, when=now)
            for name in ("HoldReason", "HoldReasonCode", "HoldReasonSubCode"):
                if name in ad:
                    ad[f"Last{name}"] = ad[name]
                    del ad[name]
            ad["ReleaseReason"] = reason
            self._status(ad, 1, now)
            self._touch(job)
        elif action == htcondor2.JobAction.Remove:
            if status not in (1, 2, 5):
                return False
            self._log(ad).aborted(cluster, proc, reason=reason, when=now)
            if status == 2:
                self._end_run(ad, 0.0, Usage())
            ad["RemoveReason"] = reason
            self._status(ad, 3, now)
            self._leave(job)
        else:
            raise NotImplementedError(f"the fake schedd does not do {action!r}")
        return True


def _projected(ad: classad2.ClassAd, projection: List[str]) -> classad2.ClassAd:
    """A copy holding only the projected attributes (all of them for an empty projection)."""
    out = classad2.ClassAd()
    for name in projection or list(ad.keys()):
        if name in ad:
            out[name] = ad.get(name)
    return out


def _since_expression(since: Union[int, str, classad2.ExprTree, None]) -> Optional[classad2.ExprTree]:
    """``Schedd.history``'s ``since`` as the expression that stops the scan."""
    if since is None:
        return None
    if isinstance(since, int):
        return classad2.ExprTree(f"ClusterId == {since}")
    text = str(since)
    match = _JOB_ID.fullmatch(text)
    if match:
        return classad2.ExprTree(f"ClusterId == {match[1]} && ProcId == {match[2]}")
    if _CLUSTER.fullmatch(text):
        return classad2.ExprTree(f"ClusterId == {text}")
    return classad2.ExprTree(text)
