"""Render a :class:`SubmissionSpec` as an ``htcondor2.Submit``, and expand it job by job.

The Submit built here is the one both backends use: the HTCondor backend hands it to
``Schedd.submit``; the local pool expands it itself, because ``Submit.jobs()`` and
``Submit.procs()`` are not implemented in htcondor2. Expansion copies the Submit, sets
``ClusterId``, ``ProcId`` and the job's item (``args``) as macros, and asks
``Submit.expand`` for each command, so ``$(ProcId)``-style macros mean what condor_submit
makes of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import htcondor2

from prodops.batch import quoting
from prodops.batch.base import JOB_RESOURCES, SubmissionSpec
from prodops.batch.grid import JobPlacement, PoolSubmit, grid_commands
from prodops.exceptions import SubmitFailed

ITEM_VARIABLE = "args"
"""The queue variable each job's item is bound to (``queue args from (...)``)."""

JOB_VARIABLES = ("prodops_job_index", "prodops_memory_mb", "prodops_disk_kb", "prodops_wall_s")
"""Queue variables of a submission whose jobs differ in more than their arguments (a retry):
``queue prodops_job_index, ..., args from (...)``; ``args`` comes last and takes the rest of the line."""

EVENT_LOG_NAME = "jobs.log"
OUTPUT_PATTERN = "job.$(ProcId).out"
ERROR_PATTERN = "job.$(ProcId).err"

PRODOPS_ATTRIBUTES = ("ProdopsRequest", "ProdopsStage", "ProdopsAttempt", "ProdopsSubmission", "ProdopsJobIndex")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class JobDescription:
    """One job of a cluster, as condor_submit would expand it (paths absolute)."""

    cluster_id: int
    proc_id: int
    executable: str
    arguments: str
    iwd: str
    output: str
    error: str
    user_log: str
    environment: dict[str, str]
    request_memory_mb: int
    request_disk_kb: int
    request_cpus: int
    priority: int
    batch_name: str
    allowed_execute_duration: int | None
    custom: dict[str, str] = field(default_factory=dict)
    """``+Attr`` submit commands: attribute name -> ClassAd expression text."""

    @property
    def argv(self) -> list[str]:
        return [self.executable, *split_arguments(self.arguments)]

    @property
    def new_syntax_arguments(self) -> bool:
        """HTCondor keeps old-syntax arguments in ``Args`` and new-syntax ones in ``Arguments``."""
        return _is_new_syntax(self.arguments)


def render_submit(spec: SubmissionSpec, pool: PoolSubmit | None = None) -> htcondor2.Submit:
    """The submit description of ``spec``: one cluster, one job per item.

    ``pool`` is the pool's own submit settings (accounting, credentials, filesystem mode: the
    HTCondor connection's extras); None for the local pool, which runs jobs in place. The
    template's placement (``spec.placement``) is rendered either way (:mod:`prodops.batch.grid`).
    Every value of the spec reaches the description as data (:mod:`prodops.batch.quoting`):
    the only macros in it are the ones written here.
    """
    _validate(spec)
    per_job = bool(spec.job_indexes or spec.job_resources)
    extra, grid_environment = grid_commands(
        spec.placement or JobPlacement(), pool, experiment=spec.experiment, role=spec.role,
        job_index="$(prodops_job_index)" if per_job else "$(ProcId)", key=spec.key,
    )
    workdir = quoting.literal(os.path.abspath(spec.workdir), "workdir")
    description = {
        "universe": "vanilla",
        "executable": quoting.literal(os.path.abspath(spec.executable), "executable"),
        "arguments": f"$({ITEM_VARIABLE})",
        "initialdir": workdir,
        "log": os.path.join(workdir, EVENT_LOG_NAME),
        "output": os.path.join(workdir, OUTPUT_PATTERN),
        "error": os.path.join(workdir, ERROR_PATTERN),
        "request_cpus": "1",
        "request_memory": quoting.integer(spec.request_memory_mb, "request_memory_mb"),
        "request_disk": quoting.integer(spec.request_disk_mb * 1024, "request_disk_mb"),
        "allowed_execute_duration": quoting.integer(spec.max_wall_time_s, "max_wall_time_s"),
        "priority": quoting.integer(spec.priority, "priority"),
        "batch_name": batch_name(spec),
        "+ProdopsRequest": quoting.integer(spec.request_id, "request_id"),
        "+ProdopsStage": quoting.classad_string(spec.stage, "stage"),
        "+ProdopsAttempt": quoting.integer(spec.attempt, "attempt"),
        "+ProdopsSubmission": quoting.classad_string(spec.key, "submission key"),
    }
    description.update(extra)
    environment = {**grid_environment, **spec.environment}
    if environment:
        description["environment"] = quoting.literal(format_environment(environment), "environment")
    items = [quoting.literal(item.strip(), f"items[{index}]") for index, item in enumerate(spec.items)]
    if not per_job:
        description["+ProdopsJobIndex"] = "$(ProcId)"
        submit = htcondor2.Submit(description)
        submit.setQArgs(f"{ITEM_VARIABLE} from (\n" + "\n".join(items) + "\n)")
        return submit
    description.update({
        "request_memory": "$(prodops_memory_mb)",
        "request_disk": "$(prodops_disk_kb)",
        "allowed_execute_duration": "$(prodops_wall_s)",
        "+ProdopsJobIndex": "$(prodops_job_index)",
    })
    rows = []
    for index, item in enumerate(items):
        wants = spec.resources(index)
        numbers = (spec.job_index(index), wants["request_memory_mb"], wants["request_disk_mb"] * 1024,
                   wants["max_wall_time_s"])
        rows.append(" ".join(quoting.integer(n, f"job_resources[{index}]") for n in numbers) + f" {item}")
    submit = htcondor2.Submit(description)
    submit.setQArgs(f"{', '.join((*JOB_VARIABLES, ITEM_VARIABLE))} from (\n" + "\n".join(rows) + "\n)")
    return submit


BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,254}$")
"""What a batch name may hold: condor_q shows it, and it is built from the request's identifiers."""


def batch_name(spec: SubmissionSpec) -> str:
    name = spec.batch_name or f"prodops-{spec.request_id}-{spec.stage}-{spec.attempt}"
    if not BATCH_NAME.match(name):
        raise SubmitFailed(f"batch_name {name!r} of submission {spec.key} may hold only letters, digits and _ . + -;"
                           " fix the experiment or campaign it is built from")
    return name


def submit_file_text(submit: htcondor2.Submit) -> str:
    """The submit file for ``submit``, item list included (``str(Submit)`` drops inline items)."""
    lines = [f"{key} = {value}" for key, value in submit.items()]
    qargs = (submit.getQArgs() or "").strip()
    items = list(submit.itemdata() or [])
    if qargs.endswith("(") and items:
        values = [" ".join(item.values()) if isinstance(item, dict) else item for item in items]
        lines.append(f"queue {qargs}")
        lines.extend(values)
        lines.append(")")
    elif qargs:
        lines.append(f"queue {qargs}")
    else:
        lines.append("queue")
    return "\n".join(lines) + "\n"


def item_rows(submit: htcondor2.Submit) -> list[dict[str, str]]:
    """Each job's queue variables (``args``, and the per-job ones of a retry), in ProcId order."""
    items = submit.itemdata()
    if items is None:
        return [{ITEM_VARIABLE: ""}]
    return [dict(item) if isinstance(item, dict) else {ITEM_VARIABLE: item} for item in items]


def item_values(submit: htcondor2.Submit) -> list[str]:
    """Each job's ``args`` value, in ProcId order."""
    return [row[ITEM_VARIABLE] for row in item_rows(submit)]


def expand_jobs(submit: htcondor2.Submit, cluster_id: int) -> list[JobDescription]:
    """Every job of the cluster, with its macros expanded as condor_submit expands them."""
    template = {key: value for key, value in submit.items()}
    jobs = []
    for proc_id, row in enumerate(item_rows(submit)):
        item = row[ITEM_VARIABLE]
        job = htcondor2.Submit(template)
        for name, value in row.items():
            job[name] = value
        for macro, value in (
            ("ClusterId", str(cluster_id)),
            ("Cluster", str(cluster_id)),
            ("ProcId", str(proc_id)),
            ("Process", str(proc_id)),
            ("Step", "0"),
            ("Row", str(proc_id)),
            ("Item", item),
            (ITEM_VARIABLE, item),
        ):
            job[macro] = value
        jobs.append(_describe(job, template, cluster_id, proc_id))
    return jobs


def _describe(job: htcondor2.Submit, keys: Iterable[str], cluster_id: int, proc_id: int) -> JobDescription:
    def value(name: str, default: str = "") -> str:
        try:
            expanded: str = job.expand(name)
            return expanded.strip()
        except KeyError:
            return default

    iwd = os.path.abspath(value("initialdir") or os.getcwd())

    def path(name: str, default: str) -> str:
        raw = value(name, default)
        return raw if not raw or os.path.isabs(raw) else os.path.join(iwd, raw)

    custom = {}
    for key in keys:
        for prefix in ("+", "MY."):
            if key.startswith(prefix):
                custom[key[len(prefix):]] = value(key)
    duration = value("allowed_execute_duration")
    environment = value("environment")
    return JobDescription(
        cluster_id=cluster_id,
        proc_id=proc_id,
        executable=path("executable", ""),
        arguments=value("arguments"),
        iwd=iwd,
        output=path("output", "/dev/null"),
        error=path("error", "/dev/null"),
        user_log=path("log", ""),
        environment=parse_environment(environment) if environment else {},
        request_memory_mb=_int(value("request_memory", "128"), "request_memory"),
        request_disk_kb=_int(value("request_disk", "1024"), "request_disk"),
        request_cpus=_int(value("request_cpus", "1"), "request_cpus"),
        priority=_int(value("priority", "0"), "priority"),
        batch_name=value("JobBatchName") or value("batch_name"),
        allowed_execute_duration=_int(duration, "allowed_execute_duration") if duration else None,
        custom=custom,
    )


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SubmitFailed(
            f"submit command {name} = {text!r} is not a plain integer; "
            "the local pool takes request_memory in MB and request_disk in KB without units"
        ) from None


def _validate(spec: SubmissionSpec) -> None:
    problems = []
    if not spec.executable:
        problems.append("executable is empty; name the job's program")
    if not spec.workdir:
        problems.append("workdir is empty; give each submission its own directory")
    if not spec.stage:
        problems.append("stage '' is empty; name the stage")
    elif problem := quoting.text_problem(spec.stage):
        problems.append(f"stage {spec.stage!r} {problem}")
    for name in ("request_memory_mb", "request_disk_mb", "max_wall_time_s"):
        if getattr(spec, name) <= 0:
            problems.append(f"{name} = {getattr(spec, name)!r} must be positive")
    if isinstance(spec.items, str) or not spec.items:
        problems.append("items must be a non-empty list of argument strings, one per job")
    else:
        for index, item in enumerate(spec.items):
            text = item.strip() if isinstance(item, str) else None
            if not text:
                problems.append(f"items[{index}] = {item!r} is empty; every job needs an argument string")
            elif problem := quoting.control_character_problem(text):
                problems.append(f"items[{index}] = {item!r} {problem}")
            elif text == ")" or text.startswith("#"):
                problems.append(f"items[{index}] = {item!r} would end the item list or be read as a comment")
    problems += _per_job_problems(spec)
    try:
        format_environment(spec.environment)
    except SubmitFailed as err:
        problems.append(str(err))
    if problems:
        raise SubmitFailed(f"submission {spec.key!r} is invalid: " + "; ".join(problems))


def _per_job_problems(spec: SubmissionSpec) -> list[str]:
    problems = []
    n = len(spec.items) if not isinstance(spec.items, str) else 0
    if spec.job_indexes:
        if len(spec.job_indexes) != n:
            problems.append(f"job_indexes has {len(spec.job_indexes)} entries for {n} items; give one per item")
        bad = [i for i in spec.job_indexes if isinstance(i, bool) or not isinstance(i, int) or i < 0]
        if bad:
            problems.append(f"job_indexes {bad[:3]!r} are not job indexes (whole numbers >= 0)")
        elif len(set(spec.job_indexes)) != len(spec.job_indexes):
            problems.append("job_indexes repeats a job; submit each job of the stage once per attempt")
    if spec.job_resources:
        if len(spec.job_resources) != n:
            problems.append(f"job_resources has {len(spec.job_resources)} entries for {n} items; give one per item")
        for index, wants in enumerate(spec.job_resources):
            unknown = sorted(set(wants) - set(JOB_RESOURCES))
            if unknown:
                problems.append(f"job_resources[{index}]: {unknown[0]!r} is not one of {', '.join(JOB_RESOURCES)}")
            for name, value in wants.items():
                if name in JOB_RESOURCES and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                    problems.append(f"job_resources[{index}].{name} = {value!r} must be a positive whole number")
    return problems


def format_environment(env: Mapping[str, str]) -> str:
    """HTCondor's new environment syntax: ``"A=1 B='two words'"``."""
    entries = []
    for name, raw in env.items():
        if not _ENV_NAME.match(name):
            raise SubmitFailed(f"environment name {name!r} is not a valid variable name; use letters, digits, _")
        value = str(raw)
        if problem := quoting.control_character_problem(value):
            raise SubmitFailed(f"environment {name}={value!r} {problem}")
        quoted = value.replace('"', '""').replace("'", "''")
        if not value or any(ch.isspace() or ch in "'\"" for ch in value):
            quoted = f"'{quoted}'"
        entries.append(f"{name}={quoted}")
    return '"' + " ".join(entries) + '"'


def parse_environment(text: str) -> dict[str, str]:
    """The inverse of :func:`format_environment` (new syntax; old ``A=1;B=2`` syntax too)."""
    text = text.strip()
    if not _is_new_syntax(text):
        return dict(_split_pair(entry) for entry in text.split(";") if entry.strip())
    return dict(_split_pair(entry) for entry in _split_new_syntax(text[1:-1]))


def _split_pair(entry: str) -> tuple[str, str]:
    name, sep, value = entry.strip().partition("=")
    if not sep or not _ENV_NAME.match(name):
        raise SubmitFailed(f"environment entry {entry!r} is not NAME=value; fix the submit description")
    return name, value


def split_arguments(text: str) -> list[str]:
    """argv from an HTCondor arguments value: new syntax when double-quoted, else old syntax."""
    text = text.strip()
    if _is_new_syntax(text):
        return _split_new_syntax(text[1:-1])
    return [word.replace('\\"', '"') for word in text.split()]


def _is_new_syntax(text: str) -> bool:
    return len(text) >= 2 and text[0] == '"' and text[-1] == '"'


def _split_new_syntax(body: str) -> list[str]:
    """Whitespace separates words; single quotes group; ``''`` and ``""`` are literal quotes."""
    words: list[str] = []
    current: list[str] = []
    in_word = in_quote = False
    i = 0
    while i < len(body):
        ch = body[i]
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if ch == '"' and nxt == '"':
            current.append('"')
            in_word = True
            i += 2
            continue
        if ch == "'":
            if in_quote and nxt == "'":
                current.append("'")
                i += 2
                continue
            in_quote = not in_quote
            in_word = True
        elif ch.isspace() and not in_quote:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(ch)
            in_word = True
        i += 1
    if in_quote:
        raise SubmitFailed(f"unbalanced single quote in {body!r}; close the quoted word")
    if in_word:
        words.append("".join(current))
    return words
