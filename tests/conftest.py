"""Fixtures shared by the whole suite: a private Airflow config and PostgreSQL test databases.

Test databases live on the server ``PRODOPS_PG_URL`` names (scripts/test.sh exports it), else
on the server of ``PRODOPS_DB_URL``, else on this checkout's private PostgreSQL, started on
demand; so ``pytest`` works alone as well as under ``make test``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import devenv

REPO_ROOT = Path(__file__).resolve().parents[1]

# Before any test imports airflow: its config must not be the developer's ~/airflow, nor the
# `make run` metadata database, and parsing must not load Airflow's example DAGs.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="prodops-pytest-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["PYTHONPATH"] = devenv.pythonpath(REPO_ROOT, os.environ.get("PYTHONPATH"))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A libpq URL on the PostgreSQL server where tests may create and drop databases."""
    explicit = os.environ.get("PRODOPS_PG_URL")
    if explicit:
        return devenv.libpq_url(explicit)
    try:
        return devenv.server_url(REPO_ROOT)
    except devenv.DevEnvError as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def make_database(pg_server_url: str) -> Iterator[Callable[[str], str]]:
    """``make_database(prefix) -> url``: a new empty database, dropped at the end of the session."""
    created: list[str] = []

    def make(prefix: str = "prodops_test") -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        url = devenv.ensure_database(pg_server_url, name)
        created.append(name)
        return url

    yield make
    for name in reversed(created):
        try:
            devenv.drop_database(pg_server_url, name)
        except Exception as exc:  # a failed drop must not hide the test result
            print(f"could not drop test database {name}: {exc}")


@pytest.fixture(scope="session")
def pg_url(make_database: Callable[[str], str]) -> str:
    """A fresh empty database for this session (or ``PRODOPS_TEST_DB_URL`` as it is, never dropped)."""
    explicit = os.environ.get("PRODOPS_TEST_DB_URL")
    if explicit:
        return devenv.libpq_url(explicit)
    return make_database("prodops_test")


@pytest.fixture(scope="session")
def migrated_template(make_database: Callable[[str], str]) -> str:
    """A database with the prodops schema, migrated once per session and only ever copied."""
    url = make_database("prodops_tpl")
    _migrate(url)
    return url


@pytest.fixture
def db_url(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[str]:
    """A fresh database with the prodops schema for each test (a copy of ``migrated_template``).

    With ``PRODOPS_TEST_DB_URL`` set, that one database is migrated and shared instead.
    """
    explicit = os.environ.get("PRODOPS_TEST_DB_URL")
    if explicit:
        url = devenv.libpq_url(explicit)
        _migrate(url)
        yield url
        return
    template = devenv.database_name(request.getfixturevalue("migrated_template"))
    name = f"prodops_test_{secrets.token_hex(4)}"
    url = devenv.ensure_database(pg_server_url, name, template=template)
    yield url
    try:
        devenv.drop_database(pg_server_url, name)
    except Exception as exc:  # a failed drop must not hide the test result
        print(f"could not drop test database {name}: {exc}")


def _migrate(url: str) -> None:
    try:
        applied = devenv.migrate_prodops(url)
    except devenv.DevEnvError as exc:
        pytest.fail(str(exc), pytrace=False)
    if not applied:
        pytest.fail("prodops.store.migrate is missing: the prodops schema cannot be applied", pytrace=False)
