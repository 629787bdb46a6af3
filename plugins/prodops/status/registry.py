"""The service registry: include/services.yaml, validated and loaded into the ``services`` table.

The file is the source of truth; loading it is an upsert, and a service removed from the file
is marked inactive (its history stays, the board stops showing it).

Usage: ``python -m prodops.status.registry [--url postgresql://...] [--file include/services.yaml]``
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.exceptions import FileInvalid
from prodops.status.states import Convention
from prodops.store.db import Conn, connect, q

log = logging.getLogger(__name__)

SERVICES_FILE = config.INCLUDE_DIR / "services.yaml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
PULL_CONVENTIONS = (Convention.STATUSPAGE.value, Convention.NATIVE.value)


class RegistryInvalid(FileInvalid):
    """services.yaml is malformed; ``errors`` maps field -> message."""


@dataclass(frozen=True)
class Service:
    name: str
    description: str = ""
    group: str = "other"
    workflows: tuple[str, ...] = ()
    feed: str = ""
    stale_after_s: int | None = None
    position: int = 0


@dataclass(frozen=True)
class PullFeed:
    """A monitoring feed the service_status DAG reads over HTTP."""

    name: str
    conn_id: str
    path: str = ""
    convention: str = Convention.STATUSPAGE.value
    timeout_s: float = 10.0
    components: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Registry:
    services: tuple[Service, ...]
    feeds: tuple[PullFeed, ...] = ()

    def names(self) -> set[str]:
        return {s.name for s in self.services}


def parse_duration(value: Any, where: str) -> int | None:
    """``15m`` / ``2h`` / ``90`` (seconds) -> seconds; None for an absent value."""
    if value is None:
        return None
    match = _DURATION.match(str(value))
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{where}: {value!r} is not a duration; write e.g. 90s, 15m, 2h or 1d")
    return int(float(match[1]) * _UNIT_S[match[2]])


def parse_registry(raw: Any, source: Path | str = "<services.yaml>") -> Registry:
    """Validate the file's content; every problem is collected and reported at once."""
    errors: dict[str, str] = {}
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), list):
        raise RegistryInvalid(source, {"services": "the file must be a mapping with a `services:` list"})
    services: list[Service] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw["services"]):
        where = f"services[{i}]"
        if not isinstance(entry, dict):
            errors[where] = "each service is a mapping with at least `name`"
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            errors[f"{where}.name"] = f"{name!r} is not a service name; use lower-case letters, digits, '-', '_', '.'"
            continue
        if name in seen:
            errors[f"{where}.name"] = f"{name!r} is listed twice; keep one entry"
            continue
        seen.add(name)
        unknown = set(entry) - {"name", "description", "group", "workflows", "feed", "stale_after"}
        if unknown:
            errors[f"{where}"] = f"unknown key(s) {sorted(unknown)}; allowed: name, description, group, workflows, feed, stale_after"
        workflows = entry.get("workflows") or []
        if not isinstance(workflows, list) or not all(isinstance(w, str) for w in workflows):
            errors[f"{where}.workflows"] = f"{workflows!r} is not a list of workflow names"
            workflows = []
        try:
            stale = parse_duration(entry.get("stale_after"), f"{where}.stale_after")
        except ValueError as err:
            errors[f"{where}.stale_after"] = str(err).split(": ", 1)[1]
            stale = None
        services.append(
            Service(
                name=name,
                description=str(entry.get("description") or ""),
                group=str(entry.get("group") or "other"),
                workflows=tuple(workflows),
                feed=str(entry.get("feed") or ""),
                stale_after_s=stale,
                position=i,
            )
        )
    feeds = _parse_feeds(raw.get("feeds") or [], seen, errors)
    if errors:
        raise RegistryInvalid(source, errors)
    return Registry(services=tuple(services), feeds=tuple(feeds))


def _parse_feeds(raw: Any, services: set[str], errors: dict[str, str]) -> list[PullFeed]:
    if not isinstance(raw, list):
        errors["feeds"] = "`feeds:` must be a list"
        return []
    feeds: list[PullFeed] = []
    for i, entry in enumerate(raw):
        where = f"feeds[{i}]"
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("conn_id"):
            errors[where] = "a pull feed needs at least `name` and `conn_id` (the Airflow connection with its address)"
            continue
        convention = str(entry.get("convention", Convention.STATUSPAGE.value))
        if convention not in PULL_CONVENTIONS:
            errors[f"{where}.convention"] = f"{convention!r} cannot be pulled; use one of {list(PULL_CONVENTIONS)}"
        components = entry.get("components") or {}
        for component, service in components.items():
            if service not in services:
                errors[f"{where}.components.{component}"] = f"service {service!r} is not in `services:`; add it or fix the name"
        try:
            timeout = float(entry.get("timeout_s", 10))
        except (TypeError, ValueError):
            errors[f"{where}.timeout_s"] = f"{entry.get('timeout_s')!r} is not a number of seconds"
            timeout = 10.0
        feeds.append(
            PullFeed(
                name=str(entry["name"]),
                conn_id=str(entry["conn_id"]),
                path=str(entry.get("path") or ""),
                convention=convention,
                timeout_s=timeout,
                components=dict(components),
            )
        )
    return feeds


def load_registry(path: Path | None = None) -> Registry:
    path = path or SERVICES_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RegistryInvalid(path, {"file": f"cannot be read ({err}); create it or set PRODOPS_INCLUDE"}) from None
    except yaml.YAMLError as err:
        raise RegistryInvalid(path, {"file": f"not valid YAML ({err}); fix the syntax"}) from None
    return parse_registry(raw, path)


def sync_registry(conn: Conn, registry: Registry) -> int:
    """Upsert every service of the registry and deactivate the others; returns the count loaded."""
    for s in registry.services:
        conn.execute(
            q("upsert_service"),
            {
                "name": s.name,
                "description": s.description,
                "grp": s.group,
                "workflows": list(s.workflows),
                "feed": s.feed,
                "stale_after_s": s.stale_after_s,
                "position": s.position,
            },
        )
    conn.execute(q("deactivate_services_not_in"), {"names": sorted(registry.names())})
    # a service new, with events from before migration 014, or with another staleness limit (part of
    # what its events mean): its board rows are derived again here, never on a read
    from prodops.status.derive import ensure_derived

    ensure_derived(conn)
    return len(registry.services)


def sync_file(db_url: str, path: Path | None = None) -> Registry:
    """Load the registry file into the database (one transaction)."""
    registry = load_registry(path)
    with connect(db_url) as conn:
        sync_registry(conn, registry)
        conn.commit()
    log.info("Loaded %d services from %s", len(registry.services), path or SERVICES_FILE)
    return registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=config.db_url(), help="libpq URL of the prodops database")
    parser.add_argument("--file", type=Path, default=SERVICES_FILE)
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no database: pass --url postgresql://... or set PRODOPS_DB_URL")
    try:
        registry = sync_file(args.url, args.file)
    except RegistryInvalid as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{len(registry.services)} services loaded from {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
