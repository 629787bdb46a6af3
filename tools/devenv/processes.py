"""Processes and ports of the development stack, and the error and log line every part uses.

Only the standard library: ``make stop`` runs this package without the venv.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class DevEnvError(RuntimeError):
    """Setting up the development stack failed; the message names the thing and the fix."""


def log(msg: str) -> None:
    print(f"prodops: {msg}", file=sys.stderr, flush=True)


def pythonpath(repo: Path, existing: str | None) -> str:
    plugins = str(Path(repo) / "plugins")
    parts = [p for p in (existing or "").split(os.pathsep) if p and p != plugins]
    return os.pathsep.join([plugins, *parts])


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


def process_cmdline(pid: int) -> str:
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
    stop_sessions([leader], timeout)


def stop_sessions(leaders: Sequence[int | subprocess.Popen], timeout: float = 30.0) -> None:
    """:func:`stop_session` for several sessions at once: one SIGTERM to all, one wait, SIGKILL
    for what is left (the components of a Celery stack shut down in parallel)."""
    procs = [leader for leader in leaders if isinstance(leader, subprocess.Popen)]
    sids = [leader.pid if isinstance(leader, subprocess.Popen) else int(leader) for leader in leaders]

    def signal_all(sig: int) -> list[int]:
        members = [pid for sid in sids for pid in session_members(sid)]
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return members

    signal_all(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            proc.poll()
        if not any(session_members(sid) for sid in sids):
            break
        time.sleep(0.2)
    else:
        left = signal_all(signal.SIGKILL)
        if left:
            log(f"killed {len(left)} process(es) of session(s) {sids} that ignored SIGTERM for {timeout:.0f}s")
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"process {proc.pid} did not exit after SIGKILL")
