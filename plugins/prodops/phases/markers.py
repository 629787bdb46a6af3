"""A job's phase events, and the one-line stdout marker that carries one when the job cannot post.

A job says ``phase copy-out started`` and later ``phase copy-out finished, status 0``, with
optional cpu and wall seconds and an event count. It posts that to the API
(:mod:`prodops.web.phases`) or, on a worker node without outbound network, prints one line::

    @@prodops phase=copy-out state=finished status=0 cpu=12.5 wall=30 events=1000 time=2026-12-02T10:00:00Z

which is harvested from its stdout when it ends (:mod:`prodops.phases.harvest`). Text before
``@@prodops`` on the line is ignored (wrappers prefix timestamps). Both ways are validated by the
one model here, :class:`PhaseFields`, so the API documents exactly what a marker may say.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MARKER = "@@prodops"
"""The word that starts a marker line's fields."""
PHASE_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
"""A phase is named in lower case: ``process``, ``copy-out``, ``reco.pass1``."""
MAX_MARKER_LINE = 4096
"""Longer lines are not markers (a marker is one short line)."""
_INT32 = 2**31 - 1


class PhaseState(str, enum.Enum):
    """Where a job is in one phase."""

    STARTED = "started"
    """The phase began: a failure from now on, before ``finished``, happened inside it."""
    FINISHED = "finished"
    """The phase ended (its ``status`` says how: 0 is success)."""


class PhaseSource(str, enum.Enum):
    """How a phase event reached prodops; for one (job, phase, state) ``api`` wins over ``stdout``."""

    API = "api"
    """Posted by the job to the phase API with its submission's token."""
    STDOUT = "stdout"
    """A marker line harvested from the job's stdout after it ended (the no-network fallback)."""


class PhaseFields(BaseModel):
    """What a job reports about one phase (a marker line's fields, by the same names)."""

    model_config = ConfigDict(extra="forbid")

    phase: str = Field(pattern=PHASE_NAME, description="The phase, lower case: process, copy-out, reco.pass1.",
                       examples=["copy-out"])
    state: PhaseState = Field(description="started or finished.")
    status: int | None = Field(None, ge=-_INT32, le=_INT32,
                               description="The phase's status code when it finished (0: success).")
    cpu: float | None = Field(None, ge=0, le=1e9, description="CPU seconds the phase used.")
    wall: float | None = Field(None, ge=0, le=1e9, description="Wall-clock seconds the phase took.")
    events: int | None = Field(None, ge=0, le=2**62, description="Events the phase processed.")
    time: datetime | None = Field(None, description="When the job saw it (ISO 8601 or seconds since the epoch;"
                                                    " UTC when no offset is given).")

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class PhaseReport(PhaseFields):
    """A phase event posted to the API: the fields of a marker line and the job's index in its stage."""

    job_index: int = Field(ge=0, le=_INT32, description="The job's index in its stage (the --job of the demo jobs,"
                                                        " PRODOPS_JOB_INDEX in the environment).")


class MarkerInvalid(ValueError):
    """A line that starts a marker but does not say a valid phase event; the message names the field."""


@dataclass(frozen=True)
class MarkerProblem:
    """A malformed marker line, where it is, and what is wrong with it."""

    line_number: int
    text: str
    error: str


@dataclass
class MarkerScan:
    """Every marker of one stream: the valid ones in order, and the malformed ones with their errors."""

    markers: list[PhaseFields]
    problems: list[MarkerProblem]


_FIELD_NAMES = tuple(PhaseFields.model_fields)


def is_marker(line: str) -> bool:
    """Whether the line carries a marker (valid or not): scorers of unknown failures skip these."""
    return MARKER in line


def parse_marker(line: str) -> PhaseFields:
    """The phase event a marker line states; :class:`MarkerInvalid` naming the field otherwise."""
    if len(line) > MAX_MARKER_LINE:
        raise MarkerInvalid(f"the line is {len(line)} characters long; a marker is one line of at most"
                            f" {MAX_MARKER_LINE}")
    _, found, rest = line.partition(MARKER)
    if not found:
        raise MarkerInvalid(f"no {MARKER!r} on the line; a marker line is '{MARKER} phase=NAME state=started'")
    if rest and not rest[0].isspace():
        raise MarkerInvalid(f"{MARKER!r} must be followed by a space and key=value fields, not {rest[:20]!r}")
    values: dict[str, str] = {}
    for word in rest.split():
        key, sep, value = word.partition("=")
        if not sep:
            raise MarkerInvalid(f"{word!r} is not key=value; write e.g. phase=copy-out")
        if key not in _FIELD_NAMES:
            raise MarkerInvalid(f"unknown field {key!r}; a marker has {', '.join(_FIELD_NAMES)}")
        if key in values:
            raise MarkerInvalid(f"field {key!r} is given twice; give it once")
        if not value:
            raise MarkerInvalid(f"field {key!r} is empty; give a value or leave the field out")
        values[key] = value
    try:
        return PhaseFields.model_validate(values)
    except ValidationError as err:
        raise MarkerInvalid(describe_errors(err, values)) from None


def describe_errors(err: ValidationError, values: Mapping[str, object] | None = None) -> str:
    """One sentence per wrong field: the field, the value and what it must be."""
    parts = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "marker"
        if e["type"] == "missing":
            parts.append(f"field {field!r} is missing; every marker names its phase= and state=started|finished")
            continue
        shown = (values or {}).get(field, e.get("input"))
        hint = _HINTS.get(field, e["msg"])
        parts.append(f"field {field}={shown!r} is not valid: {hint}")
    return "; ".join(parts)


_HINTS = {
    "phase": "name the phase in lower case letters, digits, '-', '_' or '.', starting with a letter (copy-out)",
    "state": "use started or finished",
    "status": "give a whole number (0 for success)",
    "cpu": "give CPU seconds as a number >= 0",
    "wall": "give wall-clock seconds as a number >= 0",
    "events": "give a whole number >= 0",
    "time": "give an ISO 8601 time (2026-12-02T10:00:00Z) or seconds since the epoch",
    "job_index": "give the job's index in its stage, a whole number >= 0",
}


def scan_markers(lines: Iterable[str]) -> MarkerScan:
    """Every marker line of a stream (numbered from 1), parsed; lines without ``@@prodops`` are skipped."""
    return scan_numbered((number, line) for number, line in enumerate(lines, start=1) if MARKER in line)


def scan_numbered(lines: Iterable[tuple[int, str]]) -> MarkerScan:
    """The markers of (line number, text) pairs, parsed; the malformed ones with their errors."""
    scan = MarkerScan(markers=[], problems=[])
    for number, line in lines:
        text = line.rstrip("\r\n")
        try:
            scan.markers.append(parse_marker(text))
        except MarkerInvalid as err:
            scan.problems.append(MarkerProblem(line_number=number, text=text[:200], error=str(err)))
    return scan


def format_marker(fields: PhaseFields) -> str:
    """The marker line of ``fields`` (the client script writes the same format by itself)."""
    words = [MARKER, f"phase={fields.phase}", f"state={fields.state.value}"]
    for name in ("status", "cpu", "wall", "events"):
        value = getattr(fields, name)
        if value is not None:
            words.append(f"{name}={value}")
    if fields.time is not None:
        words.append("time=" + fields.time.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return " ".join(words)
