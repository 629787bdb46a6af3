"""Workflow templates: the stages a request runs, from YAML files under include/workflows."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from prodops import config
from prodops.exceptions import ProdopsError


class TemplateInvalid(ProdopsError):
    """A workflow template file is malformed."""


@dataclass(frozen=True)
class StageTemplate:
    name: str
    executable: str
    arguments: str


@dataclass(frozen=True)
class WorkflowTemplate:
    name: str
    description: str
    stages: tuple[StageTemplate, ...]
    services: tuple[str, ...] = ()
    options_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    fault_arguments: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None

    def stage(self, name: str) -> StageTemplate:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"workflow {self.name!r} has no stage {name!r}; stages: {[s.name for s in self.stages]}")

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

    def job_arguments(self, stage: str, n_jobs: int, options: Mapping[str, Any], request_memory_mb: int) -> list[str]:
        """One argument string per job (HTCondor itemdata) for a stage."""
        template = self.stage(stage)
        values = self.with_defaults(options)
        items = []
        for job in range(n_jobs):
            args = template.arguments.format(job=job, **values)
            for option, extra in self.fault_arguments.items():
                if job in values.get(option, ()):
                    args += " " + extra.format(over_memory_mb=request_memory_mb * 2 + 64)
            items.append(args)
        return items

    def executable_path(self, stage: str) -> str:
        exe = Path(self.stage(stage).executable)
        return str(exe if exe.is_absolute() else config.JOBS_DIR / exe)


def _load(path: Path) -> WorkflowTemplate:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise TemplateInvalid(f"{path}: not valid YAML ({err}); fix the syntax") from None
    if not isinstance(raw, dict):
        raise TemplateInvalid(f"{path}: a workflow template is a mapping with name and stages")
    missing = [k for k in ("name", "stages") if k not in raw]
    if missing:
        raise TemplateInvalid(f"{path}: missing {', '.join(missing)}; add them")
    stages = []
    for i, stage in enumerate(raw["stages"] or []):
        absent = [k for k in ("name", "executable", "arguments") if k not in stage]
        if absent:
            raise TemplateInvalid(f"{path}: stage {i} lacks {', '.join(absent)}; add them")
        stages.append(StageTemplate(name=stage["name"], executable=stage["executable"], arguments=stage["arguments"]))
    if not stages:
        raise TemplateInvalid(f"{path}: a workflow needs at least one stage")
    return WorkflowTemplate(
        name=raw["name"],
        description=raw.get("description", ""),
        stages=tuple(stages),
        services=tuple(raw.get("services") or ()),
        options_schema=raw.get("options_schema") or {"type": "object"},
        fault_arguments=raw.get("fault_arguments") or {},
        path=path,
    )


@functools.cache
def load_templates(directory: Path | None = None) -> dict[str, WorkflowTemplate]:
    """Every template in the directory, by name (read once per process)."""
    directory = directory or config.WORKFLOWS_DIR
    templates: dict[str, WorkflowTemplate] = {}
    for path in sorted(directory.glob("*.yaml")):
        template = _load(path)
        if template.name in templates:
            raise TemplateInvalid(f"{path}: workflow name {template.name!r} is used by another file; rename one")
        templates[template.name] = template
    return templates
