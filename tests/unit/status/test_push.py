"""The feeder's push client against a real local HTTP server that drops, fails, refuses or answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from prodops.status.push import Feeder, PushFailed, stamped


class Server:
    """Answers each POST with the next scripted reply: 'drop' (close without answering), a status
    code, or 200 with the counts; records every body and Authorization header."""

    def __init__(self, replies: list[str | int]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                outer.auth.append(self.headers.get("Authorization"))
                reply = outer.replies.pop(0) if outer.replies else 200
                if reply == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                n = len(body["events"])
                text = json.dumps({"received": n, "stored": n} if reply == 200 else {"detail": f"scripted {reply}"}).encode()
                self.send_response(int(reply))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def serve() -> Iterator:
    servers: list[Server] = []

    def start(replies: list[str | int]) -> Server:
        server = Server(replies)
        threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def feeder(url: str, pauses: list[float], **kwargs) -> Feeder:
    return Feeder(url, "pdo_test", timeout_s=5, sleep=pauses.append, **kwargs)


def test_a_batch_is_sent_again_unchanged_until_acknowledged(serve):
    server = serve(["drop", 503, 502, 200])
    pauses: list[float] = []
    pushed = feeder(server.url, pauses).push([{"service": "dcache", "state": "down"},
                                              {"service": "samweb", "state": "up", "id": "s-1", "time": 1.5}])
    assert (pushed.tries, pushed.received) == (4, 2)
    assert all(body == server.bodies[0] for body in server.bodies)  # same ids and times on every try
    first = server.bodies[0]["events"]
    assert first[0]["id"] and first[0]["time"] and (first[1]["id"], first[1]["time"]) == ("s-1", 1.5)
    assert set(server.auth) == {"Bearer pdo_test"}
    assert pauses == [0.2, 0.4, 0.8]


def test_a_refusal_is_final_and_names_the_answer(serve):
    server = serve([422])
    with pytest.raises(PushFailed, match="HTTP 422.*scripted 422"):
        feeder(server.url, []).push([{"service": "dcache", "state": "sideways"}])
    assert len(server.bodies) == 1


def test_it_gives_up_at_its_deadline_and_says_a_resend_is_safe(serve):
    server = serve([503] * 10)
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    client = Feeder(server.url, "pdo_test", timeout_s=5, give_up_after_s=3, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(PushFailed, match=r"in 5 tries over 3 s \(last: HTTP 503.*at most once"):
        client.push([{"service": "dcache", "state": "up"}])
    assert pauses == [0.2, 0.4, 0.8, 1.6] and len(server.bodies) == 5


def test_stamped_keeps_given_ids_and_times_and_makes_distinct_ones():
    events = stamped([{"service": "a", "state": "up"}, {"service": "a", "state": "up"},
                      {"service": "b", "state": "down", "id": "x", "time": "2026-01-01T00:00:00+00:00"}])
    assert events[0]["id"] != events[1]["id"] and events[0]["time"] == events[1]["time"]
    assert (events[2]["id"], events[2]["time"]) == ("x", "2026-01-01T00:00:00+00:00")
