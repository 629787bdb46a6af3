"""What a real pool needs in a submit description beyond the job itself.

Two sources, each validated where it enters and each value kept as data (:mod:`prodops.batch.quoting`):

- :class:`JobPlacement`, from the workflow template's ``submit:`` block (workflow level, a stage's
  own block overrides key by key): sites, OS, requirements, container image, input and output
  sandboxes with remaps, the resource-limit policy, and extra submit commands from an allow-list;
- :class:`PoolSubmit`, from the pool's Airflow connection extras: the accounting group and user
  per experiment and role, the credential mode (OAuth services, a token file, an X.509 proxy),
  the filesystem mode (file transfer or a shared filesystem) and how a container is asked for.

:func:`grid_commands` turns both into submit commands. The local pool gets no :class:`PoolSubmit`
(it runs jobs in place) and ignores every command here but ``+Attr`` ones, which land in its
job ads as they would in a schedd's. docs/submit-descriptions.md maps each command to what
jobsub_lite writes for the same intent.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import classad2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prodops.batch import quoting
from prodops.exceptions import SubmitFailed

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
"""Sites, OS names, accounting groups and users, OAuth service names."""
IMAGE = re.compile(r"^[A-Za-z0-9_./:@+-]{1,500}$")
"""A container image: a path (/cvmfs/...sif or an unpacked directory) or a docker:// style name."""
SANDBOX_FILE = re.compile(r"^[A-Za-z0-9_./{}+@-]{1,1000}$")
"""A sandbox entry: no comma (the list separator), no ';' or '=' (remap syntax), no space."""

JOB_PLACEHOLDERS = ("job", "step")
"""What a sandbox name may hold: ``{job}`` (the job's index in its stage) and ``{step}`` (the
last template stage the job runs, the name its outputs carry; the template fills it in,
:meth:`prodops.workflows.StageTemplate.placement`)."""


class PolicyHoldSubcode(enum.IntEnum):
    """``HoldReasonSubCode`` of a hold by prodops' periodic_hold (``HoldReasonCode`` 3, JobPolicy)."""

    MEMORY = 1
    """MemoryUsage went over RequestMemory."""
    DISK = 2
    """DiskUsage went over RequestDisk."""


TRANSFER_HOLD_CODES = (12, 13)
"""HoldReasonCode of a failed output (12, TransferOutputError) or input (13, TransferInputError) transfer."""


class SubmitConfigInvalid(SubmitFailed):
    """A template's submit block or a connection's submit settings are malformed; names field and fix."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourcePolicy(_Frozen):
    """The periodic hold / release / remove policy for resource limits (template ``submit.policy``)."""

    hold_over_memory: bool = True
    """Hold a running job whose MemoryUsage goes over RequestMemory (subcode :attr:`PolicyHoldSubcode.MEMORY`)."""
    hold_over_disk: bool = True
    """Hold a running job whose DiskUsage goes over RequestDisk (subcode :attr:`PolicyHoldSubcode.DISK`)."""
    release_transfer_holds: int = Field(0, ge=0, le=10)
    """Release a job held by a failed file transfer this many times at most (0: never)."""
    release_after_min: int = Field(10, ge=1, le=1440)
    """Minutes a transfer-held job waits before it is released."""
    remove_wall_time_factor: int | None = Field(3, ge=1, le=100)
    """Remove a job whose wall time over all its runs passes this many times its allowed execute duration."""
    remove_held_after_hours: int | None = Field(72, ge=1, le=24 * 60)
    """Remove a job held longer than this (prodops' triage has acted on it long before)."""


class JobPlacement(_Frozen):
    """Where and how a stage's jobs run: the template's ``submit:`` block, validated."""

    sites: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    requirements: str = ""
    """More of the requirements expression (ClassAd), ANDed with prodops' own clauses."""
    avoid_sites: tuple[str, ...] = ()
    """Sites prodops' site steering keeps this submission away from (:mod:`prodops.steering`);
    never from a template: set per submission, each name a ClassAd string."""
    container_image: str = ""
    input_files: tuple[str, ...] = ()
    """Input sandbox: absolute paths (template paths are taken from include/jobs/)."""
    output_files: tuple[str, ...] = ()
    """Output sandbox: file names the job writes; empty: every new file of the job's top directory."""
    output_remaps: Mapping[str, str] = Field(default_factory=dict)
    policy: ResourcePolicy = Field(default_factory=ResourcePolicy)
    commands: Mapping[str, Any] = Field(default_factory=dict)
    """Extra submit commands, each one of :data:`EXTRA_COMMANDS` (or ``+DESIRED_*``)."""

    @field_validator("sites", "os")
    @classmethod
    def _names(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not NAME.match(value):
                raise ValueError(f"{value!r} is not a name (letters, digits, _ . -)")
        return values

    @field_validator("container_image")
    @classmethod
    def _image(cls, value: str) -> str:
        if value and not IMAGE.match(value):
            raise ValueError(f"{value!r} is not an image path or name (letters, digits, _ . / : @ + -)")
        return value

    @field_validator("input_files", "output_files")
    @classmethod
    def _files(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _sandbox_name(value)
        return values

    @field_validator("output_remaps")
    @classmethod
    def _remaps(cls, remaps: Mapping[str, str]) -> Mapping[str, str]:
        for name, target in remaps.items():
            _sandbox_name(name)
            _sandbox_name(target)
        return dict(remaps)

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, value: str) -> str:
        if value:
            _expression(value)
        return value

    @field_validator("commands")
    @classmethod
    def _commands(cls, commands: Mapping[str, Any]) -> Mapping[str, str]:
        checked = {}
        for name, value in commands.items():
            try:
                command = extra_command_name(name)  # the name first: an owned command is named as such
                checked[command] = extra_command_value(name, value)
            except ValueError as err:
                raise ValueError(f"{_AT}{name}{_AT} {err}") from None
        return checked


_AT = "\x00"
"""Brackets the command a :class:`ValueError` of ``commands`` is about, so its location names it."""


def _sandbox_name(value: str) -> None:
    if not SANDBOX_FILE.match(value) or ".." in value.split("/"):
        raise ValueError(f"{value!r} is not a sandbox file name (letters, digits, _ . / - + @, no '..', "
                         "no comma, space, ';' or '=')")
    for placeholder in re.findall(r"{([^}]*)}", value):
        if placeholder not in JOB_PLACEHOLDERS:
            raise ValueError(f"{value!r} holds {{{placeholder}}}; only {{job}} and {{step}} are filled in")


def _expression(value: str) -> None:
    if problem := quoting.text_problem(value):
        raise ValueError(problem)
    try:
        classad2.ExprTree(value)
    except Exception:  # noqa: BLE001 - classad2 raises its own ClassAdException
        raise ValueError(f"{value!r} is not a ClassAd expression; fix its syntax") from None


# ---- extra submit commands ------------------------------------------------------------------

EXTRA_COMMANDS: Mapping[str, str] = {
    "rank": "expression",
    "concurrency_limits": "text",
    "job_lease_duration": "integer",
    "job_max_vacate_time": "integer",
    "want_graceful_removal": "expression",
    "request_gpus": "integer",
    "gpus_minimum_capability": "text",
    "gpus_minimum_memory": "integer",
    "max_transfer_input_mb": "integer",
    "max_transfer_output_mb": "integer",
    "transfer_container": "boolean",
    "container_is_common": "boolean",
    "+desired_usage_model": "expression",
    "+blacklist_sites": "expression",
    "+job_expected_max_lifetime": "expression",
    "+spoolonevict": "expression",
    "+leavejobinqueue": "expression",
}
"""Submit commands a template may add (``submit.commands``), lower-cased, with the kind of value
each takes; any ``+DESIRED_<Name>`` (a glideinWMS match attribute) is allowed too."""

OWNED_COMMANDS: Mapping[str, str] = {
    **dict.fromkeys(("universe", "executable", "arguments", "args", "initialdir", "iwd", "log", "output",
                     "error", "environment", "getenv", "queue", "priority", "batch_name", "jobbatchname"),
                    "prodops writes it from the stage and the request"),
    **dict.fromkeys(("request_memory", "request_disk", "request_cpus", "allowed_execute_duration",
                     "allowed_job_duration"),
                    "set the request form's resources or the stage's resources: block"),
    "requirements": "use submit.requirements (ANDed with the site and OS clauses)",
    "+desired_sites": "use submit.sites",
    "+desiredos": "use submit.os",
    **dict.fromkeys(("+singularityimage", "container_image"), "use submit.container_image"),
    **dict.fromkeys(("accounting_group", "accounting_group_user", "+accountinggroup", "+acctgroup",
                     "+acctgroupuser"),
                    "the accounting group comes from the pool connection's extra.experiments"),
    **dict.fromkeys(("use_oauth_services", "x509userproxy", "use_x509userproxy", "+x509userproxy",
                     "use_scitokens", "scitokens_file"),
                    "credentials come from the pool connection's extra.credentials and extra.experiments"),
    **dict.fromkeys(("should_transfer_files", "when_to_transfer_output", "transfer_input_files",
                     "transfer_output_files", "transfer_output_remaps", "transfer_executable"),
                    "use submit.input_files / output_files / output_remaps (the mode is the connection's "
                    "extra.filesystem)"),
    **dict.fromkeys(("periodic_hold", "periodic_hold_reason", "periodic_hold_subcode", "periodic_release",
                     "periodic_remove", "on_exit_hold", "on_exit_remove", "max_retries"),
                    "use submit.policy (prodops' triage decides retries)"),
}
"""Commands prodops writes itself, and where a template says what it wants instead."""

_COMMAND_NAME = re.compile(r"^\+?[A-Za-z_][A-Za-z0-9_]{0,99}$")


def _plus_form(name: str) -> str:
    """``MY.Attr`` written as ``+Attr`` (the two spellings of a job ad attribute), case kept."""
    return "+" + name[3:] if name.lower().startswith("my.") else name


def extra_command_name(name: str) -> str:
    """``name`` if a template may add it (``MY.Attr`` as ``+Attr``), else :class:`ValueError` naming it and the fix."""
    command = _plus_form(name)
    key = command.lower()
    if not _COMMAND_NAME.match(command):
        raise ValueError(f"{name!r} is not a submit command name")
    if key in OWNED_COMMANDS:
        raise ValueError(f"{name!r} is not allowed here: {OWNED_COMMANDS[key]}")
    if key.startswith("+prodops"):
        raise ValueError(f"{name!r} is not allowed here: +Prodops* attributes tag prodops' own jobs")
    if key not in EXTRA_COMMANDS and not key.startswith("+desired_"):
        allowed = ", ".join(sorted(EXTRA_COMMANDS))
        raise ValueError(f"{name!r} is not on the allow-list of submit.commands ({allowed}, "
                         "+DESIRED_*); remove it, or add it to prodops.batch.grid.EXTRA_COMMANDS with a test")
    return command


def extra_command_value(name: str, value: Any) -> str:
    """The value of an allowed extra command as submit text, checked for its kind."""
    kind = EXTRA_COMMANDS.get(_plus_form(name).lower(), "expression")
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} must be non-empty text or a number")
    if problem := quoting.text_problem(value):
        raise ValueError(f"{value!r} {problem}")
    if kind == "integer" and not re.fullmatch(r"\d{1,12}", value.strip()):
        raise ValueError(f"{value!r} must be a whole number")
    if kind == "boolean" and value.strip().lower() not in ("true", "false"):
        raise ValueError(f"{value!r} must be true or false")
    if kind == "expression":
        _expression(value)
    return value.strip()


# ---- pool settings --------------------------------------------------------------------------

CredentialMode = Literal["oauth", "token_file", "x509", "none"]
FilesystemMode = Literal["transfer", "shared"]
ContainerMode = Literal["singularity_image", "container_universe"]


class ExperimentRole(_Frozen):
    """One experiment's settings for one role (``extra.experiments.<experiment>.<role>``)."""

    accounting_group: str | None = None
    accounting_group_user: str | None = None
    oauth_service: str | None = None
    """Credential service of ``use_oauth_services``; default ``<experiment>_<role>`` (jobsub_lite's name)."""
    oauth_permissions: str | None = None
    """Scopes of the job's token (``<service>_oauth_permissions``); default: the credd's."""
    token_file: str | None = None
    """Token file sent with each job (credentials ``token_file``); BEARER_TOKEN_FILE names it."""
    x509userproxy: str | None = None
    """X.509 proxy of the role (credentials ``x509``)."""

    @field_validator("accounting_group", "accounting_group_user", "oauth_service")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not NAME.match(value):
            raise ValueError(f"{value!r} is not a name (letters, digits, _ . -)")
        return value

    @field_validator("oauth_permissions", "token_file", "x509userproxy")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None:
            if problem := quoting.text_problem(value):
                raise ValueError(problem)
            if '"' in value or "\\" in value:
                raise ValueError(f"{value!r} holds a quote or backslash")
        return value

    @field_validator("token_file", "x509userproxy")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or not SANDBOX_FILE.match(value)):
            raise ValueError(f"{value!r} is not an absolute path of plain characters")
        return value


class PoolSubmit(_Frozen):
    """The pool's submit settings, from the connection's extras (see the README's HTCondor section)."""

    experiments: Mapping[str, Mapping[str, ExperimentRole]] = Field(default_factory=dict)
    credentials: CredentialMode = "none"
    filesystem: FilesystemMode = "transfer"
    container: ContainerMode = "singularity_image"

    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("experiments", "credentials", "filesystem", "container")

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], where: str) -> PoolSubmit:
        """The submit settings among a connection's extras; :class:`SubmitConfigInvalid` names each bad field."""
        data = {key: extra[key] for key in cls.EXTRA_KEYS if key in extra}
        if isinstance(data.get("experiments"), str):  # a connection URI's query gives text
            try:
                data["experiments"] = json.loads(data["experiments"])
            except ValueError:
                raise SubmitConfigInvalid(f"{where} is invalid: extra.experiments is not JSON; fix its syntax") from None
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise SubmitConfigInvalid(f"{where} is invalid: " + _problems(err, "extra")) from None

    def role(self, experiment: str, role: str) -> ExperimentRole | None:
        return (self.experiments.get(experiment) or {}).get(role)


def _problems(err: ValidationError, prefix: str) -> str:
    out = []
    for problem in err.errors():
        loc = [str(p) for p in (prefix, *problem["loc"])]
        message = problem["msg"].removeprefix("Value error, ")
        if message.startswith(_AT):
            command, _, message = message[1:].partition(_AT)
            loc.append(command)
            message = message.strip()
        where = ".".join(loc)
        if problem["type"] == "extra_forbidden":
            message = "is not a known setting; remove it or fix its spelling"
        elif problem["type"] == "literal_error":
            message = message.replace("Input should be", "must be")
        out.append(f"{where}: {message}")
    return "; ".join(out)


def parse_placement(raw: Mapping[str, Any] | None, where: str) -> JobPlacement:
    """A template's ``submit:`` block; :class:`SubmitConfigInvalid` names each bad field and the fix."""
    if raw and "avoid_sites" in raw:
        raise SubmitConfigInvalid(f"{where}: submit.avoid_sites is set by site steering, not by a template;"
                                  " use submit.sites or submit.requirements")
    try:
        return JobPlacement.model_validate(dict(raw or {}))
    except ValidationError as err:
        raise SubmitConfigInvalid(f"{where}: " + _problems(err, "submit")) from None


# ---- commands -------------------------------------------------------------------------------


def grid_commands(
    placement: JobPlacement,
    pool: PoolSubmit | None,
    *,
    experiment: str,
    role: str,
    job_index: str,
    key: str,
) -> tuple[dict[str, str], dict[str, str]]:
    """Submit commands of ``placement`` and ``pool``, and environment variables the job needs.

    ``job_index`` is the macro that names a job's index (``$(ProcId)``, or a retry's queue
    variable), put where a sandbox name says ``{job}``; ``{step}`` was filled in by the template
    (``prodops.workflows.StageTemplate.placement``, which knows a combined stage's last step).
    """
    commands: dict[str, str] = {}
    environment: dict[str, str] = {}
    if pool is not None:
        commands.update(_accounting(pool, experiment, role, key))
        creds, environment, sent = _credentials(pool, experiment, role, key)
        commands.update(creds)
    else:
        sent = []
    commands.update(_placement(placement, pool))
    commands.update(_sandboxes(placement, pool, sent, job_index=job_index))
    commands.update(_policy(placement.policy))
    for name, value in placement.commands.items():
        commands[name] = value
    return commands, environment


def _missing(what: str, experiment: str, role: str, key: str, example: str) -> SubmitConfigInvalid:
    return SubmitConfigInvalid(
        f"submission {key}: the pool connection has no {what} for experiment {experiment!r}, role {role!r}; "
        f"add extra.experiments.{experiment or '<experiment>'}.{role} = {example}"
    )


def _accounting(pool: PoolSubmit, experiment: str, role: str, key: str) -> dict[str, str]:
    if not pool.experiments:
        return {}
    settings = pool.role(experiment, role)
    if settings is None or not settings.accounting_group:
        raise _missing("accounting group", experiment, role, key,
                       f'{{"accounting_group": "group_{experiment or "exp"}.prod", "accounting_group_user": '
                       f'"{experiment or "exp"}pro"}}')
    commands = {"accounting_group": settings.accounting_group}
    if settings.accounting_group_user:
        commands["accounting_group_user"] = settings.accounting_group_user
    return commands


def _credentials(
    pool: PoolSubmit, experiment: str, role: str, key: str
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Commands, environment and files to send for the job's credential."""
    settings = pool.role(experiment, role) or ExperimentRole()
    if pool.credentials == "oauth":
        service = settings.oauth_service or f"{experiment}_{role}".lower()
        if not NAME.match(service):
            raise _missing("OAuth service", experiment, role, key, '{"oauth_service": "<credd service name>"}')
        commands = {"use_oauth_services": service}
        if settings.oauth_permissions:
            commands[f"{service}_oauth_permissions"] = classad2.quote(settings.oauth_permissions)
        # the starter writes the service's token into the job's .condor_creds/ as <service>.use
        return commands, {"BEARER_TOKEN_FILE": f".condor_creds/{service}.use"}, []
    if pool.credentials == "token_file":
        if not settings.token_file:
            raise _missing("token file", experiment, role, key, '{"token_file": "/path/to/the/role/token"}')
        name = settings.token_file.rsplit("/", 1)[-1]
        if pool.filesystem == "transfer":
            return {}, {"BEARER_TOKEN_FILE": name}, [settings.token_file]
        return {}, {"BEARER_TOKEN_FILE": settings.token_file}, []
    if pool.credentials == "x509":
        if not settings.x509userproxy:
            raise _missing("X.509 proxy", experiment, role, key, '{"x509userproxy": "/path/to/the/role/proxy"}')
        return {"x509userproxy": settings.x509userproxy}, {}, []
    return {}, {}, []


AVOID_ATTRIBUTE = "+ProdopsAvoidSites"
"""The job ad's list of sites steering avoids, read by the requirements clause (and by a person)."""


def _placement(placement: JobPlacement, pool: PoolSubmit | None) -> dict[str, str]:
    commands: dict[str, str] = {}
    clauses = []
    if placement.sites:
        commands["+DESIRED_Sites"] = classad2.quote(",".join(placement.sites))
        clauses.append("(isUndefined(TARGET.GLIDEIN_Site) == false && stringListIMember(TARGET.GLIDEIN_Site, "
                       "MY.DESIRED_Sites))")
    if placement.os:
        commands["+DesiredOS"] = classad2.quote(",".join(placement.os))
        clauses.append("(isUndefined(TARGET.IFOS_installed) || stringListsIntersect(toUpper(MY.DesiredOS), "
                       "TARGET.IFOS_installed))")
    if placement.avoid_sites:
        commands[AVOID_ATTRIBUTE] = "{" + ", ".join(
            quoting.classad_string(site, "avoided site") for site in placement.avoid_sites) + "}"
        clauses.append(f"(isUndefined(TARGET.GLIDEIN_Site) || !member(TARGET.GLIDEIN_Site, MY.{AVOID_ATTRIBUTE[1:]}))")
    if placement.requirements:
        clauses.append(f"({placement.requirements})")
    if clauses:
        commands["requirements"] = " && ".join(clauses)
    if placement.container_image:
        if pool is not None and pool.container == "container_universe":
            commands["universe"] = "container"
            commands["container_image"] = placement.container_image
        else:
            commands["+SingularityImage"] = classad2.quote(placement.container_image)
    return commands


def _fill(name: str, job_index: str) -> str:
    return name.replace("{job}", job_index)


def _sandboxes(
    placement: JobPlacement, pool: PoolSubmit | None, sent: Sequence[str], *, job_index: str,
) -> dict[str, str]:
    if pool is None:
        return {}  # the local pool runs each job in place, in its workdir
    if pool.filesystem == "shared":
        return {"should_transfer_files": "NO"}
    inputs = [_fill(name, job_index) for name in placement.input_files] + list(sent)
    commands = {"should_transfer_files": "YES", "when_to_transfer_output": "ON_EXIT_OR_EVICT"}
    if inputs:
        commands["transfer_input_files"] = ", ".join(inputs)
    if placement.output_files:
        commands["transfer_output_files"] = ", ".join(_fill(n, job_index) for n in placement.output_files)
    if placement.output_remaps:
        remaps = "; ".join(f"{_fill(a, job_index)} = {_fill(b, job_index)}"
                           for a, b in placement.output_remaps.items())
        commands["transfer_output_remaps"] = f'"{remaps}"'
    return commands


def _policy(policy: ResourcePolicy) -> dict[str, str]:
    commands: dict[str, str] = {}
    memory = "(MemoryUsage =!= undefined && MemoryUsage > RequestMemory)"
    disk = "(DiskUsage =!= undefined && DiskUsage > RequestDisk)"
    memory_reason = ('strcat("prodops policy: memory usage exceeded request_memory (", MemoryUsage, " MB > ", '
                     'RequestMemory, " MB)")')
    disk_reason = ('strcat("prodops policy: disk usage exceeded request_disk (", DiskUsage, " KB > ", '
                   'RequestDisk, " KB)")')
    holds = [(c, r, s) for on, c, r, s in (
        (policy.hold_over_memory, memory, memory_reason, PolicyHoldSubcode.MEMORY),
        (policy.hold_over_disk, disk, disk_reason, PolicyHoldSubcode.DISK),
    ) if on]
    if holds:
        commands["periodic_hold"] = "JobStatus == 2 && (" + " || ".join(c for c, _, _ in holds) + ")"
        reason, subcode = holds[-1][1], str(int(holds[-1][2]))
        for clause, why, code in reversed(holds[:-1]):
            reason = f"ifThenElse({clause}, {why}, {reason})"
            subcode = f"ifThenElse({clause}, {int(code)}, {subcode})"
        commands["periodic_hold_reason"] = reason
        commands["periodic_hold_subcode"] = subcode
    if policy.release_transfer_holds:
        codes = ", ".join(str(c) for c in TRANSFER_HOLD_CODES)
        commands["periodic_release"] = (
            f"JobStatus == 5 && member(HoldReasonCode, {{{codes}}}) && NumHolds <= {policy.release_transfer_holds}"
            f" && time() - EnteredCurrentStatus > {policy.release_after_min * 60}"
        )
    removes = []
    if policy.remove_wall_time_factor:
        removes.append(
            "(AllowedExecuteDuration =!= undefined && RemoteWallClockTime + ifThenElse(JobStatus == 2 && "
            "JobCurrentStartDate =!= undefined, time() - JobCurrentStartDate, 0) > "
            f"{policy.remove_wall_time_factor} * AllowedExecuteDuration)"
        )
    if policy.remove_held_after_hours:
        removes.append(f"(JobStatus == 5 && time() - EnteredCurrentStatus > {policy.remove_held_after_hours * 3600})")
    if removes:
        commands["periodic_remove"] = " || ".join(removes)
    return commands


def merged_blocks(*blocks: Mapping[str, Any] | None) -> dict[str, Any]:
    """Template ``submit:`` blocks, later ones overriding key by key (``policy`` and ``commands`` merge)."""
    merged: dict[str, Any] = {}
    for block in blocks:
        for name, value in (block or {}).items():
            if name in ("policy", "commands") and isinstance(value, Mapping):
                merged[name] = {**(merged.get(name) or {}), **value}  # an earlier block may say null
            else:
                merged[name] = value
    return merged


def resolve_inputs(placement: JobPlacement, base: str) -> JobPlacement:
    """``placement`` with relative input sandbox paths taken from ``base`` (include/jobs/)."""
    paths: Sequence[str] = tuple(p if p.startswith("/") else f"{base.rstrip('/')}/{p}" for p in placement.input_files)
    return placement.model_copy(update={"input_files": paths})
