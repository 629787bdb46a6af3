"""The prodops app on the test's database, with Airflow's view permission granted."""

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
