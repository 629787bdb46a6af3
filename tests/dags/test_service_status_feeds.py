"""The service_status DAG, run whole with dag.test(), pulls each feed kind of the shipped examples.

include/services.yaml ships its pull feeds commented (a Statuspage page and a native JSON feed);
uncommented and pointed at a local server, one run stores what each says.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

import devenv
from prodops.status import registry
from prodops.status.board import current_states
from prodops.status.states import ServiceState
from prodops.store.db import connect
from tests.unit.status.test_services_examples import _example

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
ANSWERS = {
    "/api/v2/summary.json": {
        "components": [
            {"id": "c1", "name": "Conditions database", "status": "major_outage", "updated_at": NOW},
            {"id": "c2", "name": "Website", "status": "operational", "updated_at": NOW},
        ]
    },
    "/prodops/status.json": {
        "events": [{"service": "samweb", "state": "degraded", "time": NOW, "id": "m1", "message": "slow file lists"}]
    },
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = ANSWERS.get(self.path)
        data = json.dumps(body).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def feeds_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def example_registry(tmp_path, monkeypatch):
    """include/services.yaml with its example pull feeds uncommented."""
    raw = yaml.safe_load(registry.SERVICES_FILE.read_text())
    raw["feeds"] = yaml.safe_load(_example("pull feeds"))["feeds"]
    path = tmp_path / "services.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(registry, "SERVICES_FILE", path)
    return raw


def test_one_run_pulls_the_statuspage_and_the_native_example_feeds(example_registry, feeds_server, db_url, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from .test_dag_integrity import DAGS

    devenv.migrate_airflow(os.environ)
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", db_url)
    for feed in example_registry["feeds"]:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{feed['conn_id'].upper()}", json.dumps({"conn_type": "http", "host": feeds_server})
        )
    bag = DagBag(dag_folder=str(DAGS / "service_status.py"))
    assert bag.import_errors == {}
    run = bag.dags["service_status"].test()
    assert run.state == "success"
    with connect(db_url) as conn:
        states = current_states(conn, datetime.now(timezone.utc))
    assert states["conditions-db"].state is ServiceState.DOWN  # Statuspage: major_outage
    assert states["samweb"].state is ServiceState.DEGRADED  # native JSON feed
