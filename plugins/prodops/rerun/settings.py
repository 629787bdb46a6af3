"""What a debug rerun may change, as the workflow template declares it, and nothing else.

A template's ``debug:`` block (include/workflows/template.schema.yaml, docs/instrumenting.md)
names the debug levels its jobs understand, and how a level reaches a job: environment
variables, extra arguments, a config snippet written to a file sent with the job (``{level}``
filled in). It also lists the overrides a person may give, each with its JSON schema and the way
it reaches the job (an argument, an environment variable or a config line; ``{value}`` filled
in). A person's settings (:class:`DebugSettings`) are checked against that block here; every
value still reaches HTCondor only as data (:mod:`prodops.batch.quoting` refuses macros and
control characters when the description is rendered, and here first, naming the field).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prodops.batch import quoting
from prodops.exceptions import RequestInvalid
from prodops.workflows import WorkflowTemplate

MAX_MEMORY_MB = 65536
"""The most memory a debug rerun may ask for (64 GB: the largest slots of the grid)."""

GENERIC_ENVIRONMENT = {"level": "PRODOPS_DEBUG_LEVEL", "keep": "PRODOPS_DEBUG_KEEP_FILES"}
"""Set on every debug rerun, whatever the template says, so any job wrapper can tell it is one."""


class DebugSettingsInvalid(RequestInvalid):
    """A debug rerun's settings do not match what the workflow accepts; ``errors`` maps field -> message."""


class DebugSettings(BaseModel):
    """What a person asks a debug rerun to change (the debug_rerun form's debug fields)."""

    model_config = ConfigDict(extra="forbid")

    level: str = Field(description="A debug level the workflow's template declares (debug.levels).")
    overrides: dict[str, Any] = Field(default_factory=dict,
                                      description="Values for the overrides the template declares (debug.overrides).")
    keep_intermediate: bool = Field(True, description="Keep the job's intermediate files (PRODOPS_DEBUG_KEEP_FILES=1).")
    request_memory_mb: int | None = Field(None, ge=1, le=MAX_MEMORY_MB,
                                          description="Memory to request; empty: what the attempt requested.")


@dataclass(frozen=True)
class DebugApplied:
    """How the settings reach each job: environment, extra argument words, a config snippet."""

    settings: DebugSettings
    environment: dict[str, str] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    config_file: str = ""
    config_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """What the rerun's spec keeps as its ``debug`` entry (with the Airflow run added by the caller)."""
        return {"settings": self.settings.model_dump(), "environment": dict(self.environment),
                "arguments": list(self.arguments), "config_file": self.config_file}


def _words(template: str, fill: Mapping[str, Any], where: str, errors: dict[str, str]) -> list[str]:
    """The template's words, each filled in on its own: a value stays one argument whatever it holds."""
    try:
        return [word.format(**fill) for word in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as err:
        errors[where] = f"cannot fill in {template!r} ({err}); fix the template's debug block"
        return []


def _fill(template: str, fill: Mapping[str, Any], where: str, errors: dict[str, str]) -> str:
    try:
        return template.format(**fill)
    except (KeyError, IndexError, ValueError) as err:
        errors[where] = f"cannot fill in {template!r} ({err}); fix the template's debug block"
        return ""


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_settings(template: WorkflowTemplate, raw: Mapping[str, Any], request_memory_mb: int) -> DebugApplied:
    """The settings checked against the template's ``debug:`` block, and how they reach the job.

    Raises :class:`DebugSettingsInvalid` naming every bad field (``debug.level``,
    ``debug.overrides.<name>``, ...) and what it accepts; nothing is submitted then.
    ``request_memory_mb`` is what the rerun attempt's job requested: a rerun never asks for less.
    """
    block = template.debug
    if not block:
        raise DebugSettingsInvalid({"workflow": f"workflow {template.name!r} declares no debug block; add `debug:` to"
                                                f" {template.path.name if template.path else 'its template'}"
                                                " (docs/instrumenting.md, 'Debug reruns')"})
    try:
        settings = DebugSettings.model_validate(dict(raw))
    except ValidationError as err:
        raise DebugSettingsInvalid({"debug." + ".".join(str(p) for p in e["loc"]): e["msg"]
                                    for e in err.errors()}) from None
    errors: dict[str, str] = {}
    levels = list(block["levels"])
    if settings.level not in levels:
        errors["debug.level"] = f"{settings.level!r} is not a level workflow {template.name!r} accepts; use one of {levels}"
    if settings.request_memory_mb is not None and settings.request_memory_mb < request_memory_mb:
        errors["debug.request_memory_mb"] = (f"{settings.request_memory_mb} MB is less than the {request_memory_mb} MB"
                                             " the attempt requested; give more, or leave it empty")
    fill = {"level": settings.level}
    environment = {GENERIC_ENVIRONMENT["level"]: settings.level}
    if settings.keep_intermediate:
        environment[GENERIC_ENVIRONMENT["keep"]] = "1"
    for name, value in (block.get("environment") or {}).items():
        environment[name] = _fill(value, fill, f"debug.environment.{name}", errors)
    arguments = _words(block.get("arguments") or "", fill, "debug.arguments", errors)
    snippet = block.get("config_snippet") or {}
    config_lines = [_fill(snippet.get("text", ""), fill, "debug.config_snippet", errors)] if snippet else []
    declared = block.get("overrides") or {}
    for name, value in settings.overrides.items():
        where = f"debug.overrides.{name}"
        spec = declared.get(name)
        if spec is None:
            errors[where] = (f"not an override workflow {template.name!r} accepts; it accepts"
                             f" {sorted(declared) or 'none'} (its template's debug.overrides)")
            continue
        problems = [e.message for e in jsonschema.Draft202012Validator(spec["schema"]).iter_errors(value)]
        text = _as_text(value)
        if problem := quoting.text_problem(text):
            problems.append(f"{text!r} {problem}")
        if problems:
            errors[where] = "; ".join(problems)
            continue
        if "argument" in spec:
            arguments += _words(spec["argument"], {"value": text}, where, errors)
        if "environment" in spec:
            environment[spec["environment"]] = text
        if "config" in spec:
            if not snippet:
                errors[where] = "a config override, but the template's debug block has no config_snippet; fix the template"
            config_lines.append(_fill(spec["config"], {"value": text}, where, errors) + "\n")
    if errors:
        raise DebugSettingsInvalid(errors)
    return DebugApplied(settings=settings, environment=environment, arguments=tuple(arguments),
                        config_file=snippet.get("file", ""), config_text="".join(config_lines))
