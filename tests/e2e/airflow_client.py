"""A running Airflow for end-to-end tests, and a small client for its REST API.

``launch_airflow`` starts ``airflow standalone`` on fresh databases with the environment
from ``devenv`` (tools/devenv, the one ``make run`` uses) and yields an :class:`AirflowStack`:
an :class:`AirflowClient` that also knows its process, paths and databases.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import requests

import devenv

HTTP_TIMEOUT = 60
GET_TRIES = 3
POLL_SECONDS = 1.0
FINISHED_RUN_STATES = frozenset({"success", "failed"})
FINISHED_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# Repeated on every line of a task log; left out of task_log()'s text.
LOG_CONTEXT_KEYS = frozenset(
    {"event", "timestamp", "level", "logger", "try_number", "ti_id", "task_id", "dag_id", "run_id",
     "map_index", "filename", "lineno", "chan"}
)


class AirflowAPIError(AssertionError):
    """A REST call answered outside 2xx; ``response`` keeps status and body for the test to inspect."""

    def __init__(self, method: str, url: str, response: requests.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        super().__init__(f"{method} {url} -> HTTP {response.status_code}: {self.body}")


def _q(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")


class AirflowClient:
    """Airflow 3 public REST API as the admin user (SimpleAuthManager token)."""

    def __init__(self, base_url: str, password: str, username: str = devenv.ADMIN_USER) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._session = requests.Session()
        self._token: str | None = None

    # plumbing -----------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            url = f"{self.base_url}/auth/token"
            resp = requests.post(
                url, json={"username": self.username, "password": self._password}, timeout=HTTP_TIMEOUT
            )
            if not resp.ok:
                raise AirflowAPIError("POST", url, resp)
            self._token = resp.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One authenticated call; returns the response whatever its status.

        A GET that times out or loses its connection is asked again (up to ``GET_TRIES`` times):
        on a loaded CI machine the api-server sometimes answers a poll after the timeout, and a
        wait loop must not fail on one slow read.
        """
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        tries = GET_TRIES if method.upper() == "GET" else 1
        for attempt in range(1, tries + 1):
            try:
                return self._session.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)
            except (requests.Timeout, requests.ConnectionError):
                if attempt == tries:
                    raise
                time.sleep(POLL_SECONDS * attempt)
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, but raises :class:`AirflowAPIError` unless 2xx; returns the JSON body."""
        resp = self.request(method, path, **kwargs)
        if not resp.ok:
            raise AirflowAPIError(method, f"{self.base_url}{path}", resp)
        return resp.json() if resp.content else None

    def _paged(self, path: str, key: str, **params: Any) -> list[dict]:
        items: list[dict] = []
        while True:
            page = self.call("GET", path, params={**params, "limit": 100, "offset": len(items)})
            items.extend(page[key])
            if not page[key] or len(items) >= page.get("total_entries", len(items)):
                return items

    # dags and runs ---------------------------------------------------------------

    def get_dag(self, dag_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{_q(dag_id)}")

    def import_errors(self) -> list[dict]:
        return self._paged("/api/v2/importErrors", "import_errors")

    def unpause(self, dag_id: str) -> dict:
        return self.call("PATCH", f"/api/v2/dags/{_q(dag_id)}", json={"is_paused": False})

    def post_dag_run(self, dag_id: str, conf: dict | None = None) -> requests.Response:
        """The raw trigger call, for tests that expect it to be refused."""
        return self.request(
            "POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Start a run; returns its run_id. A refused trigger raises AirflowAPIError (``.response``, ``.body``)."""
        resp = self.post_dag_run(dag_id, conf)
        if not resp.ok:
            raise AirflowAPIError("POST", f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", resp)
        return resp.json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """Final state of the run (success or failed); TimeoutError naming every task's state otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.dag_run(dag_id, run_id)["state"]
            if state in FINISHED_RUN_STATES:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"run {run_id} of {dag_id} still '{state}' after {timeout:.0f}s; tasks: {self._task_summary(dag_id, run_id)}"
                )
            time.sleep(POLL_SECONDS)

    # task instances -------------------------------------------------------------

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._paged(f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances", "task_instances")

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.call("GET", path)

    def _task_summary(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        summary = {}
        for ti in self.task_instances(dag_id, run_id):
            key = ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            summary[key] = ti["state"]
        return summary

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float = 120,
        map_index: int = -1,
    ) -> str:
        """Wait until the task is in one of ``states``; fails fast if it finishes in another."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        state: str | None = None
        while True:
            resp = self.request(
                "GET",
                f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
                + (f"/{map_index}" if map_index >= 0 else ""),
            )
            if resp.status_code != 404:
                if not resp.ok:
                    raise AirflowAPIError("GET", resp.url, resp)
                state = resp.json()["state"]
                if state in wanted:
                    return state
                if state in FINISHED_TASK_STATES:
                    raise AssertionError(
                        f"task {task_id} of run {run_id} finished '{state}', not one of {sorted(wanted)}; "
                        f"tasks: {self._task_summary(dag_id, run_id)}"
                    )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"task {task_id} of run {run_id} is '{state}' after {timeout:.0f}s, wanted one of {sorted(wanted)}; "
                    f"tasks: {self._task_summary(dag_id, run_id)}"
                )
            time.sleep(POLL_SECONDS)

    def task_log_events(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> list:
        body = self.call(
            "GET",
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        return body["content"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """The task's log as text, one line per event: ``LEVEL event key=value ...``."""
        lines = []
        for event in self.task_log_events(dag_id, run_id, task_id, try_number, map_index):
            if isinstance(event, str):
                lines.append(event)
                continue
            extra = " ".join(f"{k}={v}" for k, v in event.items() if k not in LOG_CONTEXT_KEYS)
            lines.append(" ".join(p for p in (str(event.get("level", "")).upper(), str(event.get("event", "")), extra) if p))
        return "\n".join(lines)

    def clear_task(self, dag_id: str, run_id: str, task_ids: list[str]) -> dict:
        """Clear (rerun) tasks of a run whatever their state."""
        return self.call(
            "POST",
            f"/api/v2/dags/{_q(dag_id)}/clearTaskInstances",
            json={"dag_run_id": run_id, "task_ids": list(task_ids), "only_failed": False, "dry_run": False},
        )

    # human in the loop ----------------------------------------------------------

    def hitl_details(self, dag_id: str, run_id: str) -> list[dict]:
        return self._paged(f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/hitlDetails", "hitl_details")

    def answer_hitl(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        chosen_options: list[str],
        params_input: dict | None = None,
        map_index: int = -1,
    ) -> dict:
        """Answer a waiting approval/HITL task (409 if answered already, 403 if not assigned: AirflowAPIError)."""
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/{map_index}/hitlDetails"
        return self.call(
            "PATCH", path, json={"chosen_options": list(chosen_options), "params_input": params_input or {}}
        )


class AirflowStack(AirflowClient):
    """A running embedded Airflow: the client plus what the tests may need to look at."""

    def __init__(
        self,
        *,
        base_url: str,
        password: str,
        env: dict[str, str],
        process: Any,
        log_path: Path,
        prodops_db_url: str,
        metadata_db_url: str,
    ) -> None:
        super().__init__(base_url, password)
        self.env = env
        self.process = process
        self.log_path = log_path
        self.prodops_db_url = prodops_db_url
        self.metadata_db_url = metadata_db_url
        self.airflow_home = Path(env["AIRFLOW_HOME"])
        self.prodops_home = Path(env["PRODOPS_HOME"])
        self.dags_folder = Path(env["AIRFLOW__CORE__DAGS_FOLDER"])
        self.timings: dict[str, float] = {}

    def answer_hitl(self, dag_id: str, run_id: str, task_id: str, chosen_options: list[str],
                    params_input: dict | None = None, map_index: int = -1, *, wait: bool = True) -> dict:
        """Answer only once the scheduler has seen the paused worker exit (:meth:`wait_until_answerable`);
        ``wait=False`` answers at once, as a fast approver would (the gate must survive the race)."""
        if wait:
            self.wait_until_answerable(dag_id, run_id, task_id, map_index)
        return super().answer_hitl(dag_id, run_id, task_id, chosen_options, params_input, map_index)

    def wait_until_answerable(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> None:
        """Wait for the scheduler's log line saying it saw the paused HITL worker exit.

        Airflow 3.3.2 fails a HITL task whose answer requeues it before the scheduler has
        processed the executor event of the pause ("finished with state success, but the task
        instance's state attribute is queued"). A person never answers that fast; a test on a
        loaded machine does (through the API or a browser), so it waits for that event first.
        """
        try_number = self.task_instance(dag_id, run_id, task_id, map_index)["try_number"]
        marker = (f"Received executor event with state success for task instance TaskInstanceKey("
                  f"dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}', try_number={try_number},")
        deadline = time.monotonic() + 120
        while marker not in self.log_path.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scheduler never reported the pause of {task_id} in {run_id}; see {self.log_path}")
            time.sleep(POLL_SECONDS)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """Wait until the dag-processor has parsed ``dag_id``; else fail with the import errors."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.request("GET", f"/api/v2/dags/{_q(dag_id)}")
            if resp.ok:
                return resp.json()
            if self.process.poll() is not None:
                raise AssertionError(f"airflow standalone exited ({self.process.returncode}); log: {self.log_path}")
            if time.monotonic() > deadline:
                errors = "\n".join(f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in self.import_errors())
                raise AssertionError(
                    f"DAG {dag_id} not parsed within {timeout:.0f}s from {self.dags_folder}; "
                    f"import errors: {errors or 'none'}; log: {self.log_path}"
                )
            time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def launch_airflow(
    *,
    make_database: Callable[[str], str],
    workdir: Path,
    artifacts_dir: Path,
    wait_for_dags: Iterable[str] = (),
    dags_folder: Path | None = None,
    ready_timeout: float = 120,
) -> Iterator[AirflowStack]:
    """Fresh metadata and prodops databases, a temp AIRFLOW_HOME, ``airflow standalone`` on a free port.

    Teardown stops the whole process session and copies Airflow's task logs into ``artifacts_dir``.
    """
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    log_path = artifacts_dir / "airflow-standalone.log"
    metadata_url = make_database("prodops_e2e_airflow")
    prodops_url = make_database("prodops_e2e")
    api_port = devenv.free_port()
    env = {
        **os.environ,
        **devenv.airflow_env(
            airflow_home=workdir / "airflow-home",
            metadata_url=metadata_url,
            prodops_url=prodops_url,
            api_port=api_port,
            dags_folder=dags_folder,
            prodops_home=workdir / "prodops-home",
            log_server_ports=(devenv.free_port(), devenv.free_port()),
        ),
    }
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    Path(env["PRODOPS_HOME"]).mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()
    devenv.migrate_prodops(prodops_url, env)
    devenv.migrate_airflow(env, log_file=log_path)
    timings["migrate"] = time.monotonic() - started
    process = devenv.start_airflow(env, log_file=log_path)
    try:
        base_url = f"http://localhost:{api_port}"
        devenv.wait_for_api(base_url, timeout=ready_timeout, proc=process)
        timings["api"] = time.monotonic() - started
        stack = AirflowStack(
            base_url=base_url,
            password=_wait_for_password(env["AIRFLOW_HOME"], process),
            env=env,
            process=process,
            log_path=log_path,
            prodops_db_url=prodops_url,
            metadata_db_url=metadata_url,
        )
        for dag_id in wait_for_dags:
            stack.wait_for_dag(dag_id, timeout=max(10.0, ready_timeout - (time.monotonic() - started)))
        timings["ready"] = time.monotonic() - started
        with log_path.open("a") as out:
            out.write(f"\n[e2e harness] seconds since start: {timings}\n")
        stack.timings = dict(timings)
        yield stack
    finally:
        devenv.stop_session(process)
        logs = Path(env["AIRFLOW_HOME"]) / "logs"
        if logs.is_dir():
            shutil.copytree(logs, artifacts_dir / "airflow-logs", dirs_exist_ok=True)


def _wait_for_password(airflow_home: str, process: Any, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return devenv.admin_password(airflow_home)
        except devenv.DevEnvError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.5)
