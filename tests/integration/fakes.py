"""A scripted batch backend for tracking tests: the ads it reports change as the test says.

It implements the Backend protocol with real ``classad2`` ads; the local pool backend itself
is exercised in tests/unit/batch and end to end.
"""

from __future__ import annotations

from collections.abc import Sequence

import classad2

from prodops.batch.base import JobAction, JobEventRecord, PollResult, Submission, SubmissionSpec


def job_ad(cluster: int, proc: int, status: int, **attrs: object) -> classad2.ClassAd:
    ad = classad2.ClassAd()
    ad["ClusterId"], ad["ProcId"], ad["JobStatus"] = cluster, proc, status
    for name, value in attrs.items():
        ad[name] = value
    return ad


class ScriptedBackend:
    name = "scripted"

    def __init__(self, cluster_id: int = 900) -> None:
        self.cluster_id = cluster_id
        self.submits: list[SubmissionSpec] = []
        self.ads: list[classad2.ClassAd] = []
        self.events: list[JobEventRecord] = []
        self.polls = 0

    def submit(self, spec: SubmissionSpec) -> Submission:
        self.submits.append(spec)
        return Submission(backend=self.name, cluster_id=self.cluster_id, num_jobs=len(spec.items),
                          event_log=f"{spec.workdir}/jobs.log", workdir=spec.workdir)

    def poll(self, submission: Submission, offset: int = 0, history_cursor: str | None = None) -> PollResult:
        self.polls += 1
        new = [e for e in self.events if e.log_offset > offset]
        return PollResult(ads=list(self.ads), events=new, offset=max([offset, *(e.log_offset for e in new)]))

    def history(self, submission: Submission, since: int | None = None) -> list[classad2.ClassAd]:
        return [ad for ad in self.ads if ad["JobStatus"] in (3, 4)]

    def act(self, submission: Submission, action: JobAction, reason: str, procs: Sequence[int] | None = None) -> int:
        return 0
