"""Fault: the api-server SIGKILLed while a feeder posts status events, then started again.

prodops' app served by uvicorn in a process of its own (as the api-server serves the plugin's
FastAPI app), a feeder posting batches with the retrying client :class:`prodops.status.push.Feeder`.
The test holds ``status_events`` so one batch is inside the server's transaction when the server
is killed, starts a new server on the same port, and checks that every event the feeder sent is
stored exactly once (by its id) and that the feeder had to retry to get there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest
import requests

import devenv
from prodops.status import tokens
from prodops.status.push import Feeder, Pushed
from prodops.status.registry import load_registry, sync_registry
from prodops.store.db import connect

from .common import blocked_on_lock, wait_for

pytestmark = pytest.mark.integration

BATCHES = 30
BATCH = 50
KILL_AT = 10
"""The batch the kill cuts off: the feeder stops before it until the test holds the table."""


class ApiServer:
    """prodops' web app in a uvicorn process of its own session, on one port across restarts."""

    def __init__(self, db_url: str) -> None:
        self.db_url, self.port = db_url, devenv.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        code = ("import uvicorn; from prodops.web.app import create_app;"
                f"uvicorn.run(create_app({self.db_url!r}), host='127.0.0.1', port={self.port}, log_level='warning')")
        self.proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        wait_for("the api-server answering", self._answers, timeout_s=60, every_s=0.1)

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "the api-server exited at start"
        try:
            return requests.get(f"{self.url}/openapi.json", timeout=2).ok
        except requests.RequestException:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            devenv.stop_session(self.proc, timeout=10)


@pytest.fixture
def api_server(db_url) -> Iterator[ApiServer]:
    server = ApiServer(db_url)
    try:
        yield server
    finally:
        server.stop()


def stored(db_url: str) -> dict[str, int]:
    with connect(db_url) as conn:
        return {r["external_id"]: r["n"] for r in conn.execute(
            "SELECT external_id, count(*) AS n FROM status_events GROUP BY external_id")}


def test_api_server_killed_mid_stream_stores_every_event_once(db_url, api_server):
    services = [s.name for s in load_registry().services]
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        _, token = tokens.issue(conn, "fault-feeder", services=services)
        conn.commit()
    api_server.start()
    batches = [[{"service": services[n % len(services)], "state": ("up", "degraded", "down")[n % 3], "id": f"ev-{n}"}
                for n in range(b * BATCH, (b + 1) * BATCH)] for b in range(BATCHES)]
    feeder = Feeder(api_server.url, token, timeout_s=10, give_up_after_s=60)
    pushed: list[Pushed | BaseException] = []
    paused, held = threading.Event(), threading.Event()

    def feed() -> None:
        try:
            for n, batch in enumerate(batches):
                if n == KILL_AT:
                    paused.set()
                    held.wait(timeout=60)
                pushed.append(feeder.push(batch))
        except BaseException as err:  # noqa: BLE001 - handed to the test thread, which asserts on it
            pushed.append(err)

    thread = threading.Thread(target=feed)
    thread.start()
    try:
        assert paused.wait(timeout=60), "the feeder did not get to the batch the kill cuts off"
        holder = psycopg.connect(db_url)
        holder.execute("LOCK TABLE status_events IN SHARE MODE")  # that batch waits inside the server
        held.set()
        wait_for("a batch waiting inside the api-server's transaction",
                 lambda: blocked_on_lock(db_url, devenv.database_name(db_url), "status_events"), timeout_s=60)
        api_server.kill()
        holder.rollback()
        holder.close()
        assert sum(stored(db_url).values()) == KILL_AT * BATCH  # the batch in flight died with its transaction
        api_server.start()
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert all(isinstance(p, Pushed) for p in pushed) and len(pushed) == BATCHES, pushed[-1:]
    assert stored(db_url) == {f"ev-{n}": 1 for n in range(BATCHES * BATCH)}  # every event, each once
    tries = [p.tries for p in pushed if isinstance(p, Pushed)]
    assert tries[KILL_AT] > 1 and sum(tries) > BATCHES, tries  # the feeder retried the batch the kill cut off
