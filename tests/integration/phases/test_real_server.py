"""The job side for real: the demo job, the client script and the documented curl one-liner, as
processes, posting over HTTP to the prodops app served by uvicorn on the test's database."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from prodops import config
from prodops.store.db import connect
from prodops.web.app import URL_PREFIX, create_app

pytestmark = pytest.mark.integration

DOCS = config.REPO_ROOT / "docs" / "instrumenting.md"


@pytest.fixture
def api_url(db_url):
    """The app mounted at /prodops as the api-server mounts it, on a port the kernel picks."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    root = Starlette(routes=[Mount(URL_PREFIX, app=create_app(db_url, sync_registry=False))])
    server = uvicorn.Server(uvicorn.Config(root, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(600):  # the server says when it listens: no fixed sleep
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{sock.getsockname()[1]}{URL_PREFIX}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def _job_env(submitted, api_url: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "PRODOPS_API_URL": api_url, "PRODOPS_PHASE_TOKEN": submitted.token,
            "PRODOPS_SUBMISSION_ID": str(submitted.submission_id), "PRODOPS_PHASE_TIMEOUT": "60"}


def _phases(db_url):
    with connect(db_url) as conn:
        return [tuple(r.values()) for r in conn.execute(
            "SELECT job_index, phase, state, status_code, source FROM job_phases ORDER BY job_index, phase, state")]


def test_the_demo_job_posts_its_phases_and_prints_no_marker(db_url, submitted, api_url, tmp_path):
    done = subprocess.run([sys.executable, str(config.JOBS_DIR / "demo_job.py"), "--job", "2", "--records", "5",
                           "--sleep", "0"], cwd=tmp_path, env=_job_env(submitted, api_url), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "@@prodops" not in done.stdout and "prodops_phase" not in done.stderr, done.stderr
    assert _phases(db_url) == [(2, "copy-out", "finished", 0, "api"), (2, "copy-out", "started", None, "api"),
                               (2, "process", "finished", 0, "api"), (2, "process", "started", None, "api")]


def test_posting_to_another_submission_is_refused_and_the_job_prints_markers_and_succeeds(db_url, submitted, api_url,
                                                                                 tmp_path):
    env = {**_job_env(submitted, api_url), "PRODOPS_SUBMISSION_ID": str(submitted.submission_id + 1)}
    done = subprocess.run([sys.executable, str(config.JOBS_DIR / "prodops_phase.py"), "copy-out", "started",
                           "--job", "0"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    assert done.stdout.startswith("@@prodops phase=copy-out state=started time=")
    assert "answered 403" in done.stderr  # its token is for its own submission, not this one
    assert _phases(db_url) == []


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_one_liner_posts(db_url, submitted, api_url, tmp_path):
    line = next(text for text in DOCS.read_text().splitlines() if text.startswith("curl "))
    env = {**_job_env(submitted, api_url), "JOB": "1"}
    done = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert _phases(db_url) == [(1, "copy-out", "started", None, "api")]
    refused = subprocess.run(["bash", "-c", line], cwd=tmp_path, env={**env, "PRODOPS_PHASE_TOKEN": "pjt_x"},
                             capture_output=True, text=True, timeout=300)
    assert re.fullmatch(r"@@prodops phase=copy-out state=started time=\S+Z\n", refused.stdout)


def test_the_mc_chain_job_posts_its_phases_and_a_storage_failure_leaves_copy_out_open(db_url, submitted, api_url,
                                                                                      tmp_path):
    flag = tmp_path / "storage-down"
    flag.write_text("1\n")  # the demo storage is down for job 1 only
    for job in (0, 1):
        done = subprocess.run([sys.executable, str(config.JOBS_DIR / "mc_stage.py"), "--stage", "gen", "--job",
                               str(job), "--events", "5", "--storage-flag", str(flag)], cwd=tmp_path,
                              env=_job_env(submitted, api_url), capture_output=True, text=True, timeout=300)
        assert done.returncode == (70 if job else 0), done.stderr
        assert "@@prodops" not in done.stdout
    assert _phases(db_url) == [
        (0, "copy-out", "finished", 0, "api"), (0, "copy-out", "started", None, "api"),
        (0, "process", "finished", 0, "api"), (0, "process", "started", None, "api"),
        (1, "copy-out", "started", None, "api"),
        (1, "process", "finished", 0, "api"), (1, "process", "started", None, "api")]
