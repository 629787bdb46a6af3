"""Workflow templates: the stages a request runs, from YAML files under include/workflows.

A template is validated against ``include/workflows/template.schema.yaml``; an error names
the file, the stage and the field. Stages run in order; each says how its inputs become
jobs (``split``): the request's number of jobs, N of the previous stage's output files per
job, or all of them in one job (a merge). A stage may be combined with the next one so both
run in one job.
"""

from __future__ import annotations

import functools
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml

from prodops import config
from prodops.batch import quoting
from prodops.batch.grid import JobPlacement, SubmitConfigInvalid, merged_blocks, parse_placement, resolve_inputs
from prodops.exceptions import ProdopsError

SCHEMA_FILE = "template.schema.yaml"


class TemplateInvalid(ProdopsError):
    """A workflow template file is malformed."""


class JobResources(NamedTuple):
    """What each job of a stage requests."""

    memory_mb: int
    disk_mb: int
    wall_time_min: int


@dataclass(frozen=True)
class StageTemplate:
    name: str
    executable: str
    arguments: str
    split: Mapping[str, Any] = field(default_factory=lambda: {"jobs_from_request": True})
    resources: Mapping[str, int] = field(default_factory=dict)
    services: tuple[str, ...] = ()
    checks: str | None = None
    steps: tuple[str, ...] = ()
    """Names of the template stages this stage runs in one job (one, unless combined)."""
    submit: Mapping[str, Any] = field(default_factory=dict)
    """The ``submit:`` block for this stage: the workflow's, with the stage's own keys over it."""

    def job_resources(self, memory_mb: int, disk_mb: int, wall_time_min: int) -> JobResources:
        """What each job requests: the stage's own ``resources``, else the form's values given here."""
        own = self.resources
        return JobResources(memory_mb=int(own.get("memory_mb") or memory_mb), disk_mb=int(own.get("disk_mb") or disk_mb),
                            wall_time_min=int(own.get("wall_time_min") or wall_time_min))

    def placement(self) -> JobPlacement:
        """The stage's :class:`~prodops.batch.grid.JobPlacement`: ``{step}`` filled in with the last
        step the job runs, input sandbox paths taken from include/jobs/."""
        step = (self.steps or (self.name,))[-1]

        def fill(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace("{step}", step)
            if isinstance(value, Mapping):
                return {fill(k): fill(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [fill(v) for v in value]
            return value

        block = dict(self.submit)
        for name in ("input_files", "output_files", "output_remaps"):
            if name in block:
                block[name] = fill(block[name])
        return resolve_inputs(parse_placement(block, f"stage {self.name!r}"), str(config.JOBS_DIR))

    def jobs_for(self, inputs: Sequence[str], n_jobs: int | None) -> list[list[str]]:
        """The input files of each job: one list per job (empty lists when there are no inputs)."""
        if "jobs_from_request" in self.split:
            if not n_jobs:
                raise ValueError(f"stage {self.name!r} takes its number of jobs from the request; give n_jobs")
            return [[] for _ in range(n_jobs)]
        if not inputs:
            raise ValueError(f"stage {self.name!r} has no input files: the previous stage produced none")
        if "all_files" in self.split:
            return [list(inputs)]
        per_job = int(self.split["files_per_job"])
        return [list(inputs[i * per_job:(i + 1) * per_job]) for i in range(math.ceil(len(inputs) / per_job))]


@dataclass(frozen=True)
class WorkflowTemplate:
    name: str
    description: str
    stages: tuple[StageTemplate, ...]
    input: str = "jobs"
    services: tuple[str, ...] = ()
    options_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    fault_arguments: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    debug: Mapping[str, Any] = field(default_factory=dict)
    """How a debug rerun reaches the jobs (the ``debug:`` block; read by :mod:`prodops.rerun.settings`)."""

    def stage(self, name: str) -> StageTemplate:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"workflow {self.name!r} has no stage {name!r}; stages: {[s.name for s in self.stages]}")

    def previous(self, name: str) -> StageTemplate | None:
        names = [s.name for s in self.stages]
        index = names.index(self.stage(name).name)
        return self.stages[index - 1] if index else None

    def stage_services(self, name: str) -> tuple[str, ...]:
        """What stage ``name`` needs up before it is submitted (its preflight) and whose outages
        explain its failures (triage): the workflow's ``services:``, then the stage's own."""
        return tuple(dict.fromkeys((*self.services, *self.stage(name).services)))

    def needed_services(self) -> tuple[str, ...]:
        """Every service some stage of the workflow needs (what the board lists the workflow under)."""
        return tuple(dict.fromkeys(s for stage in self.stages for s in self.stage_services(stage.name)))

    def options_errors(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Errors in a request's workflow options, keyed ``workflow_options.<field>``."""
        validator = jsonschema.Draft202012Validator(self.options_schema)
        errors: dict[str, str] = {}
        for err in validator.iter_errors(dict(options)):
            where = ".".join(str(p) for p in err.absolute_path)
            errors[f"workflow_options{'.' + where if where else ''}"] = err.message
        return errors

    def with_defaults(self, options: Mapping[str, Any]) -> dict[str, Any]:
        props = self.options_schema.get("properties", {})
        merged = {k: v["default"] for k, v in props.items() if "default" in v}
        merged.update(options)
        return merged

    def job_arguments(
        self,
        stage: str,
        n_jobs: int | None,
        options: Mapping[str, Any],
        request_memory_mb: int,
        inputs: Sequence[str] = (),
    ) -> list[str]:
        """One argument string per job (HTCondor itemdata, new arguments syntax) for a stage.

        The template's words are split first and each is filled in on its own, so a value
        (an option, an input file name) stays one argument whatever it holds.
        """
        template = self.stage(stage)
        values = self.with_defaults(options)
        items = []
        for job, job_inputs in enumerate(template.jobs_for(inputs, n_jobs)):
            fill = {"job": job, "stage": ",".join(template.steps or (template.name,)),
                    "inputs": ",".join(job_inputs), **values}
            argv = [word.format(**fill) for word in shlex.split(template.arguments)]
            for option, extra in self.fault_arguments.items():
                chosen = values.get(option, ())
                if isinstance(chosen, str):  # a value for every job, e.g. a path
                    if chosen:
                        argv += [word.format(value=chosen) for word in shlex.split(extra)]
                elif job in chosen or (isinstance(chosen, Mapping) and job in chosen.get(stage, ())):
                    argv += [word.format(over_memory_mb=request_memory_mb * 2 + 64) for word in shlex.split(extra)]
            items.append(quoting.arguments(argv))
        return items

    def executable_path(self, stage: str) -> str:
        exe = Path(self.stage(stage).executable)
        return str(exe if exe.is_absolute() else config.JOBS_DIR / exe)


@functools.cache
def _schema() -> dict[str, Any]:
    return yaml.safe_load((config.WORKFLOWS_DIR / SCHEMA_FILE).read_text())


def _where(path: Path, raw: Mapping[str, Any], err: jsonschema.ValidationError) -> str:
    parts = list(err.absolute_path)
    if len(parts) >= 2 and parts[0] == "stages" and isinstance(parts[1], int):
        stages = raw.get("stages") or []
        name = stages[parts[1]].get("name", f"#{parts[1]}") if isinstance(stages[parts[1]], dict) else f"#{parts[1]}"
        field_path = ".".join(str(p) for p in parts[2:]) or "(the stage)"
        return f"{path.name}: stage {name!r}, field {field_path}"
    return f"{path.name}: field {'.'.join(str(p) for p in parts) or '(top level)'}"


def parse_template(path: Path, raw: Any) -> WorkflowTemplate:
    """Validate one template's data; raise :class:`TemplateInvalid` naming stage and field."""
    if not isinstance(raw, dict):
        raise TemplateInvalid(f"{path.name}: a workflow template is a mapping with name and stages")
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise TemplateInvalid("; ".join(f"{_where(path, raw, e)}: {e.message}" for e in errors[:5]))
    stages = [
        StageTemplate(
            name=s["name"], executable=s["executable"], arguments=s["arguments"],
            split=s.get("split") or {"jobs_from_request": True}, resources=s.get("resources") or {},
            services=tuple(s.get("services") or ()), checks=s.get("checks"), steps=(s["name"],),
            submit=merged_blocks(raw.get("submit"), s.get("submit")),
        )
        for s in raw["stages"]
    ]
    for stage in stages:
        try:
            parse_placement(stage.submit, f"{path.name}: stage {stage.name!r}")
        except SubmitConfigInvalid as err:
            raise TemplateInvalid(f"{err}; see docs/submit-descriptions.md") from None
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise TemplateInvalid(f"{path.name}: two stages are named alike ({names}); rename one")
    first_input = raw.get("input", "jobs")
    if first_input == "jobs" and "jobs_from_request" not in stages[0].split:
        raise TemplateInvalid(f"{path.name}: stage {names[0]!r}, field split: the first stage of a 'jobs' workflow"
                              " takes its jobs from the request (jobs_from_request: true)")
    for later in stages[1:]:
        if "jobs_from_request" in later.split:
            raise TemplateInvalid(f"{path.name}: stage {later.name!r}, field split: only the first stage can take"
                                  " jobs_from_request; later stages split the previous stage's outputs")
    combine = [bool(s.get("combine_with_next")) for s in raw["stages"]]
    if combine[-1]:
        raise TemplateInvalid(f"{path.name}: stage {names[-1]!r}, field combine_with_next: the last stage has no next")
    return WorkflowTemplate(
        name=raw["name"],
        description=raw.get("description", ""),
        stages=tuple(_combine(stages, combine)),
        input=first_input,
        services=tuple(raw.get("services") or ()),
        options_schema=raw.get("options_schema") or {"type": "object"},
        fault_arguments=raw.get("fault_arguments") or {},
        path=path,
        debug=raw.get("debug") or {},
    )


def _combine(stages: list[StageTemplate], combine: list[bool]) -> list[StageTemplate]:
    """Fold each stage marked combine_with_next into the next: one job runs both."""
    out: list[StageTemplate] = []
    pending: StageTemplate | None = None
    for stage, with_next in zip(stages, combine):
        if pending is not None:
            stage = replace(
                pending,
                name=f"{pending.name}_{stage.name}",
                steps=(*pending.steps, *stage.steps),
                services=tuple(dict.fromkeys((*pending.services, *stage.services))),
                checks=stage.checks or pending.checks,
                submit=merged_blocks(pending.submit, stage.submit),
            )
        if with_next:
            pending = stage
            continue
        pending = None
        out.append(stage)
    return out


def _load(path: Path) -> WorkflowTemplate:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise TemplateInvalid(f"{path.name}: not valid YAML ({err}); fix the syntax") from None
    return parse_template(path, raw)


@functools.cache
def load_templates(directory: Path | None = None) -> dict[str, WorkflowTemplate]:
    """Every template in the directory, by name (read once per process)."""
    directory = directory or config.WORKFLOWS_DIR
    templates: dict[str, WorkflowTemplate] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == SCHEMA_FILE:
            continue
        template = _load(path)
        if template.name in templates:
            raise TemplateInvalid(f"{path.name}: workflow name {template.name!r} is used by another file; rename one")
        templates[template.name] = template
    return templates
