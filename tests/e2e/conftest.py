"""The ``airflow`` fixture: one real Airflow (scheduler, dag-processor, triggerer, api-server)
per test session, on fresh PostgreSQL databases, with prodops' DAGs and plugin loaded.

Its output and task logs are kept under test-artifacts/e2e/<time>/ for CI post-mortems.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prodops.workflows import load_templates

from .airflow_client import AirflowStack, launch_airflow

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
E2E_TIMEOUT = 600
MAIN_DAG = "production_request"
REQUEST_DAGS = (MAIN_DAG, *(f"workflow_{name}" for name in load_templates()))
"""The entry point and every workflow DAG it may trigger: parsed before any request is made."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an e2e test and gets the longer timeout unless it sets its own."""
    for item in items:
        if E2E_DIR in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))


@pytest.fixture(scope="session")
def airflow(make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """A running Airflow with ``production_request`` and the workflow DAGs parsed; an AirflowClient plus
    ``prodops_db_url``, ``metadata_db_url``, ``env``, ``airflow_home``, ``prodops_home``, ``log_path``."""
    artifacts = REPO_ROOT / "test-artifacts" / "e2e" / time.strftime("%Y%m%d-%H%M%S")
    with launch_airflow(
        make_database=make_database,
        workdir=tmp_path_factory.mktemp("airflow"),
        artifacts_dir=artifacts,
        wait_for_dags=REQUEST_DAGS,
    ) as stack:
        yield stack
