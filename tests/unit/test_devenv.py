"""The development stack's environment, URLs, port choice and process-session cleanup."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from prodops import devenv

PG_URL = "postgresql://postgres@127.0.0.1:55432/postgres"


def test_urls_keep_the_server_and_change_the_database():
    assert devenv.with_database(PG_URL, "prodops") == "postgresql://postgres@127.0.0.1:55432/prodops"
    assert devenv.database_name(devenv.with_database(PG_URL, "prodops_test_1")) == "prodops_test_1"
    assert devenv.sqlalchemy_url(PG_URL) == "postgresql+psycopg2://postgres@127.0.0.1:55432/postgres"
    assert devenv.libpq_url("postgresql+psycopg2://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_airflow_env_points_every_component_at_the_same_stack(tmp_path):
    env = devenv.airflow_env(
        airflow_home=tmp_path / "home",
        metadata_url=devenv.with_database(PG_URL, "airflow"),
        prodops_url=devenv.with_database(PG_URL, "prodops"),
        api_port=18080,
        repo=tmp_path,
        log_server_ports=(18793, 18794),
        base_env={"PYTHONPATH": "/elsewhere", "PATH": "/usr/bin"},
    )
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:18080/execution/"
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW_CONN_PRODOPS_DB"] == env["PRODOPS_DB_URL"] == devenv.with_database(PG_URL, "prodops")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "plugins"), "/elsewhere"]
    assert env["PRODOPS_HOME"] == str(tmp_path / ".local" / "prodops")
    assert env["PRODOPS_LOCAL_SLOTS"] == "4"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) <= 4
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"


def test_a_port_held_by_another_server_is_skipped_unless_it_was_asked_for(tmp_path, monkeypatch):
    pg = devenv.PrivatePostgres(tmp_path / "pg")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        monkeypatch.delenv("PRODOPS_PG_PORT", raising=False)
        monkeypatch.setattr(devenv, "DEFAULT_PG_PORT", busy)
        assert pg._choose_port() != busy
        monkeypatch.setenv("PRODOPS_PG_PORT", str(busy))
        with pytest.raises(devenv.DevEnvError, match="PRODOPS_PG_PORT"):
            pg._choose_port()


def test_stop_session_stops_grandchildren_too():
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(devenv.session_members(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(devenv.session_members(proc.pid)) >= 2
    devenv.stop_session(proc, timeout=5)
    assert devenv.session_members(proc.pid) == []
    assert proc.returncode is not None
