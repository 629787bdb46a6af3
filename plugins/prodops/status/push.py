"""A feeder's client for the push API (``POST /api/v1/events``): every event stored once, however
often a batch has to be sent.

The server skips an event it already has (same service, feed, id and time), so a batch whose
answer never came (the api-server killed or restarted, a proxy timing out) is safe to send again.
That holds only when each event carries its own id and time: this client gives every event both
before the first try, since a time stamped by the server would differ on the retry and store the
event twice. Connection errors, timeouts and 408/429/5xx answers are retried with a growing pause
until ``give_up_after_s``; any other answer (a 4xx naming a bad field or a forbidden service) is
final and raised at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests

from prodops.exceptions import ProdopsError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
TIMEOUT_S = 10.0
GIVE_UP_AFTER_S = 60.0
FIRST_PAUSE_S = 0.2
MAX_PAUSE_S = 5.0


class PushFailed(ProdopsError):
    """A batch was refused, or not acknowledged before the client gave up (then it may or may not
    be stored: sending the same events again stores each at most once)."""


@dataclass(frozen=True)
class Pushed:
    received: int
    stored: int
    """Events the acknowledged try stored; the rest were there already (an earlier, unanswered try)."""
    tries: int


def stamped(events: Sequence[Mapping[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
    """The events, each with a time (``now`` when it has none) and an id (a new UUID when it has none)."""
    when = (now or datetime.now(timezone.utc)).isoformat()
    return [{**event, "time": event.get("time") or when, "id": event.get("id") or uuid.uuid4().hex}
            for event in events]


class Feeder:
    """Posts batches of native events for one feeder token; see the module docstring for retries."""

    def __init__(self, url: str, token: str, *, timeout_s: float = TIMEOUT_S, give_up_after_s: float = GIVE_UP_AFTER_S,
                 first_pause_s: float = FIRST_PAUSE_S, max_pause_s: float = MAX_PAUSE_S,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = url.rstrip("/") + "/api/v1/events"
        self.timeout_s, self.give_up_after_s = timeout_s, give_up_after_s
        self.first_pause_s, self.max_pause_s = first_pause_s, max_pause_s
        self.http = session or requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.sleep, self.clock = sleep, clock

    def push(self, events: Sequence[Mapping[str, Any]]) -> Pushed:
        """Send one batch (stored whole or not at all) until the server acknowledges it."""
        body = {"events": stamped(events)}
        deadline = self.clock() + self.give_up_after_s
        pause, tries = self.first_pause_s, 0
        while True:
            tries += 1
            try:
                answer = self.http.post(self.endpoint, json=body, timeout=self.timeout_s)
            except requests.RequestException as err:
                why = f"{type(err).__name__}: {err}"
            else:
                if answer.status_code == 200:
                    counts = answer.json()
                    return Pushed(received=int(counts["received"]), stored=int(counts["stored"]), tries=tries)
                if answer.status_code not in RETRY_STATUSES:
                    raise PushFailed(f"{self.endpoint} refused the batch of {len(events)} events: "
                                     f"HTTP {answer.status_code} {answer.text[:500]}")
                why = f"HTTP {answer.status_code} {answer.text[:200]}"
            if self.clock() + pause > deadline:
                raise PushFailed(f"{self.endpoint} did not acknowledge the batch of {len(events)} events in "
                                 f"{tries} tries over {self.give_up_after_s:.0f} s (last: {why}); sending the same "
                                 "events again stores each at most once")
            self.sleep(pause)
            pause = min(pause * 2, self.max_pause_s)
