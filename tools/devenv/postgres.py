"""The private PostgreSQL of a checkout, the URLs on it, its databases and the prodops schema.

psycopg is imported where a database is created or dropped (``make stop`` runs without the venv).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.processes import REPO_ROOT, DevEnvError, process_cmdline, log, pid_alive, port_in_use, pythonpath

DEFAULT_PG_PORT = 55432
PG_SUPERUSER = "postgres"
PROCESS_USER = "postgres"
PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
PORT_SEARCH_SPAN = 50
MAX_SOCKET_PATH = 100


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
        if pid_alive(pid) and "postgres" in process_cmdline(pid):
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
        proc = subprocess.run(args, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
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
            "# written by devenv on every start\n"
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
                log(
                    f"private PostgreSQL already runs on port {port}; PRODOPS_PG_PORT={explicit} ignored (make stop first)"
                )
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
        log(
            f"private PostgreSQL started on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s (data {self.data_dir})"
        )
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
    run_env["PYTHONPATH"] = pythonpath(REPO_ROOT, run_env.get("PYTHONPATH"))
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
