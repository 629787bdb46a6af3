"""Bearer tokens for feeders (the monitoring systems that push status into prodops).

A token is shown once, when issued; only its SHA-256 is stored (tokens are 256-bit random, so
a plain hash is enough: there is nothing to brute-force). Revoking is immediate.

A token reports only the services in its scope: those given at issue (``--service``), else the
services whose registry ``feed`` is the token's feeder (read at each use). It may expire
(``--expires-in-days``): past that it is refused like a revoked one.

Usage::

    python -m prodops.status.tokens issue FEEDER [--note TEXT] [--service NAME ...] [--expires-in-days N]
    python -m prodops.status.tokens revoke (--id N | --prefix pdo_xxxxxxxx | --feeder NAME)
    python -m prodops.status.tokens list

The database is ``--url`` or ``PRODOPS_DB_URL``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


from prodops import config
from prodops.store.db import Conn, connect, one_row, q

TOKEN_PREFIX = "pdo_"
_FEEDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class FeederAccess:
    """What a valid token may do: report (and schedule windows for) the services of its scope."""

    feeder: str
    services: frozenset[str]
    expires_at: datetime | None = None


def issue(conn: Conn, feeder: str, note: str = "", *, services: Sequence[str] | None = None,
          expires_at: datetime | None = None) -> tuple[int, str]:
    """A new token for ``feeder``; returns (id, token). The caller commits.

    ``services``: its scope (None: the services the registry says its feed reports);
    ``expires_at``: when it stops working (None: never).
    """
    if not _FEEDER.match(feeder or ""):
        raise ValueError(f"feeder {feeder!r} is not a valid name; use letters, digits, '.', '_' or '-' (e.g. icinga)")
    for name in services or ():
        if not isinstance(name, str) or not _SERVICE.match(name):
            raise ValueError(f"service {name!r} is not a service name; use the registry's names (e.g. dcache)")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= datetime.now(timezone.utc)):
        raise ValueError(f"expires_at {expires_at!r} must be a time with a zone in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = one_row(conn.execute(
        q("insert_scoped_feeder_token"),
        {"feeder": feeder, "token_hash": hash_token(token), "prefix": token[:12], "note": note,
         "services": sorted(set(services)) if services is not None else None, "expires_at": expires_at},
    ))
    return int(row["id"]), token


def access_for(conn: Conn, token: str) -> FeederAccess | None:
    """What a valid, unrevoked, unexpired token may do; None for any other string."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = conn.execute(q("feeder_token_access"), {"token_hash": hash_token(token)}).fetchone()
    if row is None:
        return None
    last = row["last_used_at"]
    if last is None or datetime.now(timezone.utc) - last > TOUCH_EVERY:
        conn.execute(q("touch_feeder_token"), {"id": row["id"]})
    return FeederAccess(feeder=str(row["feeder"]), services=frozenset(row["services"]), expires_at=row["expires_at"])


def feeder_for(conn: Conn, token: str) -> str | None:
    """The feeder a valid, unrevoked, unexpired token belongs to; None otherwise."""
    access = access_for(conn, token)
    return access.feeder if access else None


def revoke(conn: Conn, *, id: int | None = None, prefix: str | None = None,
           feeder: str | None = None) -> list[dict[str, Any]]:
    """Revoke by id, by the printed prefix, or every token of a feeder; returns what was revoked."""
    if id is None and not prefix and not feeder:
        raise ValueError("say which token to revoke: an id, a prefix (pdo_...) or a feeder name")
    return list(conn.execute(q("revoke_feeder_tokens"), {"id": id, "prefix": prefix, "feeder": feeder}))


def list_tokens(conn: Conn) -> list[dict[str, Any]]:
    return list(conn.execute(q("list_scoped_feeder_tokens")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Issue, revoke and list feeders' bearer tokens.")
    parser.add_argument("--url", default=config.db_url(), help="libpq URL of the prodops database")
    sub = parser.add_subparsers(dest="command", required=True)
    p_issue = sub.add_parser("issue", help="issue a token for a feeder (printed once)")
    p_issue.add_argument("feeder")
    p_issue.add_argument("--note", default="")
    p_issue.add_argument("--service", action="append", dest="services", metavar="NAME",
                         help="a service it may report (repeat; default: those whose registry feed is FEEDER)")
    p_issue.add_argument("--expires-in-days", type=float, metavar="N", help="stop working N days from now")
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
                expires = (datetime.now(timezone.utc) + timedelta(days=args.expires_in_days)
                           if args.expires_in_days else None)
                token_id, token = issue(conn, args.feeder, args.note, services=args.services, expires_at=expires)
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
