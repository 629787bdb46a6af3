"""The Celery stack's helpers (devenv.celery_stack): environment, worker identity, Redis, stopping."""

from __future__ import annotations

import importlib
import socket
import subprocess
import time

import pytest

import devenv
from devenv import celery_stack
from devenv.celery_stack import (
    HOSTNAME_VAR,
    celery_env,
    component_hostname,
    jobdir_command,
    redis_ping,
    start_redis,
    worker_env,
)
from devenv.processes import stop_sessions

PG_URL = "postgresql://postgres@127.0.0.1:55432/airflow"
BROKER = "redis://127.0.0.1:16379/0"


def _env(**kw):
    base = {"PYTHONPATH": "/repo/plugins", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}
    return celery_env(base, broker_url=BROKER, metadata_url=PG_URL, **kw)


def test_every_component_gets_the_executor_broker_and_the_keys_they_must_share():
    env = _env(worker_concurrency=3, api_workers=2)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == BROKER
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://postgres@127.0.0.1:55432/airflow"
    assert (env["AIRFLOW__CELERY__WORKER_CONCURRENCY"], env["AIRFLOW__API__WORKERS"]) == ("3", "2")
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert len(env[key]) >= 32 and env[key] != _env()[key]  # one per stack, shared by its components
    assert env["PYTHONPATH"].split(":") == ["/repo/plugins", str(devenv.REPO_ROOT / "tools")]
    assert celery_env(env, broker_url=BROKER, metadata_url=PG_URL)["PYTHONPATH"] == env["PYTHONPATH"]


def test_two_workers_on_one_machine_record_distinct_hostnames_and_serve_logs_on_distinct_ports(monkeypatch):
    env = _env()
    a, b = worker_env(env, "worker-a"), worker_env(env, "worker-b")
    assert a["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] != b["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]
    module, _, name = a["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rpartition(".")
    hostname = getattr(importlib.import_module(module), name)  # as Airflow's conf.getimport resolves it
    monkeypatch.setenv(HOSTNAME_VAR, b[HOSTNAME_VAR])
    assert hostname() == "worker-b"
    monkeypatch.delenv(HOSTNAME_VAR)
    assert component_hostname() == socket.getfqdn()
    assert HOSTNAME_VAR not in env


def test_the_triggerer_and_workers_start_behind_the_job_directory_check():
    command = jobdir_command("celery", "worker", "--celery-hostname", "worker-a")
    assert command[1:5] == ["-m", "prodops.jobdir", "run", "--"]
    assert command[5].endswith("airflow") and command[6:] == ["celery", "worker", "--celery-hostname", "worker-a"]


def test_a_private_redis_answers_on_its_port_and_stops(tmp_path):
    proc, url = start_redis(tmp_path / "redis")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        assert url == f"redis://127.0.0.1:{port}/0" and redis_ping(port)
    finally:
        stop_sessions([proc], timeout=10)
    assert proc.returncode is not None and not redis_ping(port, timeout=0.5)


def test_a_missing_redis_server_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(celery_stack.shutil, "which", lambda name: None)
    with pytest.raises(devenv.DevEnvError, match="apt-get install redis-server"):
        start_redis(tmp_path)


def test_stopping_signals_every_session_at_once_grandchildren_too():
    procs = [subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True) for _ in range(3)]
    deadline = time.monotonic() + 5
    while any(len(devenv.session_members(p.pid)) < 2 for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_sessions(procs, timeout=10)
    assert [devenv.session_members(p.pid) for p in procs] == [[], [], []]
    assert all(p.returncode is not None for p in procs)


def test_killing_a_component_kills_its_session_and_spares_what_it_started_in_a_session_of_its_own(tmp_path):
    """As a worker host dying under the local pool: the worker goes, the runner it detached lives on."""
    detached = tmp_path / "detached.pid"
    proc = subprocess.Popen(
        ["sh", "-c", f"setsid sh -c 'echo $$ > {detached}; exec sleep 60' & sleep 60 & sleep 60"],
        start_new_session=True,
    )
    stack = celery_stack.CeleryStack(env={}, base_url="", broker_url="", log_dir=tmp_path, processes={"worker-b": proc})
    deadline = time.monotonic() + 5
    while not (detached.exists() and detached.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    runner = int(detached.read_text())
    try:
        stack.kill("worker-b")
        assert devenv.session_members(proc.pid) == [] and proc.returncode == -9
        assert stack.dead() == {"worker-b": -9}
        assert devenv.session_members(runner) == [runner]  # still running
    finally:
        stop_sessions([runner], timeout=5)
