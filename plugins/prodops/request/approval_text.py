"""What the approver reads: every value of the request exactly as it will be used, what it costs
in all, and what it would run into (its services now, maintenance, the campaign's other requests).

Values are shown as Markdown code spans (the Required Actions page renders Markdown), so a
value cannot format itself as a heading, a link or an instruction to the approver, and the
approver sees its characters, not their rendering.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta


from prodops.datasets import resolve_dataset
from prodops.datasets.model import DatasetInvalid
from prodops.request.form import ProductionRequest
from prodops.store.db import Conn
from prodops.workflows import WorkflowTemplate

_BACKTICKS = re.compile(r"`+")

CORES_PER_JOB = 1
"""Every job is submitted with ``request_cpus = 1`` (``prodops.batch.submit.render_submit``;
a test holds the two equal)."""

MAINTENANCE_AHEAD = timedelta(days=14)
"""How far ahead the approver is shown maintenance windows (as far as the board shows them)."""


def code_span(value: object) -> str:
    """``value`` as a Markdown code span that shows it verbatim, whatever backticks it holds."""
    text = value if isinstance(value, str) else json.dumps(value)
    if text == "":
        return "*(empty)*"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def approval_subject(request_id: int, request: ProductionRequest) -> str:
    """One line: identifiers are a closed character class (see the form), so plain text is exact."""
    return f"Approve production request {request_id} ({request.experiment} / {request.campaign})"


@dataclass(frozen=True)
class InputFiles:
    files: int
    bytes: int
    events: int | None = None
    """None when a file's event count is not known."""


@dataclass(frozen=True)
class StageTotals:
    """One stage's jobs as the request would run them, and what each asks for."""

    name: str
    jobs: int
    memory_mb: int
    disk_mb: int
    wall_time_min: int

    @property
    def core_hours(self) -> float:
        return self.jobs * self.wall_time_min / 60 * CORES_PER_JOB


@dataclass(frozen=True)
class RequestTotals:
    """What a request asks of the pool in all: its stages' jobs, core-hours, memory and disk."""

    stages: tuple[StageTotals, ...]
    input: InputFiles | None = None

    @property
    def jobs(self) -> int:
        return sum(s.jobs for s in self.stages)

    @property
    def core_hours(self) -> float:
        return sum(s.core_hours for s in self.stages)

    @property
    def memory_mb(self) -> int:
        return sum(s.jobs * s.memory_mb for s in self.stages)

    @property
    def disk_mb(self) -> int:
        return sum(s.jobs * s.disk_mb for s in self.stages)


def request_totals(request: ProductionRequest, template: WorkflowTemplate,
                   inputs: InputFiles | None = None) -> RequestTotals:
    """Each stage's jobs by its split, as the request would run if every job succeeded.

    The first stage splits the form's jobs or the dataset's files; each later stage splits
    the previous stage's outputs, one file per job (what the templates' jobs write). Each job
    asks what ``prodops.stage.stage_spec`` submits it with (``StageTemplate.job_resources``).
    """
    files = inputs.files if inputs else 0
    stages = []
    for stage in template.stages:
        try:
            jobs = len(stage.jobs_for([""] * files, request.n_jobs))
        except ValueError:  # no inputs: the stage would not run
            jobs = 0
        each = stage.job_resources(request.request_memory_mb, request.request_disk_mb, request.max_wall_time_min)
        stages.append(StageTotals(name=stage.name, jobs=jobs, memory_mb=each.memory_mb, disk_mb=each.disk_mb,
                                  wall_time_min=each.wall_time_min))
        files = jobs
    return RequestTotals(stages=tuple(stages), input=inputs)


def dataset_files(name: str) -> InputFiles:
    """How many files the dataset names now and their bytes; raises DatasetInvalid like submission would."""
    files = resolve_dataset(name)
    counted = [f.events for f in files if f.events is not None]
    return InputFiles(files=len(files), bytes=sum(f.size_bytes for f in files),
                      events=sum(counted) if len(counted) == len(files) else None)


@dataclass(frozen=True)
class ServiceState:
    name: str
    state: str
    since: datetime | None = None


@dataclass(frozen=True)
class Window:
    services: tuple[str, ...]
    """Empty: every service."""
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True)
class OtherRequest:
    id: int
    state: str
    jobs: int
    done: int
    failed: int
    why: str | None = None
    """How it ended (``ended_reason``), else the approver's note."""


@dataclass(frozen=True)
class ApprovalFacts:
    """What the approver needs besides the form, read when the gate opens."""

    totals: RequestTotals
    now: datetime
    services: tuple[ServiceState, ...] = ()
    maintenance: tuple[Window, ...] = ()
    campaign: tuple[OtherRequest, ...] = ()
    input_problem: str | None = None


def approval_facts(conn: Conn, request_id: int, request: ProductionRequest,
                   template: WorkflowTemplate, now: datetime) -> ApprovalFacts:
    """Totals, the workflow's services and their state now, maintenance open or ahead, the campaign's other requests."""
    from prodops.request.views import campaign_requests
    from prodops.status import records
    from prodops.status.board import current_states
    from prodops.status.maintenance import blocking_windows

    inputs, problem = None, None
    if request.input_dataset:
        try:
            inputs = dataset_files(request.input_dataset)
        except (DatasetInvalid, OSError) as err:
            problem = str(err)
    names = list(dict.fromkeys(s for stage in template.stages for s in template.stage_services(stage.name)))
    states = current_states(conn, now, names)
    services = tuple(ServiceState(n, states[n].state.value, states[n].since) if n in states
                     else ServiceState(n, "not registered") for n in names)
    windows = records.windows_overlapping(conn, now, now + MAINTENANCE_AHEAD)
    maintenance = tuple(dict.fromkeys(
        Window(w.services, w.starts_at, w.ends_at, w.reason)
        for _, w in blocking_windows(windows, names, now, now + MAINTENANCE_AHEAD)))
    campaign = tuple(
        OtherRequest(r["id"], r["state"], r["progress"]["jobs"], r["progress"]["done"], r["progress"]["failed"],
                     r["ended_reason"] or r["decision_note"])
        for r in campaign_requests(conn, request.experiment, request.campaign) if r["id"] != request_id)
    return ApprovalFacts(totals=request_totals(request, template, inputs), now=now, services=services,
                         maintenance=maintenance, campaign=campaign, input_problem=problem)


def _number(n: float) -> str:
    return f"{n:,.0f}" if n >= 10 or n == int(n) else f"{n:,.1f}"


def _size(mb: float) -> str:
    return f"{_number(mb / 1024 / 1024)} TB" if mb >= 1024 * 1024 else (
        f"{_number(mb / 1024)} GB" if mb >= 1024 else f"{_number(mb)} MB")


def _bytes(n: int) -> str:
    return _size(n / 1024 / 1024) if n >= 1024 * 1024 else f"{n:,} bytes"


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def totals_lines(totals: RequestTotals) -> list[str]:
    """The totals block: jobs, core-hours, memory and disk in all, input files; per stage when several."""
    lines = [
        f"**Jobs in all:** {totals.jobs:,}"
        + (" (" + ", ".join(f"{s.name} {s.jobs:,}" for s in totals.stages) + ")" if len(totals.stages) > 1 else ""),
        f"**Core-hours requested:** {_number(totals.core_hours)}"
        f" (jobs x wall time x {CORES_PER_JOB} core{'s' if CORES_PER_JOB > 1 else ''})",
        f"**Memory in all:** {_size(totals.memory_mb)}",
        f"**Disk in all:** {_size(totals.disk_mb)}",
    ]
    if totals.input is not None:
        events = "" if totals.input.events is None else f", {totals.input.events:,} events"
        lines.append(f"**Input:** {totals.input.files:,} files, {_bytes(totals.input.bytes)}{events}")
    return lines


def approval_body(request: ProductionRequest, facts: ApprovalFacts | None = None) -> str:
    """Every field of the form, each value verbatim; then, when known, the totals and what the request meets."""
    rows = [
        ("Experiment", request.experiment),
        ("Campaign", request.campaign),
        ("Workflow", request.workflow),
        ("Jobs", request.n_jobs if request.n_jobs is not None else "from the input dataset"),
        ("Input dataset", request.input_dataset or ""),
        ("Memory / disk / wall time per job",
         f"{request.request_memory_mb} MB / {request.request_disk_mb} MB / {request.max_wall_time_min} min"),
        ("Requested priority", request.priority),
        ("Contact", request.contact),
        ("Workflow options", request.workflow_options),
        ("Justification", request.justification),
    ]
    form = "  \n".join(f"**{name}:** {code_span(value)}" for name, value in rows)
    if facts is None:
        return form
    sections = [
        ["**What it asks in all** (if every job succeeds once)", *totals_lines(facts.totals),
         *([f"**Input dataset cannot be read now:** {code_span(facts.input_problem)}"] if facts.input_problem else [])],
        [f"**Services it needs, now** ({_when(facts.now)})",
         *([f"{code_span(s.name)}: **{s.state}**" + (f" since {_when(s.since)}" if s.since else "")
            for s in facts.services] or ["none"])],
        ["**Maintenance open or in the next 14 days**",
         *([f"{_when(w.starts_at)} - {_when(w.ends_at)}, "
            f"{', '.join(code_span(s) for s in w.services) if w.services else 'all services'}: {code_span(w.reason)}"
            for w in facts.maintenance] or ["none"])],
        [f"**Other requests of campaign {code_span(request.campaign)}**",
         *([f"request {o.id}: **{o.state}**, "
            + (f"{o.done:,} of {o.jobs:,} jobs succeeded, {o.failed:,} failed" if o.jobs else "no job ran")
            + (f" ({code_span(o.why)})" if o.why else "")
            for o in facts.campaign] or ["none"])],
    ]
    return "\n\n".join([form, *("  \n".join(lines) for lines in sections)])
