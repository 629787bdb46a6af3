"""Modes and states, with the batch system's codes mapped in one table."""

from __future__ import annotations

import enum

from htcondor2 import JobStatus

REQUEST_DAG = "production_request"
"""The one "new request" entry point: the form, its validation and the approval gate."""
WORKFLOW_DAG_PREFIX = "workflow_"
"""Each workflow template's lifecycle is its own DAG, ``workflow_<name>``, triggered by the entry
point's run under the same run id (so a run holds task instances of its workflow only)."""


def workflow_dag_id(workflow: str) -> str:
    return WORKFLOW_DAG_PREFIX + workflow


def request_run_of(dag_id: str) -> str | None:
    """The entry point's DAG id for a run of ``dag_id`` that belongs to a production request (the
    entry point's own or a workflow's, which shares its run id), else None."""
    return REQUEST_DAG if dag_id == REQUEST_DAG or dag_id.startswith(WORKFLOW_DAG_PREFIX) else None


PHASE_TOKEN_VARIABLE = "PRODOPS_PHASE_TOKEN"
"""The job's phase token in its environment (:mod:`prodops.phases.tokens`): never stored with its ad."""


class JobState(str, enum.Enum):
    """An attempt's state in the batch system (HTCondor JobStatus)."""

    IDLE = "idle"
    RUNNING = "running"
    REMOVED = "removed"
    COMPLETED = "completed"
    HELD = "held"
    TRANSFERRING_OUTPUT = "transferring_output"
    SUSPENDED = "suspended"

    @classmethod
    def from_job_status(cls, code: int) -> JobState:
        try:
            return _BY_CODE[code]
        except KeyError:
            raise ValueError(f"JobStatus {code!r} is not an HTCondor job status ({min(_BY_CODE)}..{max(_BY_CODE)})") from None

    @property
    def is_final(self) -> bool:
        """Final for tracking: the job will not change without someone acting on it."""
        return self in (JobState.COMPLETED, JobState.REMOVED, JobState.HELD)


_BY_CODE = {int(status): JobState[status.name] for status in JobStatus}
"""HTCondor's JobStatus numbers (the bindings' enum) to the states, by name: one table, theirs."""


class Outcome(str, enum.Enum):
    """How an attempt ended, as on-call reads it in a report.

    Decided once, by PostgreSQL: the generated column ``job_attempts.outcome``
    (include/sql/migrations/010_outcome.sql), mirrored by :func:`prodops.batch.classads.outcome_of`.
    Failed, killed, held and removed attempts are triaged.
    """

    SUCCEEDED = "succeeded"
    """Completed with exit code 0."""
    FAILED = "failed"
    """Completed with a non-zero exit code, or with none at all (nothing says it succeeded)."""
    KILLED = "killed"
    """Terminated by a signal."""
    HELD = "held"
    REMOVED = "removed"
    UNFINISHED = "unfinished"
    """Not ended yet: idle, running, transferring output or suspended."""


class RequestState(str, enum.Enum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED_BY_DQ = "stopped_by_dq"
    """A critical data-quality expectation failed; the stages after it did not run."""


class TimeWindow(str, enum.Enum):
    """Time of day a job ran in, in its site's time zone (start hour, inclusive)."""

    NIGHT = "night"
    MORNING = "morning"
    LUNCH = "lunch"
    AFTERNOON = "afternoon"
    EVENING = "evening"

    @classmethod
    def of_hour(cls, hour: int) -> TimeWindow:
        if 6 <= hour < 11:
            return cls.MORNING
        if 11 <= hour < 14:
            return cls.LUNCH
        if 14 <= hour < 18:
            return cls.AFTERNOON
        if 18 <= hour < 22:
            return cls.EVENING
        return cls.NIGHT


class Category(str, enum.Enum):
    """What failed, as on-call decides it: the first question of every failed job."""

    SERVICE = "service"
    """A service the job needs failed (SAM/samweb, dCache, FTS, a database...): retry once it is up."""
    INFRASTRUCTURE = "infrastructure"
    """The batch system, worker node, network or a resource limit: retry (with more resources if a limit)."""
    CODE = "code"
    """The experiment's code or configuration: do not retry; debug."""
    UNKNOWN = "unknown"
    """Nothing recognised: "exited with code N", left for a person."""
