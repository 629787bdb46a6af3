"""Schema migrations are versioned and idempotent."""

from __future__ import annotations

import pytest

from prodops.store.db import connect
from prodops.store.migrate import discover, migrate

pytestmark = pytest.mark.integration


def test_rerunning_migrations_changes_nothing(db_url):
    with connect(db_url) as conn:
        before = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1").fetchall()
        tables = conn.execute("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema='public'").fetchone()
    assert [r["version"] for r in before] == [m.version for m in discover()]
    assert migrate(db_url) == []
    with connect(db_url) as conn:
        after = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1").fetchall()
        tables_after = conn.execute(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema='public'").fetchone()
    assert after == before and tables_after == tables


def test_a_changed_migration_is_refused(db_url):
    with connect(db_url) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        conn.commit()
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrate(db_url)


def test_badly_named_migration_file_is_refused(tmp_path):
    (tmp_path / "1_init.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="NNN_lowercase_name.sql"):
        discover(tmp_path)
