"""The job-side client (include/jobs/prodops_phase.py) against a real local HTTP server: it posts
with the token, retries what is worth retrying, and falls back to a marker prodops parses."""

from __future__ import annotations

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prodops import config
from prodops.phases.markers import PhaseState, parse_marker

spec = importlib.util.spec_from_file_location("prodops_phase", config.JOBS_DIR / "prodops_phase.py")
client = importlib.util.module_from_spec(spec)
spec.loader.exec_module(client)


class Server:
    """Answers each post with the next status of ``answers`` (then 200), and keeps what it got."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.posts: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.posts.append((self.path, self.headers["Authorization"], body))
                code = outer.answers.pop(0) if outer.answers else 200
                payload = json.dumps({"detail": "refused"} if code >= 400 else {"stored": True}).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/prodops"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def job_env(monkeypatch):
    sleeps = []
    monkeypatch.setattr(client.time, "sleep", sleeps.append)
    monkeypatch.setattr(client, "_unreachable", False)
    monkeypatch.setenv("PRODOPS_PHASE_TOKEN", "pjt_secret")
    monkeypatch.setenv("PRODOPS_SUBMISSION_ID", "42")
    monkeypatch.setenv("PRODOPS_PHASE_TIMEOUT", "5")
    monkeypatch.delenv("PRODOPS_JOB_INDEX", raising=False)
    return sleeps


def _serve(monkeypatch, answers=()):
    server = Server(answers)
    monkeypatch.setenv("PRODOPS_API_URL", server.url + "/")
    return server


def test_a_post_carries_the_token_the_job_and_the_fields(job_env, monkeypatch, capsys):
    server = _serve(monkeypatch)
    try:
        assert client.main(["copy-out", "finished", "--job", "3", "--status", "0", "--cpu", "1.5"]) == 0
    finally:
        server.close()
    ((path, auth, body),) = server.posts
    assert path == "/prodops/api/v1/submissions/42/phases" and auth == "Bearer pjt_secret"
    assert {k: body[k] for k in ("job_index", "phase", "state", "status", "cpu")} == {
        "job_index": 3, "phase": "copy-out", "state": "finished", "status": 0, "cpu": 1.5}
    assert "wall" not in body and body["time"].endswith("Z")
    assert capsys.readouterr().out == ""  # posted: no marker


def test_a_server_error_is_retried_with_backoff_and_then_posted(job_env, monkeypatch, capsys):
    server = _serve(monkeypatch, answers=[503, 502])
    monkeypatch.setenv("PRODOPS_JOB_INDEX", "1")
    try:
        assert client.report("process", "started") is True
    finally:
        server.close()
    assert len(server.posts) == 3 and len(job_env) == 2
    assert {b["time"] for _, _, b in server.posts} == {server.posts[0][2]["time"]}  # one event, one time
    assert capsys.readouterr().out == ""


def test_a_refusal_is_not_retried_and_the_marker_is_printed(job_env, monkeypatch, capsys):
    server = _serve(monkeypatch, answers=[401])
    try:
        assert client.report("copy-out", "started", job=0) is False
    finally:
        server.close()
    assert len(server.posts) == 1
    out, err = capsys.readouterr()
    marker = parse_marker(out.strip())
    assert (marker.phase, marker.state) == ("copy-out", PhaseState.STARTED) and marker.time is not None
    assert "the API answered 401" in err and "printed the stdout marker" in err


def test_no_server_means_every_try_then_the_marker_and_later_reports_do_not_wait(job_env, monkeypatch, capsys):
    server = Server()
    url = server.url
    server.close()  # nothing listens there now
    monkeypatch.setenv("PRODOPS_API_URL", url)
    monkeypatch.setenv("PRODOPS_PHASE_ATTEMPTS", "3")
    assert client.report("copy-out", "finished", job=2, status=5, events=10) is False
    assert len(job_env) == 2
    out, err = capsys.readouterr()
    marker = parse_marker(out.strip())
    assert (marker.status, marker.events) == (5, 10) and "after 3 tries" in err
    assert client.report("process", "started", job=2) is False
    assert len(job_env) == 2  # no second round of tries in the same job
    assert parse_marker(capsys.readouterr().out.strip()).phase == "process"


def test_without_the_environment_it_prints_only_the_marker_and_exits_0(job_env, monkeypatch, capsys):
    monkeypatch.delenv("PRODOPS_API_URL", raising=False)
    assert client.main(["process", "started", "--job", "0"]) == 0
    out, err = capsys.readouterr()
    assert parse_marker(out.strip()).phase == "process" and err == ""
    assert job_env == []


def test_without_a_job_index_it_says_so_and_prints_the_marker(job_env, monkeypatch, capsys):
    monkeypatch.setenv("PRODOPS_API_URL", "http://127.0.0.1:9/prodops")
    assert client.report("process", "started") is False
    out, err = capsys.readouterr()
    assert "--job N or set PRODOPS_JOB_INDEX" in err and parse_marker(out.strip()).phase == "process"


def test_the_clients_notes_and_markers_are_not_read_as_the_jobs_failure(job_env, monkeypatch, capsys):
    from prodops.triage.patterns import load_library
    from prodops.triage.scorer import MIN_SCORE, score_line

    server = _serve(monkeypatch, answers=[401, 503, 503, 503, 503])
    try:
        client.report("copy-out", "started", job=0)
        client.report("copy-out", "finished", job=0, status=1)
    finally:
        server.close()
    monkeypatch.setenv("PRODOPS_API_URL", server.url)  # closed now: no reply
    client.report("process", "finished", job=0, status=2)
    monkeypatch.delenv("PRODOPS_JOB_INDEX", raising=False)
    client.report("process", "started")
    out, err = capsys.readouterr()
    notes, markers = err.splitlines(), out.splitlines()
    assert len(notes) == len(markers) == 4
    assert load_library().match({"stderr": notes, "stdout": markers}, None) == []
    assert all(score_line(line) < MIN_SCORE for line in notes + markers)
