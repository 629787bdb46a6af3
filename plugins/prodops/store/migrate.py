"""Versioned, idempotent schema migrations from include/sql/migrations/NNN_name.sql.

Each file is applied once, in order, inside a transaction, under an advisory lock so two
processes starting together do not race. A file changed after it was applied is an error:
write a new migration instead.

Usage: ``python -m prodops.store.migrate --url postgresql://...`` (or PRODOPS_DB_URL).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from prodops import config
from prodops.store.db import connect

log = logging.getLogger(__name__)

_LOCK_KEY = 0x70726F64  # "prod"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or config.SQL_DIR / "migrations"
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNN_lowercase_name.sql; rename it")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{directory}: two migrations share a version number; renumber one")
    return found


def migrate(url: str, directory: Path | None = None) -> list[int]:
    """Apply pending migrations; returns the versions applied by this call."""
    applied_now: list[int] = []
    with connect(url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.commit()
            done = {r["version"]: r for r in conn.execute("SELECT version, name, checksum FROM schema_migrations")}
            for migration in discover(directory):
                previous = done.get(migration.version)
                if previous is not None:
                    if previous["checksum"] != migration.checksum:
                        raise RuntimeError(
                            f"migration {migration.version:03d}_{migration.name} changed after it was applied;"
                            " restore it and add a new numbered migration for the change"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("Applied migration %03d_%s", migration.version, migration.name)
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            conn.commit()
    return applied_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=config.db_url(), help="libpq URL of the prodops database")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no database: pass --url postgresql://... or set PRODOPS_DB_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    applied = migrate(args.url)
    print(f"prodops schema up to date ({len(applied)} migration(s) applied now)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
