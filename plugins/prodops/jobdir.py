"""The job directory (``PRODOPS_HOME``) that every component of a deployment must share.

The local pool's runner starts on the Celery worker that ran ``submit_stage``, tracking reads
the workdir from the triggerer, the api-server tails its logs: a worker or triggerer that has a
directory of its own (a per-host volume) submits jobs nobody tracks, or tracks nothing. So each
of them checks at start that it sees the directory the deployment's init step prepared:

- ``python -m prodops.jobdir init`` (once, after the schema migration) writes a marker into
  ``PRODOPS_HOME`` naming the prodops database;
- ``python -m prodops.jobdir run -- airflow celery worker`` (or ``... -- airflow triggerer``)
  checks the directory, then becomes the component; ``check`` only checks.

The check fails, naming the path and the fix, when the directory is missing or read-only, has
no marker (this host does not see the shared directory), names another database, or lacks the
workdir of a submission the batch system runs now.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prodops import config
from prodops.exceptions import ProdopsError

MARKER_NAME = ".prodops-jobdir.json"
LIVE_WORKDIRS_CHECKED = 20
FIX = (
    "mount the deployment's shared job directory at the same path on every worker, triggerer and "
    "api-server host and set PRODOPS_HOME to it (docker-compose.yaml: the prodops-home volume on "
    "shared storage; see the README, Deploying across hosts)"
)


class JobDirNotShared(ProdopsError):
    """This component does not see the deployment's job directory; ``problems`` lists why."""

    def __init__(self, home: Path, problems: Sequence[str]) -> None:
        self.home = home
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"prodops job directory check failed on host {socket.gethostname()} for PRODOPS_HOME={home}:\n"
            f"{lines}\nFix: {FIX}."
        )


@dataclass(frozen=True)
class Marker:
    """What ``init`` wrote: the database the directory belongs to, and where and when."""

    database: str
    host: str
    created: float

    def to_json(self) -> str:
        return json.dumps({"database": self.database, "host": self.host, "created": self.created})


def read_marker(home: Path) -> Marker | None:
    """The directory's marker; None when there is none. A garbled marker is an error naming the file."""
    path = home / MARKER_NAME
    try:
        data = json.loads(path.read_text())
        return Marker(database=str(data["database"]), host=str(data["host"]), created=float(data["created"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JobDirNotShared(
            home, [f"{path} is unreadable ({exc}): remove it and run `python -m prodops.jobdir init` again"]
        ) from exc


def write_marker(home: Path, database: str) -> Marker:
    """Mark ``home`` as the job directory of ``database`` (idempotent: an existing marker of the same
    database is kept; one of another database is an error, a directory serves one deployment)."""
    home.mkdir(parents=True, exist_ok=True)
    existing = read_marker(home)
    if existing is not None:
        if existing.database != database:
            raise JobDirNotShared(
                home,
                [
                    f"it is already the job directory of database {existing.database} (marked on {existing.host}), "
                    f"not of {database}: give this deployment a directory of its own"
                ],
            )
        return existing
    marker = Marker(database=database, host=socket.gethostname(), created=time.time())
    fd, tmp = tempfile.mkstemp(dir=home, prefix=MARKER_NAME, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(marker.to_json())
    os.replace(tmp, home / MARKER_NAME)
    return marker


def problems(home: Path, database: str, live_workdirs: Sequence[tuple[int, str]]) -> list[str]:
    """Why ``home`` is not the shared job directory of ``database`` (empty: it is).

    ``live_workdirs`` are (submission id, workdir) of the submissions the batch system runs now.
    """
    if not home.is_dir():
        return [f"{home} does not exist on this host (or is not a directory)"]
    found = []
    if not os.access(home, os.W_OK | os.X_OK):
        found.append(f"{home} is not writable by uid {os.getuid()}: jobs' workdirs are created there")
    try:
        marker = read_marker(home)
    except JobDirNotShared as exc:
        return found + exc.problems
    if marker is None:
        found.append(
            f"{home} has no {MARKER_NAME}: this host does not see the directory that "
            "`python -m prodops.jobdir init` prepared (a per-host volume or an empty mount?)"
        )
    elif marker.database != database:
        found.append(
            f"{home} is the job directory of database {marker.database} (marked on {marker.host}), "
            f"but this component uses {database}"
        )
    elsewhere = [(sid, workdir) for sid, workdir in live_workdirs if not Path(workdir).is_relative_to(home)]
    if elsewhere:
        found.append(
            f"{len(elsewhere)} running submission(s) have their workdir outside {home} ({_listed(elsewhere)}): "
            "the job directory must be mounted at the same path on every host"
        )
    missing = [
        (sid, workdir)
        for sid, workdir in live_workdirs
        if (sid, workdir) not in elsewhere and not Path(workdir).is_dir()
    ]
    if missing:
        found.append(f"{len(missing)} running submission(s) have no workdir here ({_listed(missing)})")
    return found


def _listed(submissions: Sequence[tuple[int, str]]) -> str:
    return ", ".join(f"submission {sid}: {workdir}" for sid, workdir in submissions[:3])


def database_facts(url: str) -> tuple[str, list[tuple[int, str]]]:
    """The database's identity and the workdirs of its running submissions."""
    from prodops.store.db import connect, one_row, q

    with connect(url) as conn:
        identity = str(one_row(conn.execute(q("database_identity")))["identity"])
        live = [
            (int(r["id"]), str(r["workdir"]))
            for r in conn.execute(q("live_workdirs"), {"limit": LIVE_WORKDIRS_CHECKED}).fetchall()
        ]
    return identity, live


def _read_database(home: Path, url: str) -> tuple[str, list[tuple[int, str]]]:
    try:
        return database_facts(url)
    except Exception as exc:  # the message must say which check could not run, and why
        raise JobDirNotShared(home, [f"the prodops database could not be read to check the directory ({exc})"]) from exc


def check(home: Path, url: str) -> None:
    """Raise :class:`JobDirNotShared` unless ``home`` is the shared job directory of the database at ``url``."""
    identity, live = _read_database(home, url)
    found = problems(home, identity, live)
    if found:
        raise JobDirNotShared(home, found)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prodops.jobdir", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the prodops database (default: PRODOPS_DB_URL, else connection prodops_db)")
    parser.add_argument("--home", type=Path, help="the job directory (default: PRODOPS_HOME)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="mark the job directory as this deployment's (idempotent)")
    sub.add_parser("check", help="exit 1 with the reasons unless this host sees the shared job directory")
    run = sub.add_parser("run", help="check, then exec the command after --")
    run.add_argument("component", nargs=argparse.REMAINDER, help="-- airflow celery worker ...")
    args = parser.parse_args(argv)
    home = (args.home or config.prodops_home()).absolute()
    if args.command == "run":
        command = args.component[1:] if args.component[:1] == ["--"] else args.component
        if not command:
            parser.error("run needs the component's command after --, e.g. run -- airflow triggerer")
    from prodops.store.db import component_url

    url = args.url or component_url()
    try:
        if args.command == "init":
            identity, _ = _read_database(home, url)
            try:
                marker = write_marker(home, identity)
            except OSError as exc:
                raise JobDirNotShared(home, [f"the marker could not be written ({exc})"]) from exc
            print(f"prodops: {home} is the job directory of database {marker.database}", file=sys.stderr)
            return 0
        check(home, url)
    except JobDirNotShared as exc:
        print(f"prodops: error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(
        f"prodops: job directory {home} is shared (marker and running submissions' workdirs seen)",
        file=sys.stderr,
        flush=True,
    )
    if args.command == "run":
        os.execvp(command[0], command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
