"""The prodops app on the test's database: ``client`` with Airflow's view permission granted and no
registry; ``synced_app`` / ``synced_client`` as inside Airflow (the registry loaded on first use, no
permission granted)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from prodops.web.app import create_app, viewer


@pytest.fixture
def client(db_url):
    app = create_app(db_url, sync_registry=False)
    app.dependency_overrides[viewer] = lambda: None
    with TestClient(app) as c:
        yield c


@pytest.fixture
def synced_app(db_url):
    return create_app(db_url)


@pytest.fixture
def synced_client(synced_app):
    with TestClient(synced_app) as c:
        yield c
