"""Bearer tokens for feeders (the monitoring systems that push status into prodops).

A token is shown once, when issued; only its SHA-256 is stored (tokens are 256-bit random, so
a plain hash is enough: there is nothing to brute-force). Revoking is immediate.

Usage::

    python -m prodops.status.tokens issue FEEDER [--note TEXT]
    python -m prodops.status.tokens revoke (--id N | --prefix pdo_xxxxxxxx | --feeder NAME)
    python -m prodops.status.tokens list

The database is ``--url`` or ``PRODOPS_DB_URL``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from prodops.store.db import connect, q

TOKEN_PREFIX = "pdo_"
_FEEDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(conn: psycopg.Connection, feeder: str, note: str = "") -> tuple[int, str]:
    """A new token for ``feeder``; returns (id, token). The caller commits."""
    if not _FEEDER.match(feeder or ""):
        raise ValueError(f"feeder {feeder!r} is not a valid name; use letters, digits, '.', '_' or '-' (e.g. icinga)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        q("insert_feeder_token"),
        {"feeder": feeder, "token_hash": hash_token(token), "prefix": token[:12], "note": note},
    ).fetchone()
    return int(row["id"]), token


def feeder_for(conn: psycopg.Connection, token: str) -> str | None:
    """The feeder a valid, unrevoked token belongs to; None otherwise."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(q("feeder_for_token"), {"token_hash": hash_token(token)}).fetchone()
    if row is None:
        return None
    last = row["last_used_at"]
    if last is None or datetime.now(timezone.utc) - last > TOUCH_EVERY:
        conn.execute(q("touch_feeder_token"), {"id": row["id"]})
    return str(row["feeder"])


def revoke(conn: psycopg.Connection, *, id: int | None = None, prefix: str | None = None,
           feeder: str | None = None) -> list[dict[str, Any]]:
    """Revoke by id, by the printed prefix, or every token of a feeder; returns what was revoked."""
    if id is None and not prefix and not feeder:
        raise ValueError("say which token to revoke: an id, a prefix (pdo_...) or a feeder name")
    return list(conn.execute(q("revoke_feeder_tokens"), {"id": id, "prefix": prefix, "feeder": feeder}))


def list_tokens(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return list(conn.execute(q("list_feeder_tokens")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Issue, revoke and list feeders' bearer tokens.")
    parser.add_argument("--url", default=os.environ.get("PRODOPS_DB_URL"), help="libpq URL of the prodops database")
    sub = parser.add_subparsers(dest="command", required=True)
    p_issue = sub.add_parser("issue", help="issue a token for a feeder (printed once)")
    p_issue.add_argument("feeder")
    p_issue.add_argument("--note", default="")
    p_revoke = sub.add_parser("revoke", help="revoke tokens")
    p_revoke.add_argument("--id", type=int)
    p_revoke.add_argument("--prefix")
    p_revoke.add_argument("--feeder")
    sub.add_parser("list", help="list tokens (never the secrets)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no database: pass --url postgresql://... or set PRODOPS_DB_URL")
    with connect(args.url) as conn:
        if args.command == "issue":
            try:
                token_id, token = issue(conn, args.feeder, args.note)
            except ValueError as err:
                parser.error(str(err))
            conn.commit()
            print(f"token {token_id} for feeder {args.feeder} (shown once, keep it secret):")
            print(token)
        elif args.command == "revoke":
            try:
                revoked = revoke(conn, id=args.id, prefix=args.prefix, feeder=args.feeder)
            except ValueError as err:
                parser.error(str(err))
            conn.commit()
            if not revoked:
                print("no active token matched; nothing revoked (see: list)", file=sys.stderr)
                return 1
            for r in revoked:
                print(f"revoked token {r['id']} ({r['prefix']}...) of feeder {r['feeder']}")
        else:
            for r in list_tokens(conn):
                state = f"revoked {r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "active"
                used = f"{r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never"
                print(f"{r['id']:>4}  {r['feeder']:<20} {r['prefix']}...  {state:<24} last used {used}  {r['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
