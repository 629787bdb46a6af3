"""Settings read in one place: paths and defaults, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

INCLUDE_DIR = Path(os.environ.get("PRODOPS_INCLUDE", REPO_ROOT / "include"))
SQL_DIR = INCLUDE_DIR / "sql"
WORKFLOWS_DIR = INCLUDE_DIR / "workflows"
JOBS_DIR = INCLUDE_DIR / "jobs"

DB_CONN_ID = os.environ.get("PRODOPS_DB_CONN_ID", "prodops_db")
"""Airflow connection that names the prodops PostgreSQL database."""


def prodops_home() -> Path:
    """Where the local pool keeps job workdirs (read each call: tests change it)."""
    return Path(os.environ.get("PRODOPS_HOME", REPO_ROOT / ".local" / "prodops"))


def approval_timeout_hours() -> float:
    """How long an approver has before a request expires."""
    return float(os.environ.get("PRODOPS_APPROVAL_TIMEOUT_HOURS", "72"))


def batch_backend() -> str:
    """The batch system production_request submits to: ``local`` (the embedded pool) or ``htcondor``."""
    return os.environ.get("PRODOPS_BATCH_BACKEND", "local")


def track_poll_interval_s() -> float:
    return float(os.environ.get("PRODOPS_TRACK_POLL_INTERVAL", "5"))


def preflight_poll_interval_s() -> float:
    """How often a waiting preflight asks again whether the services are up."""
    return float(os.environ.get("PRODOPS_PREFLIGHT_POLL_INTERVAL", "15"))


def preflight_timeout_hours() -> float:
    """How long preflight waits for the services before the request's run fails."""
    return float(os.environ.get("PRODOPS_PREFLIGHT_TIMEOUT_HOURS", "24"))


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
