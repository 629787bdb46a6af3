"""Connections and named SQL statements.

SQL lives in ``include/sql/queries/*.sql`` as blocks headed ``-- name: <name>``; code refers to
statements by name, never by building SQL in f-strings.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TypeAlias

import psycopg
from psycopg.rows import DictRow, dict_row

from prodops import config

CONNECT_TIMEOUT_S = 10
_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)

Conn: TypeAlias = psycopg.Connection[DictRow]
"""Every connection prodops opens (:func:`connect`): its rows are dicts, so the type checker knows
``row["column"]``; a bare ``psycopg.Connection`` would mean tuple rows."""


def connect(url: str, *, autocommit: bool = False) -> Conn:
    """Open a connection with dict rows and a bounded connect time."""
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S)


def one_row(cursor: psycopg.Cursor[DictRow]) -> DictRow:
    """The row of a statement that always returns one (``INSERT ... RETURNING``, an upsert, ``count(*)``).

    Typed as present, and a clear error rather than ``None["id"]`` if the statement ever changes.
    """
    row = cursor.fetchone()
    if row is None:
        raise LookupError("a statement that always returns a row returned none; check its SQL in include/sql/queries")
    return row


def parse_queries(text: str, source: str = "<string>") -> dict[str, str]:
    """Split a file of ``-- name:`` blocks into {name: statement}."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise ValueError(f"{source}: query {name!r} is defined twice; rename one of them")
        queries[name] = body.strip()
    return queries


@functools.cache
def queries(directory: Path | None = None) -> dict[str, str]:
    """Every named statement under include/sql/queries."""
    found: dict[str, str] = {}
    for path in sorted((directory or config.SQL_DIR / "queries").glob("*.sql")):
        for name, sql in parse_queries(path.read_text(), str(path)).items():
            if name in found:
                raise ValueError(f"{path}: query {name!r} is also defined in another file; rename one")
            found[name] = sql
    return found


def q(name: str) -> str:
    try:
        return queries()[name]
    except KeyError:
        raise KeyError(f"no SQL statement named {name!r} in {config.SQL_DIR / 'queries'}") from None


def url_from_connection(conn_id: str = config.DB_CONN_ID) -> str:
    """The libpq URL of an Airflow connection (worker-side; triggers use :func:`aurl_from_connection`)."""
    from airflow.sdk import BaseHook

    return _libpq_url(BaseHook.get_connection(conn_id).get_uri())


async def aurl_from_connection(conn_id: str = config.DB_CONN_ID) -> str:
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    return _libpq_url(conn.get_uri())


def component_url() -> str:
    """The URL outside a task (api-server, scheduler listeners): PRODOPS_DB_URL, else the Airflow
    connection ``prodops_db`` read from the secrets backends (set for every component)."""
    url = config.db_url()
    if url:
        return url
    from airflow.models.connection import Connection

    return _libpq_url(Connection.get_connection_from_secrets(config.DB_CONN_ID).get_uri())


def _libpq_url(uri: str) -> str:
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://") :]
    if "__extra__" in uri:
        uri = uri.split("?", 1)[0]
    return uri
