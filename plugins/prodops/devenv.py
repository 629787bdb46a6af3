"""The embedded development stack: a private PostgreSQL and an Airflow standalone.

One place used by ``make run``, ``make test``, ``make stop`` and the end-to-end fixtures, so
the demo, CI and the tests start the same stack the same way.

Only the standard library is imported at module level: ``make stop`` runs it without the
venv, and Airflow's plugin loader imports every file under plugins/ (so: no side effects).
psycopg is imported where a database is created or dropped.

Command line (PYTHONPATH must include plugins/)::

    python -m prodops.devenv run        # PostgreSQL + schema + airflow standalone, foreground
    python -m prodops.devenv stop       # stop that Airflow (whole session) and the private PostgreSQL
    python -m prodops.devenv pg-start   # start the private PostgreSQL; prints the server URL
    python -m prodops.devenv pg-stop
    python -m prodops.devenv pg-status  # exit 0 and the port when running, 3 when not
    python -m prodops.devenv env        # `export ...` lines for a shell that runs airflow CLI commands
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PG_PORT = 55432
DEFAULT_API_PORT = 8080
DEFAULT_LOCAL_SLOTS = 4
PG_SUPERUSER = "postgres"
PROCESS_USER = "postgres"
PROD_DB_NAME = "prodops"
METADATA_DB_NAME = "airflow"
ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
PIDFILE_NAME = "standalone.pid"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
PORT_SEARCH_SPAN = 50
MAX_SOCKET_PATH = 100


class DevEnvError(RuntimeError):
    """Setting up the development stack failed; the message names the thing and the fix."""


def log(msg: str) -> None:
    print(f"prodops: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- URLs


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as ``url``, another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(dbname)))


def database_name(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy wants a driver in the scheme; Airflow's metadata uses psycopg2."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg2"
    return f"{scheme}://{rest}"


def libpq_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (``postgresql+psycopg2://``) so psycopg 3 accepts the URL."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


# --------------------------------------------------------------------------- processes and ports


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens there (SO_REUSEADDR: TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def session_members(sid: int) -> list[int]:
    """Every live process of session ``sid`` (children that changed process group too; zombies left out)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if os.getsid(pid) != sid:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            members.append(pid)
    return members


def stop_session(leader: int | subprocess.Popen, timeout: float = 30.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it started.

    Killing only ``airflow standalone`` leaves its scheduler, api-server, triggerer and
    workers running, so every member of its session gets SIGTERM, then SIGKILL after
    ``timeout`` seconds.
    """
    proc = leader if isinstance(leader, subprocess.Popen) else None
    sid = proc.pid if proc else int(leader)

    def signal_all(sig: int) -> list[int]:
        members = session_members(sid)
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return members

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            proc.poll()
        if not session_members(sid):
            break
        time.sleep(0.2)
    else:
        left = signal_all(signal.SIGKILL)
        if left:
            log(f"killed {len(left)} process(es) of session {sid} that ignored SIGTERM for {timeout:.0f}s")
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"process {proc.pid} did not exit after SIGKILL")


# --------------------------------------------------------------------------- private PostgreSQL


def _pg_bin() -> Path:
    candidates = [os.environ.get("PRODOPS_PG_BIN", ""), *PG_BIN_CANDIDATES]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for cand in candidates:
        if cand and (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    raise DevEnvError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in "
        f"{', '.join(c for c in candidates if c)}: install them (apt-get install postgresql-15), "
        "point PRODOPS_PG_BIN at their directory, or set PRODOPS_DB_URL to use an existing server."
    )


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class PrivatePostgres:
    """The per-checkout PostgreSQL server under ``<repo>/.local/pg``.

    Listens on 127.0.0.1 only, trust auth for local and 127.0.0.1 connections only, runs as
    the ``postgres`` user when we are root (initdb refuses root). The port it was given is
    kept in its own config, so one checkout keeps one port.
    """

    root: Path

    @classmethod
    def for_repo(cls, repo: Path = REPO_ROOT) -> PrivatePostgres:
        return cls(Path(repo) / ".local" / "pg")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def conf_file(self) -> Path:
        return self.data_dir / "prodops.conf"

    @property
    def socket_dir(self) -> Path:
        sock = self.root / "run"
        if len(str(sock)) + len("/.s.PGSQL.55432.lock") > MAX_SOCKET_PATH:
            import hashlib

            digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
            sock = Path("/tmp") / f"prodops-pg-{digest}"
        return sock

    def url(self, dbname: str = "postgres", port: int | None = None) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port or self.port()}/{dbname}"

    # state ------------------------------------------------------------------

    def configured_port(self) -> int | None:
        try:
            for line in self.conf_file.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "port":
                    return int(value.strip())
        except (OSError, ValueError):
            pass
        return None

    def running_pid_and_port(self) -> tuple[int, int] | None:
        """(pid, port) of this data directory's postmaster, or None; a stale pid file is removed."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        if pid_alive(pid) and "postgres" in _cmdline(pid):
            return pid, port
        log(f"removing stale {pidfile} (pid {pid} is not a running postgres)")
        pidfile.unlink(missing_ok=True)
        # The socket lock names the same pid; an unreaped zombie of it still passes postgres' kill(pid, 0).
        for leftover in self.socket_dir.glob(".s.PGSQL.*"):
            leftover.unlink(missing_ok=True)
        return None

    def port(self) -> int:
        running = self.running_pid_and_port()
        if running:
            return running[1]
        return int(os.environ.get("PRODOPS_PG_PORT") or self.configured_port() or DEFAULT_PG_PORT)

    # commands ---------------------------------------------------------------

    def _run(self, args: list[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if _as_root():
            kwargs = {"user": PROCESS_USER, "group": PROCESS_USER, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root)}
        proc = subprocess.run(
            args, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout, **kwargs
        )
        if check and proc.returncode != 0:
            raise DevEnvError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}) for the private PostgreSQL in {self.root}:\n"
                f"{proc.stdout}{proc.stderr}\nserver log: {self.log_file}"
            )
        return proc

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if not _as_root():
            return
        import pwd

        user = pwd.getpwnam(PROCESS_USER)
        for path in (self.root, self.socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(self.root, 0o700)
        probe = subprocess.run(
            ["test", "-w", str(self.root)], user=PROCESS_USER, group=PROCESS_USER, extra_groups=[], cwd="/"
        )
        if probe.returncode != 0:
            raise DevEnvError(
                f"the '{PROCESS_USER}' user cannot reach {self.root}: every parent directory must be "
                f"searchable by others (chmod o+x on each), or set PRODOPS_DB_URL to use another server."
            )

    def _initdb(self) -> None:
        log(f"initialising PostgreSQL data directory {self.data_dir}")
        self._run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-instructions",
            ]
        )
        (self.data_dir / "pg_hba.conf").write_text(
            "# prodops private server: trust, local socket and 127.0.0.1 only\n"
            "local all all trust\n"
            "host  all all 127.0.0.1/32 trust\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'prodops.conf'\n")

    def _write_conf(self, port: int) -> None:
        self.conf_file.write_text(
            "# written by prodops.devenv on every start\n"
            f"port = {port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "max_connections = 200\n"
            "synchronous_commit = off\n"
            "log_min_messages = warning\n"
        )
        if _as_root():
            import pwd

            user = pwd.getpwnam(PROCESS_USER)
            os.chown(self.conf_file, user.pw_uid, user.pw_gid)

    def _choose_port(self) -> int:
        explicit = os.environ.get("PRODOPS_PG_PORT")
        wanted = int(explicit) if explicit else (self.configured_port() or DEFAULT_PG_PORT)
        if not port_in_use(wanted):
            return wanted
        if explicit:
            raise DevEnvError(
                f"port {wanted} (PRODOPS_PG_PORT) is in use by another server, not the private PostgreSQL "
                f"of {self.root}: set PRODOPS_PG_PORT to a free port."
            )
        for port in range(wanted + 1, wanted + 1 + PORT_SEARCH_SPAN):
            if not port_in_use(port):
                log(f"port {wanted} is in use by another server (another checkout?): using {port} for {self.root}")
                return port
        raise DevEnvError(f"no free port in {wanted}..{wanted + PORT_SEARCH_SPAN}: set PRODOPS_PG_PORT to a free port.")

    def start(self) -> str:
        """Start (or reuse) the server; returns the URL of its ``postgres`` database."""
        running = self.running_pid_and_port()
        if running:
            pid, port = running
            explicit = os.environ.get("PRODOPS_PG_PORT")
            if explicit and int(explicit) != port:
                log(f"private PostgreSQL already runs on port {port}; PRODOPS_PG_PORT={explicit} ignored (make stop first)")
            return self.url(port=port)
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            self._initdb()
        port = self._choose_port()
        self._write_conf(port)
        started = time.monotonic()
        self._run(
            [str(_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "start"],
            timeout=90,
        )
        log(f"private PostgreSQL started on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s (data {self.data_dir})")
        return self.url(port=port)

    def stop(self) -> bool:
        if not self.running_pid_and_port():
            return False
        self._run([str(_pg_bin() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop"])
        log(f"private PostgreSQL of {self.root} stopped")
        return True


def server_url(repo: Path = REPO_ROOT) -> str:
    """A URL on the server prodops uses: ``PRODOPS_DB_URL``'s when set, else the private one (started)."""
    external = os.environ.get("PRODOPS_DB_URL")
    if external:
        return libpq_url(external)
    return PrivatePostgres.for_repo(repo).start()


# --------------------------------------------------------------------------- databases


def _connect(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DevEnvError(f"cannot connect to PostgreSQL at {url}: {exc}".strip()) from exc


def ensure_database(url: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` on ``url``'s server unless it exists (a copy of ``template`` if given); returns its URL."""
    from psycopg import sql

    with _connect(url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            conn.execute(stmt)
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop ``name`` (connected through ``url``, which must name another database)."""
    from psycopg import sql

    with _connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate_prodops(url: str, env: Mapping[str, str] | None = None) -> bool:
    """Apply the prodops schema with ``python -m prodops.store.migrate``; False while that module is absent."""
    if importlib.util.find_spec("prodops.store.migrate") is None:
        log("prodops.store.migrate does not exist yet: prodops schema NOT applied")
        return False
    run_env = dict(env or os.environ)
    run_env["PYTHONPATH"] = _pythonpath(REPO_ROOT, run_env.get("PYTHONPATH"))
    proc = subprocess.run(
        [sys.executable, "-m", "prodops.store.migrate", "--url", url],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise DevEnvError(
            f"prodops schema migration failed (exit {proc.returncode}) on {url}:\n{proc.stdout}{proc.stderr}"
        )
    log(f"prodops schema is up to date in {database_name(url)}")
    return True


# --------------------------------------------------------------------------- Airflow


def _pythonpath(repo: Path, existing: str | None) -> str:
    plugins = str(Path(repo) / "plugins")
    parts = [p for p in (existing or "").split(os.pathsep) if p and p != plugins]
    return os.pathsep.join([plugins, *parts])


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
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
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
        "PYTHONPATH": _pythonpath(repo, base.get("PYTHONPATH")),
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


def start_airflow(env: Mapping[str, str], *, log_file: Path | None = None, cwd: Path = REPO_ROOT,
                  pipe: bool = False) -> subprocess.Popen:
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


class OutputPump:
    """Copies a child's output into a rotating log file and echoes only the lines a person must
    see (errors, tracebacks): ``make run`` prints its banner, health and errors, not every
    dag-processor line (28 MB in 30 minutes)."""

    def __init__(self, stream, log_file: Path, echo=None, *, max_bytes: int = LOG_MAX_BYTES,
                 backups: int = LOG_BACKUPS) -> None:
        import logging.handlers

        log_file.parent.mkdir(parents=True, exist_ok=True)
        self.stream, self.log_file = stream, log_file
        self.echo = echo or (lambda line: print(line, flush=True))
        self.writer = logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups,
                                                           encoding="utf-8")
        self.writer.setFormatter(logging.Formatter("%(message)s"))
        self.lines = self.errors = 0

    def run(self) -> None:
        import logging

        try:
            for raw in iter(self.stream.readline, b""):
                line = raw.rstrip(b"\n").decode("utf-8", errors="replace")
                self.writer.emit(logging.makeLogRecord({"msg": line, "args": None}))
                self.lines += 1
                if _ERROR_LINE.search(raw):
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
    path = Path(airflow_home) / PASSWORDS_FILE
    try:
        return json.loads(path.read_text())[ADMIN_USER]
    except (OSError, ValueError, KeyError) as exc:
        raise DevEnvError(f"no admin password in {path} ({exc}): has the api-server started once?") from exc


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
            merged["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://localhost:{overrides['AIRFLOW__API__PORT']}/execution/"
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


def _read_pidfile(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) and os.getsid(pid) == pid else None


def _banner(stack: DevStack) -> str:
    try:
        password = admin_password(stack.airflow_home)
    except DevEnvError:
        password = f"(see {stack.airflow_home / PASSWORDS_FILE})"
    return f"""
======================================================================
 prodops is running.
   Airflow UI : {stack.base_url}/
   Login      : {ADMIN_USER} / {password}
                (kept in {stack.airflow_home / PASSWORDS_FILE})
   prodops DB : {stack.prodops_url}
   Logs       : {stack.airflow_home / "logs"} (standalone.log: every component's output)
   Job workdirs (local pool): {stack.env()["PRODOPS_HOME"]}

 Demo request: in the UI open Dags -> production_request -> Trigger,
   fill the form (workflow "demo", a campaign, a number of jobs, contact)
   and trigger; approve it under Browse -> Required Actions.
 Airflow CLI with this environment: scripts/airflow.sh dags list
 Status feeds: issue a feeder token (shown once) for a monitoring system,
   PYTHONPATH=plugins .venv/bin/python -m prodops.status.tokens --url '{stack.prodops_url}' issue icinga
   and point it at {stack.base_url}/prodops/api/v1/checks (Icinga), /alertmanager or /events;
   commented examples (Statuspage, Alertmanager, Icinga, JSON feed): include/services.yaml
 Stop: Ctrl-C here, or `make stop` from another shell.
======================================================================
"""


def cmd_run(repo: Path = REPO_ROOT) -> int:
    """The ``make run`` stack in the foreground; Ctrl-C stops every process it started."""
    stack = dev_stack(repo)
    stack.airflow_home.mkdir(parents=True, exist_ok=True)
    running = _read_pidfile(stack.pidfile)
    if running:
        raise DevEnvError(f"Airflow of this checkout already runs (session {running}): `make stop` first.")
    if port_in_use(stack.api_port):
        raise DevEnvError(
            f"port {stack.api_port} is in use (another Airflow?): stop it, or choose another with "
            f"AIRFLOW__API__PORT=8081 make run"
        )
    env = stack.env()
    Path(env["PRODOPS_HOME"]).mkdir(parents=True, exist_ok=True)
    migrate_prodops(stack.prodops_url, env)
    migrate_airflow(env)
    log_file = stack.airflow_home / "logs" / "standalone.log"
    proc = start_airflow(env, cwd=repo, pipe=True)
    stack.pidfile.write_text(f"{proc.pid}\n")
    OutputPump(proc.stdout, log_file).start()
    log(f"Airflow's output goes to {log_file} (rotated at {LOG_MAX_BYTES // 2**20} MB, {LOG_BACKUPS} kept);"
        " errors are shown here")

    def shutdown(signum, _frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, shutdown)
    try:
        try:
            wait_for_api(stack.base_url, proc=proc, timeout=300)
            print(_banner(stack), flush=True)
            import threading

            threading.Thread(target=watch_health, args=(stack.base_url, log), daemon=True, name="health").start()
        except DevEnvError as exc:
            log(str(exc))
        code = proc.wait()
        if code < 0:
            log(f"airflow standalone was stopped by signal {-code} (make stop?)")
            return 0
        return code
    except KeyboardInterrupt:
        log("stopping Airflow (all of its processes)")
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stop_session(proc)
        stack.pidfile.unlink(missing_ok=True)


def cmd_stop(repo: Path = REPO_ROOT) -> int:
    pidfile = Path(repo) / ".local" / "airflow" / PIDFILE_NAME
    pid = _read_pidfile(pidfile)
    if pid:
        log(f"stopping Airflow session {pid}")
        stop_session(pid)
    pidfile.unlink(missing_ok=True)
    if not PrivatePostgres.for_repo(repo).stop():
        log("private PostgreSQL was not running")
    return 0


def cmd_env(repo: Path = REPO_ROOT) -> int:
    import shlex

    env = dev_stack(repo, create=False).env()
    keys = sorted(k for k in env if k.startswith(("AIRFLOW", "PRODOPS_")) or k in ("PYTHONPATH", "PATH"))
    print("\n".join(f"export {k}={shlex.quote(env[k])}" for k in keys))
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prodops.devenv", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["run", "stop", "pg-start", "pg-stop", "pg-status", "env"])
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.command == "run":
            return cmd_run()
        if args.command == "stop":
            return cmd_stop()
        if args.command == "pg-start":
            print(server_url())
            return 0
        if args.command == "pg-stop":
            PrivatePostgres.for_repo().stop()
            return 0
        if args.command == "pg-status":
            running = PrivatePostgres.for_repo().running_pid_and_port()
            print(f"running pid={running[0]} port={running[1]}" if running else "stopped")
            return 0 if running else 3
        return cmd_env()
    except DevEnvError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
