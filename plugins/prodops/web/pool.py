"""A small pool of PostgreSQL connections for the web app (one round trip saved per request matters
for a feeder that posts one event at a time). Connections come back rolled back and healthy, or
are closed; the pool never holds more than ``size`` idle ones."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from prodops.store.db import Conn, connect


class ConnectionPool:
    def __init__(self, url: Callable[[], str], size: int = 16) -> None:
        self._url = url
        self._idle: queue.LifoQueue[Conn] = queue.LifoQueue(maxsize=size)

    @contextmanager
    def connection(self) -> Iterator[Conn]:
        """A connection in a clean state; commit what you want kept, the rest is rolled back."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = connect(self._url())
        if conn.closed or conn.broken:
            conn = connect(self._url())
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _give_back(self, conn: Conn) -> None:
        if conn.closed or conn.broken:
            return
        try:
            conn.rollback()  # no round trip when idle; ends anything left open
            self._idle.put_nowait(conn)
        except (queue.Full, psycopg.Error):
            conn.close()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
