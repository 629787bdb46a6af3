"""The Backend protocol and the value types that cross the batch boundary.

Both backends (the local pool and HTCondor) take a :class:`SubmissionSpec`, return a
:class:`Submission` handle that prodops stores, and report jobs as ``classad2.ClassAd``
objects with HTCondor's attribute names plus events read from an HTCondor job event log,
so everything downstream is the same code whichever pool ran the jobs.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from prodops.exceptions import BadEventLog

if TYPE_CHECKING:
    import classad2

    from prodops.batch.grid import JobPlacement


class JobAction(str, enum.Enum):
    """Actions on jobs of a submission, as ``htcondor2.JobAction`` names them."""

    HOLD = "Hold"
    RELEASE = "Release"
    REMOVE = "Remove"


JOB_RESOURCES = ("request_memory_mb", "request_disk_mb", "max_wall_time_s")
"""What a job requests; a retry may raise them job by job (:attr:`SubmissionSpec.job_resources`)."""


@dataclass(frozen=True)
class SubmissionSpec:
    """Everything needed to submit one stage of one request as one cluster.

    ``items`` holds one argument string per job (HTCondor itemdata, ``queue args from``);
    job N gets ``items[N]`` as ``$(args)`` and ProcId N.
    """

    request_id: int
    stage: str
    attempt: int
    executable: str
    items: Sequence[str]
    workdir: str
    request_memory_mb: int = 512
    request_disk_mb: int = 1024
    max_wall_time_s: int = 3600
    priority: int = 0
    environment: dict[str, str] = field(default_factory=dict)
    batch_name: str = ""
    inputs: Sequence[str] = ()
    """Every input file the stage was given (the jobs' share of them is in their items)."""
    job_indexes: Sequence[int] = ()
    """The stage's index of each item's job, when a retry submits some of the stage's jobs
    again; empty: item N is job N (the first submission of a stage)."""
    job_resources: Sequence[Mapping[str, int]] = ()
    """Per item, what the job requests when it differs between jobs (a retry with more memory):
    ``request_memory_mb``, ``request_disk_mb``, ``max_wall_time_s``; missing keys take the
    spec's own values. Empty: every job requests the spec's values."""
    experiment: str = ""
    """The request's experiment: the pool's accounting group and credentials are chosen by it."""
    role: str = "production"
    """The experiment role the jobs run as (jobsub_lite's ``--role``), with :attr:`experiment`."""
    placement: JobPlacement | None = None
    """The template's ``submit:`` block for this stage (:class:`prodops.batch.grid.JobPlacement`):
    sites, OS, container, sandboxes, resource-limit policy, extra commands. None: the defaults."""
    debug: Mapping[str, Any] | None = None
    """Set on a debug rerun only (:mod:`prodops.rerun`): the settings it runs with. Its attempts are
    never a job's production attempt (outputs, DQ, outcome) and count as wasted in accounting."""

    def __post_init__(self) -> None:
        if isinstance(self.placement, Mapping):  # as stored (to_dict), or built from a stored spec
            from prodops.batch.grid import JobPlacement

            object.__setattr__(self, "placement", JobPlacement.model_validate(self.placement))

    @property
    def key(self) -> str:
        """Natural key of the submission: one request, one stage, one attempt."""
        return f"{self.request_id}/{self.stage}/{self.attempt}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = list(self.items)
        data["inputs"] = list(self.inputs)
        data["job_indexes"] = list(self.job_indexes)
        data["job_resources"] = [dict(r) for r in self.job_resources]
        data["placement"] = self.placement.model_dump(mode="json") if self.placement is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubmissionSpec:
        """The spec stored on a submission row (:meth:`to_dict`)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def job_index(self, item: int) -> int:
        return int(self.job_indexes[item]) if self.job_indexes else item

    def resources(self, item: int) -> dict[str, int]:
        """What job ``item`` requests: the spec's values with its own overrides."""
        own = self.job_resources[item] if self.job_resources else {}
        return {name: int(own.get(name, getattr(self, name))) for name in JOB_RESOURCES}


@dataclass(frozen=True)
class Submission:
    """What prodops keeps to find a submission's jobs again (stored on the submission row)."""

    backend: str
    cluster_id: int
    num_jobs: int
    event_log: str
    workdir: str
    schedd: str = ""
    key: str = ""
    """:attr:`SubmissionSpec.key`: the ``ProdopsSubmission`` tag of every job of the submission."""
    submitted: float | None = None
    """When the submission was made (seconds since the epoch), if known: it dates the events of
    old event logs whose headers carry no year (:func:`~prodops.batch.eventlog.read_event_log`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submission:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class JobEventRecord:
    """One event of the HTCondor job event log, flattened for storage."""

    cluster_id: int
    proc_id: int
    event_type: str
    event_time: float
    data: dict[str, Any]
    log_offset: int = -1
    """Byte offset in the event log just after this event: its natural key within the log."""


@dataclass
class PollResult:
    """One poll cycle: current ads of the submission's jobs, and events since ``offset``.

    ``offset`` is the event-log position to resume from next cycle (kept in the database so
    a restarted triggerer neither loses nor repeats events). A backend that reads finished
    jobs from a history once (HTCondor) leaves out jobs whose final ad an earlier cycle
    returned, and sets ``history_cursor``: where the next poll resumes reading that history,
    stored with the cycle's rows. ``None``: every job's ad is in ``ads`` every cycle.
    """

    ads: list[classad2.ClassAd]
    events: list[JobEventRecord]
    offset: int
    history_cursor: str | None = None
    problems: list[BadEventLog] = field(default_factory=list)
    """Garbled or unknown events the read skipped (before ``offset``), each with its file, byte
    offset and line: stored with the cycle's rows so a person sees them."""
    more_events: bool = False
    """The read stopped at the backend's per-poll limit: more whole events may follow ``offset``."""
    complete: bool = True
    """``ads`` holds every queued job of the submission (a full query). False: only the jobs the
    new events named (see :class:`Feed`); a job missing from ``ads`` did not change, it did not
    leave the queue unseen."""
    schedd_calls: int = 0
    """Calls this poll made to the batch system (queries and history reads)."""


RECONCILE_INTERVAL_S = 300.0
"""Seconds between two full (reconciliation) reads of a submission tracked by its event log."""


@dataclass
class Feed:
    """What a tracker keeps between the polls of one submission when the event log is its change feed.

    One per tracker (in memory): a new tracker, e.g. after a restart, starts with a full query.
    ``last_full`` is the ``time.monotonic()`` of the last full (reconciliation) query, None before
    the first; ``fallback`` says the event log cannot be read, so every poll is a full query.
    """

    last_full: float | None = None
    fallback: bool = False
    due: bool = False
    """The next poll is a full one whatever the interval (set by the tracker: jobs are being looked
    for in the whole history)."""
    full_polls: int = 0
    feed_polls: int = 0
    horizon: int = 0
    """Where the event log's stream ended just before the last full query: the ads it returned
    already show the events before it, so a late read of those names no job to ask about."""
    recheck: set[int] = field(default_factory=set)
    """Jobs named by events past the horizon that the last full poll read: the query may have
    come before them, so the next poll asks about them again."""
    settled: Container[int] = frozenset()
    """Jobs whose final ad is stored (set by the tracker): an end event of one of them read late
    (the log was behind) needs no history read nor a search of the whole submission."""
    lagging: dict[int, int] = field(default_factory=dict)
    """Jobs named by events their ads may not show yet (a pool that writes its ads after its log:
    the local pool), each with the log offset of its newest such event."""
    quiet_at: int | None = None
    """The ads' log offset when the local pool was last found with no runner and no work."""


@runtime_checkable
class Backend(Protocol):
    """The batch system prodops submits to and tracks."""

    name: str

    def submit(self, spec: SubmissionSpec) -> Submission:
        """Submit one cluster; idempotent on ``spec.key`` (a second call returns the first)."""

    def poll(self, submission: Submission, offset: int = 0, history_cursor: str | None = None) -> PollResult:
        """Ads of the submission's jobs (queued, and finished since ``history_cursor``) and new events."""

    def history(self, submission: Submission, since: int | str | None = None) -> list[classad2.ClassAd]:
        """Ads of the submission's jobs that have left the queue (recorded after ``since``, if given)."""

    def act(
        self, submission: Submission, action: JobAction, reason: str, procs: Sequence[int] | None = None
    ) -> int:
        """Hold, release or remove jobs (all when ``procs`` is None); returns how many were acted on."""
