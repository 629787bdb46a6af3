"""``python -m devenv run|stop|pg-start|pg-stop|pg-status|env``: the commands the scripts and the Makefile run."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Iterable
from pathlib import Path

from devenv.airflow_stack import (
    ADMIN_USER,
    OPERATOR_USER,
    LOG_BACKUPS,
    LOG_MAX_BYTES,
    PIDFILE_NAME,
    PASSWORDS_FILE,
    DevStack,
    OutputPump,
    admin_password,
    dev_stack,
    migrate_airflow,
    start_airflow,
    user_password,
    wait_for_api,
    watch_health,
)
from devenv.postgres import PrivatePostgres, migrate_prodops, server_url
from devenv.processes import REPO_ROOT, DevEnvError, log, pid_alive, port_in_use, stop_session


def _read_pidfile(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) and os.getsid(pid) == pid else None


def _banner(stack: DevStack) -> str:
    try:
        password = admin_password(stack.airflow_home)
        operator = user_password(stack.airflow_home, OPERATOR_USER)
    except DevEnvError:
        password = operator = f"(see {stack.airflow_home / PASSWORDS_FILE})"
    return f"""
======================================================================
 prodops is running.
   Airflow UI : {stack.base_url}/
   Login      : {ADMIN_USER} / {password}  (approves requests: include/approvers.yaml)
                {OPERATOR_USER} / {operator}  (triggers and operates; may not approve)
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
    log(
        f"Airflow's output goes to {log_file} (rotated at {LOG_MAX_BYTES // 2**20} MB, {LOG_BACKUPS} kept);"
        " errors are shown here"
    )

    def shutdown(signum, _frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, shutdown)
    import threading

    stopping = threading.Event()  # no health line about the components being stopped
    try:
        try:
            wait_for_api(stack.base_url, proc=proc, timeout=300)
            print(_banner(stack), flush=True)
            threading.Thread(
                target=watch_health, args=(stack.base_url, log), kwargs={"stop": stopping}, daemon=True, name="health"
            ).start()
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
        stopping.set()
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
    parser = argparse.ArgumentParser(prog="python -m devenv", description=__doc__.split("\n\n")[0])
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
