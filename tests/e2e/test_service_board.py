"""The service board in a running Airflow: the plugin app is mounted with its own auth, feeders push
status with their tokens, and a request whose service is down waits at preflight until it is up."""

from __future__ import annotations

import os

import pytest
import requests

from prodops.store.db import connect

# Read by the preflight sensor in the Airflow this session starts (the harness passes os.environ on).
os.environ.setdefault("PRODOPS_PREFLIGHT_POLL_INTERVAL", "2")

DAG = "production_request"
WORKFLOW = "workflow_demo-grid"
FORM = {
    "experiment": "nova",
    "campaign": "e2e-preflight",
    "workflow": "demo-grid",
    "n_jobs": 2,
    "request_memory_mb": 100,
    "request_disk_mb": 100,
    "max_wall_time_min": 10,
    "priority": 40,
    "justification": "end-to-end test of preflight",
    "contact": "paola@example.org",
    "workflow_options": {"records": 5, "sleep_s": 0},
}


@pytest.fixture(scope="module")
def feeder_token(airflow) -> str:
    """The Airflow login's token: these tests post `manual` events, which a feeder token may not."""
    return airflow.token()


def push(airflow, token: str, body: dict) -> requests.Response:
    return requests.post(f"{airflow.base_url}/prodops/api/v1/events", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_board_is_mounted_and_refuses_anonymous_readers_and_writers(airflow):
    assert requests.get(f"{airflow.base_url}/prodops/", timeout=30).status_code == 401
    assert requests.get(f"{airflow.base_url}/prodops/api/v1/board", timeout=30).status_code == 401
    anonymous = requests.post(f"{airflow.base_url}/prodops/api/v1/events", json={"service": "dcache", "state": "up"}, timeout=30)
    assert anonymous.status_code == 401
    page = airflow.request("GET", "/prodops/")
    assert page.status_code == 200 and "Service board" in page.text
    plugins = airflow.call("GET", "/api/v2/plugins")["plugins"]
    assert "prodops" in [p["name"] for p in plugins]


def test_request_waits_at_preflight_while_a_service_is_down_and_proceeds_when_it_is_up(airflow, feeder_token):
    # manual events replace every feed's report (other tests of this session fed these services too)
    r = push(airflow, feeder_token, {"events": [{"service": "dcache", "state": "up", "source": "manual"},
                                                {"service": "samweb", "state": "down", "source": "manual"}]})
    assert r.status_code == 200, r.text
    bad = push(airflow, feeder_token, {"service": "samweb", "state": "sideways"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "state"

    airflow.unpause(DAG)
    run_id = airflow.trigger(DAG, FORM)
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=120)
    airflow.answer_hitl(DAG, run_id, "await_approval", ["Approve"], {"approved_priority": 50, "note": ""})
    airflow.wait_for_task_state(WORKFLOW, run_id, "preflight", ["deferred"], timeout=120)
    with connect(airflow.prodops_db_url) as conn:
        request_id = conn.execute("SELECT id FROM requests WHERE run_id = %s", (run_id,)).fetchone()["id"]
        assert conn.execute("SELECT count(*) AS n FROM submissions WHERE request_id = %s", (request_id,)).fetchone()["n"] == 0

    assert push(airflow, feeder_token, {"service": "samweb", "state": "up", "source": "manual"}).json()["stored"] == 1
    assert airflow.wait_for_run(DAG, run_id, timeout=300) == "success"
    with connect(airflow.prodops_db_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM submissions WHERE request_id = %s", (request_id,)).fetchone()["n"] == 1
    log = airflow.task_log(WORKFLOW, run_id, "preflight")
    assert "samweb" in log
