"""Settings read in one place: paths and defaults, overridable by environment variables.

No other module of the runtime package reads the environment for a setting (a test holds it), and
every ``PRODOPS_*`` variable read here is in the README's settings table. A value that is not what
its setting takes is a :class:`SettingInvalid` naming the variable, the value and the fix, not a
bare ``ValueError`` from deep inside a task. Airflow Variables hold only what an operator changes
while prodops runs (the approval timeout); connections hold endpoints and credentials.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from prodops.exceptions import ProdopsError

if TYPE_CHECKING:
    from prodops.batch.classads import MappingConfig



class SettingInvalid(ProdopsError, ValueError):
    """An environment variable holds a value its setting cannot take."""


def _text(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def _parsed(name: str, default: float, unit: str, kind: type[int] | type[float], minimum: float | None) -> float | None:
    """The variable as a number of ``kind``, ``None`` when unset, or SettingInvalid naming it."""
    raw = _text(name)
    if raw is None:
        return None
    try:
        value: float = kind(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        what = "a whole number" if kind is int else "a number"
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise SettingInvalid(f"{name}={raw!r} is not {what} of {unit}{bound}; set e.g. {default:g}, or unset it")
    return value


def _number(name: str, default: float, unit: str, *, minimum: float | None = None) -> float:
    value = _parsed(name, default, unit, float, minimum)
    return default if value is None else value


def _whole(name: str, default: int, unit: str, *, minimum: int = 1) -> int:
    value = _parsed(name, default, unit, int, minimum)
    return default if value is None else int(value)


REPO_ROOT = Path(__file__).resolve().parents[2]

INCLUDE_DIR = Path(os.environ.get("PRODOPS_INCLUDE", REPO_ROOT / "include"))
SQL_DIR = INCLUDE_DIR / "sql"
WORKFLOWS_DIR = INCLUDE_DIR / "workflows"
JOBS_DIR = INCLUDE_DIR / "jobs"

DB_CONN_ID = os.environ.get("PRODOPS_DB_CONN_ID", "prodops_db")
"""Airflow connection that names the prodops PostgreSQL database."""

HTCONDOR_CONN_ID = os.environ.get("PRODOPS_HTCONDOR_CONN_ID", "htcondor_default")
"""Airflow connection that names the HTCondor pool (collector, schedd, token)."""


def db_url() -> str | None:
    """``PRODOPS_DB_URL``: the prodops database as a libpq URL, where no Airflow connection is read
    (the command-line tools, the api-server's alerts); None when unset."""
    return _text("PRODOPS_DB_URL")


def prodops_home() -> Path:
    """Where the local pool keeps job workdirs (read each call: tests change it)."""
    return Path(os.environ.get("PRODOPS_HOME", REPO_ROOT / ".local" / "prodops"))


def approval_timeout_hours() -> float:
    """How long an approver has before a request expires."""
    return _number("PRODOPS_APPROVAL_TIMEOUT_HOURS", 72, "hours", minimum=0)


def feeder_max_window_hours() -> float:
    """The longest maintenance window a feeder token may schedule (a person may schedule up to 31 days)."""
    return _number("PRODOPS_FEEDER_MAX_WINDOW_HOURS", 72, "hours", minimum=0)


def batch_backend() -> str:
    """The batch system the workflow DAGs submit to: ``local`` (the embedded pool) or ``htcondor``."""
    return os.environ.get("PRODOPS_BATCH_BACKEND", "local")


def track_poll_interval_s() -> float:
    """Seconds between two tracking cycles of a submission."""
    return _number("PRODOPS_TRACK_POLL_INTERVAL", 5, "seconds", minimum=0)


def stream_triage_interval_s() -> float:
    """How often tracking triages the attempts that failed since (negative: never, the stage's
    triage step does it all at the end)."""
    return _number("PRODOPS_STREAM_TRIAGE_INTERVAL", 30, "seconds")


def retry_batch_interval_s() -> float:
    """The least time between two retry rounds of a stage while other jobs of it run: failures
    that come together are resubmitted together, in one cluster."""
    return _number("PRODOPS_RETRY_BATCH_INTERVAL", 60, "seconds", minimum=0)


def preflight_poll_interval_s() -> float:
    """How often a waiting preflight asks again whether the services are up."""
    return _number("PRODOPS_PREFLIGHT_POLL_INTERVAL", 15, "seconds", minimum=0)


def preflight_timeout_hours() -> float:
    """How long preflight waits for the services before the request's run fails."""
    return _number("PRODOPS_PREFLIGHT_TIMEOUT_HOURS", 24, "hours", minimum=0)


def preflight_waits_for_unknown() -> bool:
    """Whether preflight holds work for a service whose state is ``unknown`` (no monitoring reports
    it, or its reports stopped). ``wait`` on a real pool; ``pass`` on the embedded default (the local
    pool's jobs use this machine's disk, and no monitoring watches the grid's services for it):
    there a stage waits only for a service reported down, degraded or in maintenance."""
    default = "pass" if batch_backend() == "local" else "wait"
    raw = (_text("PRODOPS_PREFLIGHT_UNKNOWN") or default).lower()
    if raw not in ("wait", "pass"):
        raise SettingInvalid(f"PRODOPS_PREFLIGHT_UNKNOWN={raw!r} is not wait or pass; set one, or unset it"
                             f" (default {default} with PRODOPS_BATCH_BACKEND={batch_backend()})")
    return raw == "wait"


def phase_api_url() -> str:
    """Where jobs post their phases (the prodops app, ``/prodops``), given to them at submission.

    ``PRODOPS_API_URL`` when set (a pool whose workers reach the api-server by another name);
    else Airflow's ``AIRFLOW__API__BASE_URL``, else its ``AIRFLOW__API__PORT`` (and
    ``AIRFLOW__API__HOST``; 0.0.0.0 is reached on localhost): what the embedded default's jobs
    reach. Empty when none is set: the jobs then print stdout markers instead of posting.
    """
    explicit = os.environ.get("PRODOPS_API_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    base = os.environ.get("AIRFLOW__API__BASE_URL", "").strip().rstrip("/")
    port = os.environ.get("AIRFLOW__API__PORT", "").strip()
    if not base and port:
        host = os.environ.get("AIRFLOW__API__HOST", "").strip() or "localhost"
        base = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
    return base + "/prodops" if base else ""


def phase_token_grace_s() -> float:
    """How long after its submission is done a job token still posts (late posts of the last jobs)."""
    return _number("PRODOPS_PHASE_TOKEN_GRACE_S", 3600, "seconds", minimum=0)


def phase_token_max_days() -> float:
    """The longest a job token lives, however long its submission stays queued."""
    return _number("PRODOPS_PHASE_TOKEN_MAX_DAYS", 30, "days", minimum=0)


_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def site_attributes() -> tuple[str, ...]:
    """The job ClassAd attributes that name a job's site, first present wins.

    ``PRODOPS_SITE_ATTRIBUTES`` (attribute names separated by commas) replaces the default
    chain, :data:`prodops.batch.classads.SITE_ATTRIBUTES` (CMS, OSG and startd names).
    """
    from prodops.batch.classads import SITE_ATTRIBUTES

    raw = os.environ.get("PRODOPS_SITE_ATTRIBUTES")
    if raw is None or not raw.strip():
        return SITE_ATTRIBUTES
    names = [name.strip() for name in raw.split(",") if name.strip()]
    bad = [name for name in names if not _ATTRIBUTE_NAME.fullmatch(name)]
    if bad:
        raise ValueError(
            f"PRODOPS_SITE_ATTRIBUTES={raw!r}: {', '.join(map(repr, bad))} "
            f"{'is not a ClassAd attribute name' if len(bad) == 1 else 'are not ClassAd attribute names'}; "
            "give attribute names separated by commas, e.g. MATCH_EXP_JOB_GLIDEIN_Site,GLIDEIN_Site "
            "(or unset it for the default chain)"
        )
    return tuple(dict.fromkeys(names))


def ad_mapping() -> MappingConfig:
    """How job ads map to job-attempt rows here: the configured site chain, and each site's time zone
    from the site registry (``sites:`` of include/services.yaml) for the time-of-day window.

    Tracking maps ads with it and the HTCondor backend projects its queries on it, so the
    attributes the chain names are always fetched.
    """
    from prodops.batch.classads import MappingConfig
    from prodops.sites import load_sites

    sites = load_sites()
    return MappingConfig(site_attributes=site_attributes(), site_timezones=dict(sites.time_zones),
                         default_timezone=sites.default_time_zone)


DATASETS_FILE = INCLUDE_DIR / "datasets.yaml"


def dataset_roots() -> tuple[Path, ...]:
    """Directories ``file://`` input datasets may be read from (after symlinks are resolved).

    ``PRODOPS_DATASET_ROOTS`` (paths separated by ``:``) overrides the ``roots:`` of
    include/datasets.yaml; relative roots are taken from the repository's top.
    """
    raw = os.environ.get("PRODOPS_DATASET_ROOTS")
    if raw is not None:
        names = [name for name in raw.split(os.pathsep) if name]
    else:
        import yaml

        names = (yaml.safe_load(DATASETS_FILE.read_text()) or {}).get("roots") or []
    return tuple((REPO_ROOT / name).resolve() for name in names)


def samweb_conn_id() -> str:
    """The Airflow connection whose host is the samweb API's base URL, for ``sam:`` datasets."""
    return os.environ.get("PRODOPS_SAMWEB_CONN_ID", "samweb_default")


def metacat_conn_id() -> str:
    """The Airflow connection whose host is the MetaCat server's base URL, for ``metacat:`` datasets."""
    return os.environ.get("PRODOPS_METACAT_CONN_ID", "metacat_default")


def dataset_server_timeout_s() -> float:
    """Seconds one call to a dataset catalogue (samweb, MetaCat) may take before it counts as down."""
    return _number("PRODOPS_DATASET_TIMEOUT_S", 30, "seconds", minimum=0)


DEFAULT_LOCAL_SLOTS = 4


def local_slots() -> int:
    """Concurrent jobs of the local pool."""
    return _whole("PRODOPS_LOCAL_SLOTS", DEFAULT_LOCAL_SLOTS, "job slots")


def local_machine_overrides() -> tuple[str | None, str | None, str | None]:
    """What the local pool's machine advertises instead of this host's: site, CPU model, vendor
    (``PRODOPS_LOCAL_SITE``, ``PRODOPS_LOCAL_CPU_MODEL``, ``PRODOPS_LOCAL_CPU_VENDOR``)."""
    return _text("PRODOPS_LOCAL_SITE"), _text("PRODOPS_LOCAL_CPU_MODEL"), _text("PRODOPS_LOCAL_CPU_VENDOR")
