"""The web app's connection pool: reuse, rollback of what was not committed, broken connections replaced."""

from __future__ import annotations

import pytest

from prodops.web.pool import ConnectionPool

pytestmark = pytest.mark.integration


def test_reuse_rollback_and_replacement(db_url):
    pool = ConnectionPool(lambda: db_url, size=2)
    with pool.connection() as conn:
        first = conn
        conn.execute("CREATE TABLE t (x int)")
        conn.commit()
    with pytest.raises(RuntimeError):
        with pool.connection() as conn:
            assert conn is first  # reused
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("request failed half way")
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) AS n FROM t").fetchone()["n"] == 0  # nothing half written
        conn.close()  # e.g. the server dropped it
    with pool.connection() as conn:
        assert conn is not first and conn.execute("SELECT 1 AS one").fetchone()["one"] == 1
    pool.close()
