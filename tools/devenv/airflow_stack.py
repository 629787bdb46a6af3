"""Airflow standalone for prodops: its environment, start, output, health, and the ``make run`` stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.postgres import (
    PrivatePostgres,
    ensure_database,
    libpq_url,
    sqlalchemy_url,
    with_database,
)
from devenv.processes import REPO_ROOT, DevEnvError, log, pythonpath

DEFAULT_API_PORT = 8080
DEFAULT_LOCAL_SLOTS = 4
PROD_DB_NAME = "prodops"
METADATA_DB_NAME = "airflow"
ADMIN_USER = "admin"
OPERATOR_USER = "operator"
"""A second login, role ``op``: may trigger and operate, is no approver (include/approvers.yaml)."""
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
PIDFILE_NAME = "standalone.pid"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def airflow_env(
    *,
    airflow_home: Path | str,
    metadata_url: str,
    prodops_url: str,
    api_port: int,
    repo: Path | str = REPO_ROOT,
    dags_folder: Path | str | None = None,
    prodops_home: Path | str | None = None,
    log_server_ports: tuple[int, int] | None = None,
    local_slots: int | None = None,
    base_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The variables that make an embedded Airflow run prodops (layer them over ``os.environ``).

    Short parsing and scheduling intervals so a new DAG file shows up within seconds; few
    LocalExecutor workers for a 2-core machine; the execution API pointed at our port (else
    every task fails with "Connection refused"). ``log_server_ports`` (worker, triggerer)
    matter when two Airflows run on one machine.
    """
    repo = Path(repo)
    base = os.environ if base_env is None else base_env
    prodops_url = libpq_url(prodops_url)
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin,{OPERATOR_USER}:op",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(Path(airflow_home) / PASSWORDS_FILE),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata_url),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "30",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW_CONN_PRODOPS_DB": prodops_url,
        "PRODOPS_DB_URL": prodops_url,
        "PRODOPS_HOME": str(prodops_home or repo / ".local" / "prodops"),
        "PRODOPS_LOCAL_SLOTS": str(local_slots or base.get("PRODOPS_LOCAL_SLOTS") or DEFAULT_LOCAL_SLOTS),
        "PYTHONPATH": pythonpath(repo, base.get("PYTHONPATH")),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "/usr/bin:/bin")]),
    }
    if log_server_ports:
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(log_server_ports[0])
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(log_server_ports[1])
    return env


def airflow_bin() -> str:
    """The ``airflow`` next to this interpreter: standalone starts its parts as plain ``airflow``."""
    local = Path(sys.executable).parent / "airflow"
    if local.exists():
        return str(local)
    found = shutil.which("airflow")
    if not found:
        raise DevEnvError("the `airflow` command is not installed in this Python: run `make run` (it creates .venv)")
    return found


def migrate_airflow(env: Mapping[str, str], *, log_file: Path | None = None, timeout: float = 600) -> None:
    """``airflow db migrate`` on the metadata database named in ``env``."""
    started = time.monotonic()
    out = open(log_file, "ab") if log_file else subprocess.PIPE
    try:
        proc = subprocess.run(
            [airflow_bin(), "db", "migrate"], env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
    finally:
        if log_file:
            out.close()
    if proc.returncode != 0:
        detail = proc.stdout.decode(errors="replace")[-4000:] if proc.stdout else f"see {log_file}"
        raise DevEnvError(f"`airflow db migrate` failed (exit {proc.returncode}):\n{detail}")
    log(f"Airflow metadata database migrated in {time.monotonic() - started:.1f}s")


def start_airflow(
    env: Mapping[str, str], *, log_file: Path | None = None, cwd: Path = REPO_ROOT, pipe: bool = False
) -> subprocess.Popen:
    """``airflow standalone`` in its own session, so the whole tree can be stopped with :func:`stop_session`.

    Its output goes to ``log_file``, or with ``pipe`` to ``proc.stdout`` (for :class:`OutputPump`)."""
    out = open(log_file, "ab") if log_file else None
    try:
        return subprocess.Popen(
            [airflow_bin(), "standalone"],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else out,
            stderr=subprocess.STDOUT if (out or pipe) else None,
            start_new_session=True,
        )
    finally:
        if out:
            out.close()


LOG_MAX_BYTES = 20 * 1024 * 1024
LOG_BACKUPS = 5
_ERROR_LINE = re.compile(rb"\[(?:error|critical)\s*\]|\b(?:ERROR|CRITICAL|FATAL)\b|Traceback \(most recent call last\)")
_TRACEBACK = re.compile(rb"Traceback \(most recent call last\)")
_EXCEPTION_LINE = re.compile(
    rb"^(?:[\w-]+\s+\|\s+)?[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Timeout|Refused)\b(?::|$)"
)
TRACEBACK_MAX_LINES = 400
REPEAT_QUIET_S = 600.0
_VARYING = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?|\b0x[0-9a-fA-F]+\b|\d+")


class ErrorEcho:
    """Shows an error line once, then the same error (times, numbers and ids aside) only after
    ``quiet_s``, with how many came meanwhile: a DAG file that fails to import is logged at every
    parse, every few seconds, and would fill the terminal again."""

    def __init__(self, echo, *, quiet_s: float = REPEAT_QUIET_S, clock=time.monotonic, remember: int = 1000) -> None:
        self.echo, self.quiet_s, self.clock, self.remember = echo, quiet_s, clock, remember
        self.seen: dict[str, tuple[float, int]] = {}

    def __call__(self, line: str) -> bool:
        """Echo ``line`` unless the same error was shown less than ``quiet_s`` ago; True if shown."""
        key, now = _VARYING.sub("#", line), self.clock()
        shown_at, held = self.seen.get(key, (None, 0))
        if shown_at is not None and now - shown_at < self.quiet_s:
            self.seen[key] = (shown_at, held + 1)
            return False
        if len(self.seen) >= self.remember:
            self.seen.clear()
        self.echo(f"{line}  (and {held} more like it since it was last shown)" if held else line)
        self.seen[key] = (now, 0)
        return True


class OutputPump:
    """Copies a child's output into a rotating log file and echoes only the lines a person must
    see (errors; of a traceback, the exception it ends with; a repeated error once in ``quiet_s``,
    :class:`ErrorEcho`): ``make run`` prints its banner, health and errors, not every
    dag-processor line (28 MB in 30 minutes)."""

    def __init__(
        self,
        stream,
        log_file: Path,
        echo=None,
        *,
        max_bytes: int = LOG_MAX_BYTES,
        backups: int = LOG_BACKUPS,
        quiet_s: float = REPEAT_QUIET_S,
    ) -> None:
        import logging.handlers

        log_file.parent.mkdir(parents=True, exist_ok=True)
        self.stream, self.log_file = stream, log_file
        self.echo = ErrorEcho(echo or (lambda line: print(line, flush=True)), quiet_s=quiet_s)
        self.writer = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self.writer.setFormatter(logging.Formatter("%(message)s"))
        self.lines = self.errors = 0

    def run(self) -> None:
        import logging

        in_traceback = 0  # lines read since a traceback began; 0: none open
        try:
            for raw in iter(self.stream.readline, b""):
                line = raw.rstrip(b"\n").decode("utf-8", errors="replace")
                self.writer.emit(logging.makeLogRecord({"msg": line, "args": None}))
                self.lines += 1
                if _TRACEBACK.search(raw):  # its frames go to the file; the exception it ends with is shown
                    self.errors += 1
                    in_traceback = 1
                elif in_traceback:
                    in_traceback = 0 if in_traceback >= TRACEBACK_MAX_LINES else in_traceback + 1
                    if _EXCEPTION_LINE.match(raw):
                        self.echo(line)
                        in_traceback = 0
                elif _ERROR_LINE.search(raw):
                    self.errors += 1
                    self.echo(line)
        finally:
            self.writer.close()

    def start(self):
        import threading

        thread = threading.Thread(target=self.run, name="airflow-output", daemon=True)
        thread.start()
        return thread


def health_line(body: Mapping[str, object]) -> str:
    """One line from ``/api/v2/monitor/health``: each component and its status."""
    parts = []
    for name, value in sorted(body.items()):
        status = value.get("status") if isinstance(value, Mapping) else None
        if status:
            parts.append(f"{name} {status}")
    return "health: " + (", ".join(parts) or "no components reported")


def watch_health(base_url: str, echo, *, every: float = 30.0, stop=None) -> None:
    """Print the components' health when it changes (the api-server's health endpoint; 5 s timeout)."""
    last = None
    while stop is None or not stop.is_set():
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as resp:
                line = health_line(json.loads(resp.read()))
        except (OSError, ValueError) as exc:
            line = f"health: the api-server does not answer ({exc})"
        if stop is not None and stop.is_set():  # stopped while asking: say nothing of the components going down
            return
        if line != last:
            echo(line)
            last = line
        if stop is not None:
            stop.wait(every)
        else:
            time.sleep(every)


def wait_for_api(base_url: str, *, timeout: float = 180, proc: subprocess.Popen | None = None) -> float:
    """Seconds until ``/api/v2/monitor/health`` answers 200; DevEnvError if the process dies or time runs out."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise DevEnvError(f"airflow standalone exited with code {proc.returncode} before its API answered")
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(1)
    raise DevEnvError(f"Airflow API at {base_url} did not answer within {timeout:.0f}s (last: {last})")


def admin_password(airflow_home: Path | str) -> str:
    return user_password(airflow_home, ADMIN_USER)


def user_password(airflow_home: Path | str, user: str) -> str:
    """The password the simple auth manager generated for ``user`` (its passwords file)."""
    path = Path(airflow_home) / PASSWORDS_FILE
    try:
        return json.loads(path.read_text())[user]
    except (OSError, ValueError, KeyError) as exc:
        raise DevEnvError(f"no password of {user} in {path} ({exc}): has the api-server started once?") from exc


# --------------------------------------------------------------------------- the `make run` stack


@dataclass(frozen=True)
class DevStack:
    """Where the ``make run`` stack lives and which databases it uses."""

    repo: Path
    prodops_url: str
    metadata_url: str
    api_port: int

    @property
    def airflow_home(self) -> Path:
        return self.repo / ".local" / "airflow"

    @property
    def pidfile(self) -> Path:
        return self.airflow_home / PIDFILE_NAME

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.api_port}"

    def env(self) -> dict[str, str]:
        """Layered over os.environ; any AIRFLOW__SECTION__KEY already exported wins."""
        env = airflow_env(
            airflow_home=self.airflow_home,
            metadata_url=self.metadata_url,
            prodops_url=self.prodops_url,
            api_port=self.api_port,
            repo=self.repo,
            prodops_home=os.environ.get("PRODOPS_HOME"),
        )
        overrides = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__") and k in env}
        merged = {**os.environ, **env, **overrides}
        if "AIRFLOW__API__PORT" in overrides:
            merged["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = (
                f"http://localhost:{overrides['AIRFLOW__API__PORT']}/execution/"
            )
        return merged


def dev_stack(repo: Path = REPO_ROOT, *, create: bool = True) -> DevStack:
    """Resolve (and with ``create``, start and create) the databases of the ``make run`` stack.

    ``PRODOPS_DB_URL`` set: that server, no private one; the metadata database is
    ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` when set, else database ``airflow`` beside it.
    """
    api_port = int(os.environ.get("AIRFLOW__API__PORT") or DEFAULT_API_PORT)
    external = os.environ.get("PRODOPS_DB_URL")
    if external:
        prodops_url = libpq_url(external)
        server = prodops_url
    else:
        pg = PrivatePostgres.for_repo(repo)
        server = pg.start() if create else pg.url()
        prodops_url = with_database(server, PROD_DB_NAME)
    metadata_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if create:
        if not external:
            ensure_database(server, PROD_DB_NAME)
        if not metadata_url:
            try:
                ensure_database(server, METADATA_DB_NAME)
            except Exception as exc:
                raise DevEnvError(
                    f"cannot create the Airflow metadata database '{METADATA_DB_NAME}' beside {server} ({exc}): "
                    "create it, or set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to an existing one."
                ) from exc
    metadata_url = metadata_url or with_database(server, METADATA_DB_NAME)
    return DevStack(repo=Path(repo), prodops_url=prodops_url, metadata_url=metadata_url, api_port=api_port)
