"""The development stack's environment, URLs, port choice and process-session cleanup."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import devenv

REPO_ROOT = Path(__file__).resolve().parents[3]

PG_URL = "postgresql://postgres@127.0.0.1:55432/postgres"


def test_urls_keep_the_server_and_change_the_database():
    assert devenv.with_database(PG_URL, "prodops") == "postgresql://postgres@127.0.0.1:55432/prodops"
    assert devenv.database_name(devenv.with_database(PG_URL, "prodops_test_1")) == "prodops_test_1"
    assert devenv.sqlalchemy_url(PG_URL) == "postgresql+psycopg2://postgres@127.0.0.1:55432/postgres"
    assert devenv.libpq_url("postgresql+psycopg2://u:p@h:5/db") == "postgresql://u:p@h:5/db"


def test_airflow_env_points_every_component_at_the_same_stack(tmp_path):
    env = devenv.airflow_env(
        airflow_home=tmp_path / "home",
        metadata_url=devenv.with_database(PG_URL, "airflow"),
        prodops_url=devenv.with_database(PG_URL, "prodops"),
        api_port=18080,
        repo=tmp_path,
        log_server_ports=(18793, 18794),
        base_env={"PYTHONPATH": "/elsewhere", "PATH": "/usr/bin"},
    )
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:18080/execution/"
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW_CONN_PRODOPS_DB"] == env["PRODOPS_DB_URL"] == devenv.with_database(PG_URL, "prodops")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "plugins"), "/elsewhere"]
    assert env["PRODOPS_HOME"] == str(tmp_path / ".local" / "prodops")
    assert env["PRODOPS_LOCAL_SLOTS"] == "4"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) <= 4
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"


def test_a_port_held_by_another_server_is_skipped_unless_it_was_asked_for(tmp_path, monkeypatch):
    pg = devenv.PrivatePostgres(tmp_path / "pg")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        busy = other.getsockname()[1]
        monkeypatch.delenv("PRODOPS_PG_PORT", raising=False)
        monkeypatch.setattr(devenv.postgres, "DEFAULT_PG_PORT", busy)
        assert pg._choose_port() != busy
        monkeypatch.setenv("PRODOPS_PG_PORT", str(busy))
        with pytest.raises(devenv.DevEnvError, match="PRODOPS_PG_PORT"):
            pg._choose_port()


def test_stop_session_stops_grandchildren_too():
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    deadline = time.monotonic() + 5
    while len(devenv.session_members(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(devenv.session_members(proc.pid)) >= 2
    devenv.stop_session(proc, timeout=5)
    assert devenv.session_members(proc.pid) == []
    assert proc.returncode is not None


def test_make_run_keeps_airflows_output_in_a_rotating_file_and_shows_only_errors(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys\n"
        "for i in range(3000):\n"
        "    print(f'dag-processor | 2026-12-01T08:00:00Z [info     ] Searching for files {i:04d}')\n"
        "print('scheduler  | 2026-12-01T08:00:01Z [error    ] Executor reports task failed')\n"
        "print('Traceback (most recent call last):', file=sys.stderr)\n"
        "print('scheduler  | File \"/x/httpcore/_backends/sync.py\", line 207, in connect_tcp')\n"
        "print('scheduler  | raise to_exc(exc) from exc')\n"
        "print('scheduler  | httpx.ConnectError: [Errno 111] Connection refused')\n"
        "print('api-server | INFO: 127.0.0.1 GET /api/v2/monitor/health 200')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    shown: list[str] = []
    log_file = tmp_path / "logs" / "standalone.log"
    pump = devenv.OutputPump(proc.stdout, log_file, shown.append, max_bytes=64_000, backups=2)
    pump.run()
    proc.wait()
    assert shown == [  # of a traceback, the exception it ends with
        "scheduler  | 2026-12-01T08:00:01Z [error    ] Executor reports task failed",
        "scheduler  | httpx.ConnectError: [Errno 111] Connection refused",
    ]
    assert pump.lines == 3006 and pump.errors == 2
    rotated = sorted(p.name for p in log_file.parent.iterdir())
    assert rotated == ["standalone.log", "standalone.log.1", "standalone.log.2"]  # older ones dropped
    assert all(p.stat().st_size <= 64_000 for p in log_file.parent.iterdir())
    assert log_file.read_text().splitlines()[-1].endswith("GET /api/v2/monitor/health 200")


def test_health_is_shown_when_it_changes(tmp_path):
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = iter(
        [{"scheduler": {"status": "healthy"}, "triggerer": {"status": "healthy"}, "metadatabase": {}}] * 2
        + [{"scheduler": {"status": "healthy"}, "triggerer": {"status": "unhealthy"}}] * 10
    )

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = json.dumps(next(answers)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shown: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=devenv.watch_health,
        args=(f"http://127.0.0.1:{server.server_port}", shown.append),
        kwargs={"every": 0.05, "stop": stop},
    )
    watcher.start()
    deadline = time.monotonic() + 10
    while len(shown) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join(5)
    server.shutdown()
    assert shown[:2] == [
        "health: scheduler healthy, triggerer healthy",
        "health: scheduler healthy, triggerer unhealthy",
    ]


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_runtime_module_imports_the_development_tooling():
    """Airflow loads plugins/ in production; the dev stack (tools/devenv) must never be part of it."""
    runtime = sorted((REPO_ROOT / "plugins").rglob("*.py"))
    assert len(runtime) > 50  # the walk really found the runtime package
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(
            name for name in _imported_modules(path) if "devenv" in name.split(".")[:2]
        )
        for path in runtime
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert not (REPO_ROOT / "plugins" / "prodops" / "devenv.py").exists()
    assert Path(devenv.__file__).resolve().parent == REPO_ROOT / "tools" / "devenv"


def test_the_package_imports_only_the_standard_library():
    """``make stop`` runs it with a bare python3 when the venv is missing: no psycopg, no prodops at import."""
    probe = (
        "import sys, devenv, devenv.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'prodops', 'airflow')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_ROOT / "tools"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_make_run_shows_a_repeated_error_once_in_a_while_with_how_many_came_meanwhile():
    """An import error is logged at every parse (every few seconds): shown, then held quiet."""
    from devenv.airflow_stack import ErrorEcho

    now = [0.0]
    shown: list[str] = []
    echo = ErrorEcho(shown.append, quiet_s=600, clock=lambda: now[0])
    broken = "dag-processor | 2026-12-01T08:00:{:02d}Z [error    ] Failed to import: /dags/x.py pid={}"
    for second in range(0, 60, 10):  # six parses in a minute, each its own time and pid
        now[0] = second
        echo(broken.format(second, 4000 + second))
    assert echo("scheduler | [error    ] Executor reports task failed")  # another error is shown at once
    now[0] = 700.0  # the quiet time is over: shown again, with the count held back
    echo(broken.format(40, 4999))
    assert shown == [
        broken.format(0, 4000),
        "scheduler | [error    ] Executor reports task failed",
        broken.format(40, 4999) + "  (and 5 more like it since it was last shown)",
    ]


def test_no_health_line_once_make_run_is_stopping():
    """Ctrl-C stops the components: the api-server's silence then is no news to print."""
    import threading

    stop = threading.Event()
    shown: list[str] = []

    def refused(*args, **kwargs):
        stop.set()  # make run began stopping while the health was being asked
        raise OSError("[Errno 111] Connection refused")

    import urllib.request

    mp = pytest.MonkeyPatch()
    mp.setattr(urllib.request, "urlopen", refused)
    try:
        devenv.watch_health("http://127.0.0.1:1", shown.append, every=0.01, stop=stop)
    finally:
        mp.undo()
    assert shown == []
