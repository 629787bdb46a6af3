"""Hold, release and remove requests to the local pool, and what each does to a job.

A request is a JSON file in ``<workdir>/control`` (:meth:`prodops.batch.workdir.Workdir.add_request`);
the runner applies them in order. What an action does to one job depends only on the job's
status and whether its process runs, as in a schedd: decided here, without processes.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

from htcondor2 import JobStatus

from prodops.batch.base import JobAction


class Step(enum.Enum):
    """What the runner does to one job for one request."""

    STOP_TO_HOLD = "stop the running process, then hold the job"
    HOLD = "hold the idle job"
    RELEASE = "release the held job"
    STOP_TO_REMOVE = "stop the running process, then remove the job"
    REMOVE = "remove the idle or held job"
    NOTHING = "nothing: the action does not apply to the job's status"


DEFAULT_REASONS = {JobAction.HOLD: "via condor_hold", JobAction.RELEASE: "via condor_release",
                   JobAction.REMOVE: "via condor_rm"}
"""The reason HTCondor's tools give when the user gives none."""


class ControlRequestInvalid(ValueError):
    """A control file the runner cannot apply; it is moved aside, never retried."""


@dataclass(frozen=True)
class ControlRequest:
    action: JobAction
    procs: tuple[int, ...] | None
    """The jobs' proc ids; None: every job of the submission."""
    reason: str

    @property
    def reason_or_default(self) -> str:
        return self.reason or DEFAULT_REASONS[self.action]


def read_request(path: Path) -> ControlRequest:
    """The request in ``path``; ControlRequestInvalid naming the file and the field otherwise."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ControlRequestInvalid(f"{path.name}: not a readable JSON request ({err})") from err
    if not isinstance(raw, dict):
        raise ControlRequestInvalid(f"{path.name}: a request is an object with action, procs and reason")
    try:
        action = JobAction(raw.get("action"))
    except ValueError:
        raise ControlRequestInvalid(f"{path.name}: action = {raw.get('action')!r} is not one of "
                                    f"{', '.join(a.value for a in JobAction)}") from None
    procs = raw.get("procs")
    if procs is not None and not (isinstance(procs, list) and all(type(p) is int and p >= 0 for p in procs)):
        raise ControlRequestInvalid(f"{path.name}: procs = {procs!r} is not a list of proc ids (or null for all)")
    return ControlRequest(action, None if procs is None else tuple(procs), str(raw.get("reason") or ""))


def step(action: JobAction, status: int, running: bool) -> Step:
    """What ``action`` does to a job in ``status`` whose process runs (``running``) or not."""
    if action is JobAction.RELEASE:
        return Step.RELEASE if status == JobStatus.HELD and not running else Step.NOTHING
    if running:
        return Step.STOP_TO_HOLD if action is JobAction.HOLD else Step.STOP_TO_REMOVE
    if action is JobAction.HOLD:
        return Step.HOLD if status == JobStatus.IDLE else Step.NOTHING
    return Step.REMOVE if status in (JobStatus.IDLE, JobStatus.HELD) else Step.NOTHING
