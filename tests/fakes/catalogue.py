"""Small HTTP servers speaking the dataset catalogues' documented endpoints, on 127.0.0.1.

``FakeSamweb`` answers samweb_client's ``definitions/name/<def>/files/summary`` (JSON) and
``definitions/name/<def>/files/list?fileinfo=1`` (``name id size events`` lines), 404 with
samweb's words for an unknown definition. ``FakeMetaCat`` answers ``GET data/dataset`` and
``POST data/query?with_meta=yes`` (MQL ``files from <ns>:<name>``). ``delay_s`` makes every
answer late, for the timeout tests; the wait ends when the server stops.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

SAM_PREFIX = "/sam/nova/api"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s = 0.0
        self.stopping = threading.Event()
        self.calls: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, str, bytes]:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._serve(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _serve(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        self.server.calls.append(f"{self.command} {self.path}")
        if self.server.delay_s and self.server.stopping.wait(self.server.delay_s):
            return
        status, kind, data = self.server.answer(self.command, unquote(parts.path), parse_qs(parts.query), body)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet in tests
        pass


class FakeSamweb(_Server):
    def __init__(self) -> None:
        super().__init__()
        self.definitions: dict[str, list[tuple[str, int, int | None]]] = {}
        """definition -> files as (name, size in bytes, event count or None)."""

    @property
    def api_url(self) -> str:
        return self.url + SAM_PREFIX

    def answer(self, method, path, query, body):
        found = re.fullmatch(re.escape(SAM_PREFIX) + r"/definitions/name/([^/]+)/files/(summary|list)", path)
        if not found:
            return 404, "text/plain", b"No such method"
        name, what = found.groups()
        if name not in self.definitions:
            return 404, "text/plain", f"DefinitionNotFound: Definition {name} not found".encode()
        files = self.definitions[name]
        if what == "summary":
            summary = {
                "file_count": len(files),  # the totals too, as samweb gives them (malformed rows left out)
                "total_file_size": sum(f[1] for f in files if isinstance(f[1], int)),
                "total_event_count": sum(f[2] for f in files if isinstance(f[2], int)),
            }
            return 200, "application/json", json.dumps(summary).encode()
        if query.get("fileinfo") == ["1"]:
            lines = [f"{n}\t{1000 + i}\t{size}\t{events}" for i, (n, size, events) in enumerate(files)]
        else:
            lines = [n for n, _, _ in files]
        return 200, "text/plain", "".join(line + "\n" for line in lines).encode()


class FakeMetaCat(_Server):
    def __init__(self) -> None:
        super().__init__()
        self.datasets: dict[str, list[dict]] = {}
        """'namespace:name' -> files as MetaCat lists them (name, namespace, size, metadata)."""
        self.query_format = "json-seq"
        self.query_error: dict | None = None
        """The ``{"type", "value"}`` the server reports instead of files, when set."""
        """How the query's files are sent: "json-seq", "list" or "results" (``{"results": [...]}``)."""

    def answer(self, method, path, query, body):
        if method == "GET" and path == "/data/dataset":
            did = query.get("dataset", [""])[0]
            if did not in self.datasets:
                return 404, "text/plain", f"Dataset {did} not found".encode()
            ns, name = did.split(":", 1)
            return 200, "application/json", json.dumps({"namespace": ns, "name": name}).encode()
        if method == "POST" and path == "/data/query":
            found = re.fullmatch(r"files from (\S+)", body.decode())
            if not found or found.group(1) not in self.datasets:
                return 400, "text/plain", b"MQL error"
            if self.query_error:
                return 200, "application/json", json.dumps({"error": self.query_error}).encode()
            files = self.datasets[found.group(1)]
            if query.get("with_meta") != ["yes"]:
                files = [{k: v for k, v in f.items() if k != "metadata"} for f in files]
            if self.query_format == "json-seq":  # RFC 7464, as the server streams with Accept: application/json-seq
                return 200, "application/json-seq", "".join(f"\x1e{json.dumps(f)}\n" for f in files).encode()
            if self.query_format == "results":
                return 200, "application/json", json.dumps({"results": files}).encode()
            return 200, "application/json", json.dumps(files).encode()
        return 404, "text/plain", b"Not found"


@contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


@contextmanager
def refused_url() -> Iterator[str]:
    """A URL on a port that is bound but not listening: connecting is refused, and no one else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
