"""Airflow with CeleryExecutor, every component its own process, as a multi-host deployment runs it.

Redis (Debian's ``redis-server``, a private port and directory), the api-server, scheduler,
dag-processor, triggerer and N Celery workers, each started as ``docker-compose.yaml`` starts
it: the triggerer and the workers through ``python -m prodops.jobdir run --``, which refuses
to start them unless they see the deployment's job directory. All of them share one
``PRODOPS_HOME`` and one log folder (the api-server reads any worker's task log from it).

Used by tests/e2e/test_celery.py and bench/celery_ingest.py::

    with celery_stack(metadata_url=..., prodops_url=..., workdir=..., log_dir=...) as stack:
        stack.drain("worker-b")   # worker-b takes no new task
        ...
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devenv.airflow_stack import admin_password, airflow_bin, airflow_env, migrate_airflow, wait_for_api
from devenv.postgres import migrate_prodops, sqlalchemy_url
from devenv.processes import REPO_ROOT, DevEnvError, free_port, log, session_members, stop_sessions

HOSTNAME_VAR = "PRODOPS_COMPONENT_HOSTNAME"
DEFAULT_QUEUE = "default"
DEFAULT_WORKERS = ("worker-a", "worker-b")
CONTROL_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 30.0
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def component_hostname() -> str:
    """``[core] hostname_callable`` of the stack's workers: the name ``PRODOPS_COMPONENT_HOSTNAME``
    gives, so two workers on one machine record distinct hostnames on the task instances they ran."""
    return os.environ.get(HOSTNAME_VAR) or socket.getfqdn()


def redis_server_bin() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise DevEnvError(
            "redis-server is not installed: `apt-get install redis-server` (Debian's package; .ci/run installs it)"
        )
    return found


def redis_ping(port: int, *, timeout: float = 2.0) -> bool:
    """True when a Redis answers PING on 127.0.0.1:``port`` (no client library: RESP by hand)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(data_dir: Path, *, port: int | None = None, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """A private ``redis-server`` (loopback only, no persistence) in its own session; (process, broker URL)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "redis.log"
    args = [
        redis_server_bin(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--logfile",
        str(log_file),
    ]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while not redis_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            stop_sessions([proc])
            raise DevEnvError(f"redis-server on port {port} did not answer PING within {timeout:.0f}s:\n{tail}")
        time.sleep(0.2)
    return proc, f"redis://127.0.0.1:{port}/0"


def celery_env(
    base: Mapping[str, str], *, broker_url: str, metadata_url: str, worker_concurrency: int = 2, api_workers: int = 1
) -> dict[str, str]:
    """``base`` (from :func:`devenv.airflow_env`) turned into a CeleryExecutor deployment's environment.

    The keys every component must share are generated once here: the JWT secret the scheduler
    signs task tokens with and the api-server checks, the secret key of the log servers, the
    Fernet key of connections.
    """
    from cryptography.fernet import Fernet

    tools = str(REPO_ROOT / "tools")  # the workers' hostname callable lives in devenv
    path = [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p and p != tools]
    return {
        **base,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sqlalchemy_url(metadata_url),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__WORKERS": str(api_workers),
        "PYTHONPATH": os.pathsep.join([*path, tools]),
    }


def worker_env(env: Mapping[str, str], hostname: str) -> dict[str, str]:
    """One worker's variables: its hostname on task instances and a log-server port of its own."""
    return {
        **env,
        HOSTNAME_VAR: hostname,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devenv.celery_stack.component_hostname",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
    }


def jobdir_command(*component: str) -> list[str]:
    """The component started behind the job directory check, as docker-compose.yaml starts it."""
    return [sys.executable, "-m", "prodops.jobdir", "run", "--", airflow_bin(), *component]


def start_component(args: Sequence[str], env: Mapping[str, str], log_file: Path) -> subprocess.Popen:
    """One component in its own session (its children die with it), output to ``log_file``."""
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class CeleryStack:
    """A running Celery deployment: its environment, processes and where each writes its output."""

    env: dict[str, str]
    base_url: str
    broker_url: str
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    workers: tuple[str, ...] = ()

    @property
    def airflow_home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    def log_file(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def password(self) -> str:
        return admin_password(self.airflow_home)

    def celery_name(self, worker: str) -> str:
        return f"celery@{worker}"

    def dead(self) -> dict[str, int]:
        """Components that exited, with their codes."""
        return {name: proc.returncode for name, proc in self.processes.items() if proc.poll() is not None}

    def kill(self, component: str, timeout: float = 30.0) -> None:
        """SIGKILL every process of ``component``'s session at once, as a host that dies would;
        processes it started in sessions of their own (the local pool's runner) live on."""
        proc = self.processes[component]
        members = session_members(proc.pid)
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while session_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _control(self):
        from celery import Celery

        return Celery(broker=self.broker_url).control

    def active_queues(self, timeout: float = CONTROL_TIMEOUT_S) -> dict[str, list[str]]:
        """Each of the stack's live workers and the queues it consumes (Celery's inspect through the
        broker; it returns once every worker answered, or after ``timeout``)."""
        names = [self.celery_name(w) for w in self.workers]
        replies = self._control().inspect(destination=names, limit=len(names), timeout=timeout).active_queues() or {}
        return {name: sorted(q["name"] for q in queues) for name, queues in replies.items()}

    def _set_consuming(self, worker: str, consume: bool, timeout: float) -> None:
        name = self.celery_name(worker)
        control = self._control()
        if consume:
            control.add_consumer(DEFAULT_QUEUE, destination=[name], reply=True, timeout=timeout)
        else:
            control.cancel_consumer(DEFAULT_QUEUE, destination=[name], reply=True, timeout=timeout)
        wanted = "start" if consume else "stop"
        self.poll(
            lambda: (
                None
                if (DEFAULT_QUEUE in self.active_queues(timeout=5).get(name, [])) == consume
                else f"{name} did not {wanted} consuming {DEFAULT_QUEUE!r}"
            ),
            timeout,
            every=0.5,
        )

    def poll(self, problem: Callable[[], str | None], timeout: float, every: float = 1.0) -> None:
        """Until ``problem()`` is None; DevEnvError with its last answer and any dead component on
        timeout, or at once when a component exited."""
        deadline = time.monotonic() + timeout
        while (found := problem()) is not None:
            if self.dead() or time.monotonic() > deadline:
                raise DevEnvError(f"{found} (exited: {self.dead() or 'none'}); see {self.log_dir}")
            time.sleep(every)

    def drain(self, worker: str, timeout: float = 60.0) -> None:
        """``worker`` takes no new task (what an operator does before taking a host away)."""
        self._set_consuming(worker, False, timeout)

    def serve(self, worker: str, timeout: float = 60.0) -> None:
        """``worker`` takes tasks again."""
        self._set_consuming(worker, True, timeout)

    def wait_for_workers(self, timeout: float = 180.0) -> None:
        """Until every worker consumes the default queue."""

        def missing() -> str | None:
            queues = self.active_queues(timeout=5)
            names = sorted(n for n in map(self.celery_name, self.workers) if DEFAULT_QUEUE not in queues.get(n, []))
            return f"Celery workers {names} not serving {DEFAULT_QUEUE!r}" if names else None

        self.poll(missing, timeout)

    def wait_for_health(self, timeout: float = 180.0) -> None:
        """Until the api-server reports the metadatabase, scheduler, triggerer and dag-processor healthy."""
        import json
        import urllib.request

        def unhealthy() -> str | None:
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=10) as resp:
                    body = json.loads(resp.read())
            except (OSError, ValueError) as exc:
                return f"the api-server's health does not answer ({exc})"
            bad = [c for c in HEALTH_COMPONENTS if (body.get(c) or {}).get("status") != "healthy"]
            return f"components not healthy: {bad}; health {body}" if bad else None

        self.poll(unhealthy, timeout)


@contextlib.contextmanager
def celery_stack(
    *,
    metadata_url: str,
    prodops_url: str,
    workdir: Path,
    log_dir: Path,
    workers: Sequence[str] = DEFAULT_WORKERS,
    worker_concurrency: int = 2,
    api_workers: int = 1,
    base_env: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    ready_timeout: float = 240.0,
) -> Iterator[CeleryStack]:
    """Redis, the prodops and Airflow schemas, the job directory's marker, then every component.

    Yields once the API answers, every component reports healthy and every worker consumes
    the default queue; stops them all (and Redis) on exit. The databases must exist (empty
    or migrated); ``workdir`` holds AIRFLOW_HOME, PRODOPS_HOME and Redis' directory;
    ``overrides`` are set last (e.g. a shorter task heartbeat timeout for a test that kills a worker).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    redis, broker_url = start_redis(workdir / "redis")
    procs: dict[str, subprocess.Popen] = {}
    try:
        api_port = free_port()
        base = airflow_env(
            airflow_home=workdir / "airflow-home",
            metadata_url=metadata_url,
            prodops_url=prodops_url,
            api_port=api_port,
            prodops_home=workdir / "prodops-home",
            log_server_ports=(free_port(), free_port()),
            base_env=base_env,
        )
        env = celery_env(
            {**(base_env or os.environ), **base},
            broker_url=broker_url,
            metadata_url=metadata_url,
            worker_concurrency=worker_concurrency,
            api_workers=api_workers,
        )
        env.update(overrides or {})
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        migrate_prodops(prodops_url, env)
        _init_jobdir(env, log_dir / "jobdir-init.log")
        migrate_airflow(env, log_file=log_dir / "migrate.log")
        for name in COMPONENTS:
            command = jobdir_command("triggerer") if name == "triggerer" else [airflow_bin(), name]
            procs[name] = start_component(command, env, log_dir / f"{name}.log")
        for worker in workers:
            command = jobdir_command(
                "celery", "worker", "--celery-hostname", worker, "--concurrency", str(worker_concurrency)
            )
            procs[worker] = start_component(command, worker_env(env, worker), log_dir / f"{worker}.log")
        stack = CeleryStack(
            env=env,
            base_url=f"http://localhost:{api_port}",
            broker_url=broker_url,
            log_dir=log_dir,
            processes=procs,
            workers=tuple(workers),
        )
        remaining = lambda: max(10.0, ready_timeout - (time.monotonic() - started))  # noqa: E731
        wait_for_api(stack.base_url, timeout=remaining(), proc=procs["api-server"])
        stack.wait_for_health(timeout=remaining())
        stack.wait_for_workers(timeout=remaining())
        log(f"Celery stack ready in {time.monotonic() - started:.0f}s: {stack.base_url}, workers {list(workers)}")
        yield stack
    finally:
        stop_sessions(list(reversed(procs.values())))
        stop_sessions([redis])  # last: a worker's warm shutdown still talks to the broker


def _init_jobdir(env: Mapping[str, str], log_file: Path) -> None:
    """``python -m prodops.jobdir init``, the init step that marks the shared job directory."""
    proc = subprocess.run(
        [sys.executable, "-m", "prodops.jobdir", "init"], env=dict(env), capture_output=True, text=True, timeout=120
    )
    log_file.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise DevEnvError(f"`python -m prodops.jobdir init` failed (exit {proc.returncode}):\n{proc.stderr}")
