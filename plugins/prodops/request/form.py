"""The production request form: every ingredient of a request, as JSON schema.

The same field definitions build the Airflow trigger form (``Param``s) and validate the
submitted conf in ``validate_request``, so the form and the check cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from prodops.batch.quoting import control_character_problem, text_problem
from prodops.datasets import dataset_error
from prodops.exceptions import RequestInvalid
from prodops.workflows import WorkflowTemplate

MAX_JOBS = 100_000

ONE_LINE = r"^[^\u0000-\u001f\u007f-\u009f]*$"
"""JSON-schema pattern of free text: no control character (newline, CR, tab, NUL, C1)."""

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"
"""Experiment and campaign names: letters, digits and ``_ . + -``, starting with a letter or
digit. They name the request's jobs in the batch system (``batch_name``) and its pages."""

TO_BATCH_SYSTEM = ("input_dataset", "workflow_options")
"""Fields whose text reaches job arguments: HTCondor macro syntax is refused in them too."""


def form_fields(workflows: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Field name -> (default, JSON-schema keywords, title, description) for the trigger form."""
    names = sorted(workflows)
    return {
        "experiment": {
            "default": "demo",
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": IDENTIFIER,
            "title": "Experiment",
            "description": "Experiment the production is for (e.g. nova, dune, uboone): letters, digits, _ . + -.",
        },
        "campaign": {
            "default": "",
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": IDENTIFIER,
            "title": "Campaign",
            "description": "Campaign or production name this request belongs to: letters, digits, _ . + -"
                           " (e.g. mc2026a, keepup_r51234).",
        },
        "workflow": {
            "default": names[0] if names else "",
            "type": "string",
            "enum": names,
            "title": "Workflow",
            "description": "Workflow template to run (files in include/workflows).",
        },
        "input_dataset": {
            "default": None,
            "type": ["null", "string"],
            "maxLength": 512,
            "pattern": ONE_LINE,
            "title": "Input dataset",
            "description": "Dataset to process: file:///<absolute glob> under a dataset root, sam:<definition>"
                           " (SAM) or metacat:<namespace>:<name>; leave empty to give a number of jobs instead.",
        },
        "n_jobs": {
            "default": None,
            "type": ["null", "integer"],
            "minimum": 1,
            "maximum": MAX_JOBS,
            "title": "Number of jobs",
            "description": "Jobs to run when there is no input dataset (e.g. Monte Carlo generation).",
        },
        "request_memory_mb": {
            "default": 2000,
            "type": "integer",
            "minimum": 16,
            "maximum": 64_000,
            "title": "Memory per job (MB)",
        },
        "request_disk_mb": {
            "default": 10_000,
            "type": "integer",
            "minimum": 1,
            "maximum": 1_000_000,
            "title": "Disk per job (MB)",
        },
        "max_wall_time_min": {
            "default": 480,
            "type": "integer",
            "minimum": 1,
            "maximum": 10_080,
            "title": "Wall time per job (minutes)",
        },
        "priority": {
            "default": 50,
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "title": "Requested priority",
            "description": "0 (lowest) to 100 (highest); the approver sets the final priority.",
        },
        "justification": {
            "default": "",
            "type": "string",
            "minLength": 10,
            "maxLength": 4000,
            "pattern": ONE_LINE,
            "title": "Justification",
            "description": "Why this production is needed and by when.",
        },
        "contact": {
            "default": "",
            "type": "string",
            "format": "email",
            "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            "title": "Contact e-mail",
        },
        "workflow_options": {
            "default": {},
            "type": "object",
            "title": "Workflow options",
            "description": "Options of the chosen workflow template (JSON); see its options_schema.",
        },
    }


def field_schemas(workflows: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each field's JSON schema alone (no default/title), for validation."""
    presentation = {"default", "title", "description"}
    return {
        name: {k: v for k, v in spec.items() if k not in presentation}
        for name, spec in form_fields(workflows).items()
    }


@dataclass(frozen=True)
class ProductionRequest:
    """A validated request form."""

    experiment: str
    campaign: str
    workflow: str
    input_dataset: str | None
    n_jobs: int | None
    request_memory_mb: int
    request_disk_mb: int
    max_wall_time_min: int
    priority: int
    justification: str
    contact: str
    workflow_options: dict[str, Any]

    def as_form(self) -> dict[str, Any]:
        return dict(self.__dict__)


def validate_request(conf: Mapping[str, Any], templates: Mapping[str, WorkflowTemplate]) -> ProductionRequest:
    """Check a submitted form; raise :class:`RequestInvalid` naming every bad field at once.

    Besides each field's schema, no text anywhere in the form (workflow options included) may
    hold a control character, and text that reaches the jobs no HTCondor macro syntax: such
    values would be read as submit commands or expanded (see :mod:`prodops.batch.quoting`).
    """
    schemas = field_schemas(templates)
    defaults = {name: spec["default"] for name, spec in form_fields(templates).items()}
    values = {**defaults, **{k: v for k, v in conf.items() if k in schemas}}
    errors: dict[str, str] = {}
    for name in sorted(set(conf) - set(schemas)):
        errors[name] = f"unknown field; the form's fields are {', '.join(sorted(schemas))}"
    errors.update(text_errors({k: values[k] for k in TO_BATCH_SYSTEM}, text_problem))
    errors.update({k: v for k, v in text_errors(values, control_character_problem).items() if k not in errors})
    for name, schema in schemas.items():
        if name in errors:
            continue
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        problems = sorted(validator.iter_errors(values[name]), key=lambda e: e.path)
        if problems:
            errors[name] = f"{problems[0].message} (got {values[name]!r})"
    if "input_dataset" not in errors and "n_jobs" not in errors:
        if not values["input_dataset"] and not values["n_jobs"]:
            errors["n_jobs"] = "give an input dataset or a number of jobs"
        elif values["input_dataset"] and values["n_jobs"]:
            errors["input_dataset"] = "give an input dataset or a number of jobs, not both"
    template = templates.get(values["workflow"]) if "workflow" not in errors else None  # a list is no key
    if template is not None and "workflow_options" not in errors:
        errors.update(template.options_errors(values["workflow_options"]))
    if template is not None and not ({"input_dataset", "n_jobs"} & set(errors)):
        if template.input == "dataset" and not values["input_dataset"]:
            errors["input_dataset"] = f"workflow {template.name!r} reads an input dataset; give one, not n_jobs"
        elif template.input == "jobs" and not values["n_jobs"]:
            errors["n_jobs"] = f"workflow {template.name!r} generates its input; give n_jobs, not a dataset"
    if values["input_dataset"] and "input_dataset" not in errors:
        if problem := dataset_error(values["input_dataset"]):
            errors["input_dataset"] = problem
    if errors:
        raise RequestInvalid(errors)
    return ProductionRequest(**values)


def text_errors(values: Mapping[str, Any], problem_of: Callable[[str], str | None],
                prefix: str = "") -> dict[str, str]:
    """Every string of ``values`` (nested ones by their dotted path, keys too) that ``problem_of`` refuses."""
    errors: dict[str, str] = {}
    for key, value in values.items():
        where = f"{prefix}{key}"
        if problem := problem_of(str(key)):
            errors[where] = f"the name {problem}"
        elif isinstance(value, str):
            if problem := problem_of(value):
                errors[where] = f"{problem} (got {value!r})"
        elif isinstance(value, Mapping):
            errors.update(text_errors(value, problem_of, f"{where}."))
        elif isinstance(value, list):
            errors.update(text_errors({str(i): v for i, v in enumerate(value)}, problem_of, f"{where}."))
    return errors
