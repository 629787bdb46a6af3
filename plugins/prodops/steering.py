"""Site steering: a workflow's submissions avoid a site that keeps failing it, for a while.

Rules (the thresholds are the ``steering:`` section of include/triage/triage.yaml)
  * Per workflow and site, the attempts of that workflow's requests that ended at the site in the
    last ``window_h`` hours are counted, and among them the *site failures*: attempts whose triage
    verdict is ``infrastructure`` or ``service`` and came from the job itself (not an outage
    overlap, which is a central service's outage, not the site's). Code and unknown failures and
    successes count as attempts only.
  * A site is avoided when it has at least ``min_attempts`` attempts and site failures make at
    least ``failure_rate`` of them (at the threshold is avoided).
  * The avoidance lasts ``cooling_off_h`` hours or until a person lifts it; the next window of that
    workflow and site starts when it ended, so the attempts that decided it never decide again.
  * Every new submission and retry round of the workflow carries a Requirements clause keeping its
    jobs off the avoided sites (:mod:`prodops.batch.grid`, ``avoid_sites``). When the stage allows
    only listed sites (``submit.sites``) and all of them are avoided, it is not steered: a job that
    can match nowhere would sit idle without a word, so the submission is logged and left free.
  * A site name that could not reach a submit description as data (control characters, HTCondor
    macro syntax) is not steered around; the rest are.

:func:`decide` and :func:`steer_placement` are plain functions (tested without a database);
:func:`steer_spec` reads the counts, records new avoidances and applies the open ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


from prodops import config
from prodops.batch import quoting
from prodops.batch.base import SubmissionSpec
from prodops.batch.grid import JobPlacement
from prodops.exceptions import ProdopsError
from prodops.sections import checked, fraction, number
from prodops.store.db import Conn, connect, q

log = logging.getLogger(__name__)


class SteeringNotFound(ProdopsError):
    """No avoidance with that id."""


@dataclass(frozen=True)
class SteeringSettings:
    """The ``steering:`` section of include/triage/triage.yaml (see the module's rules)."""

    enabled: bool = True
    window_h: float = number(2.0, above=0)
    min_attempts: int = number(10, above=0)
    failure_rate: float = fraction(0.5, of="the attempts")
    cooling_off_h: float = number(6.0, above=0)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], source: str = "steering") -> SteeringSettings:
        """Checked settings; ValueError naming the key, the bad value and what it must be."""
        return checked(cls, raw, source, what="a steering setting",
                       example="{window_h: 2, min_attempts: 10, failure_rate: 0.5, cooling_off_h: 6}")


@dataclass(frozen=True)
class SiteCounts:
    """A site's attempts of one workflow in the window, and its site failures among them."""

    site: str
    attempts: int
    failures: int

    @property
    def rate(self) -> float:
        return self.failures / self.attempts if self.attempts else 0.0


def decide(counts: Iterable[SiteCounts], settings: SteeringSettings) -> list[SiteCounts]:
    """The sites to avoid: enough attempts, and a failure rate at or over the threshold."""
    if not settings.enabled:
        return []
    return [c for c in counts if c.attempts >= settings.min_attempts and c.rate >= settings.failure_rate]


@dataclass(frozen=True)
class Steering:
    """What steering did to one placement: the sites it avoids, and those it could not."""

    placement: JobPlacement
    avoided: tuple[str, ...] = ()
    not_steered: str = ""
    """Why some or all avoided sites are not in the clause (empty: all are)."""


def steer_placement(placement: JobPlacement, sites: Collection[str]) -> Steering:
    """``placement`` kept off ``sites`` (replacing any earlier steering: a retry starts from the
    first submission's spec), unless that leaves it no site to run at."""
    unsafe = sorted(s for s in sites if not isinstance(s, str) or not s or quoting.text_problem(s))
    wanted = sorted(set(sites) - set(unsafe))
    notes = (
        [f"site names {unsafe!r} cannot be written into a submit description as data; not avoided"] if unsafe else []
    )
    if placement.sites:
        allowed = {s.lower() for s in placement.sites}
        wanted = [s for s in wanted if s.lower() in allowed]  # the others cannot match anyway
        if wanted and {s.lower() for s in wanted} >= allowed:
            notes.append(
                f"every site the stage allows ({', '.join(placement.sites)}) is avoided; not steered,"
                " so its jobs can still match"
            )
            wanted = []
    steered = placement.model_copy(update={"avoid_sites": tuple(wanted)})
    return Steering(placement=steered, avoided=tuple(wanted), not_steered="; ".join(notes))


# ---- the database side ------------------------------------------------------------------------------


def _settings(settings: SteeringSettings | None) -> SteeringSettings:
    if settings is not None:
        return settings
    from prodops.triage.settings import load_settings  # the settings module imports this one

    return load_settings().steering


def decide_workflow(
    conn: Conn, workflow: str, *, now: datetime | None = None, settings: SteeringSettings | None = None
) -> list[dict[str, Any]]:
    """Record the workflow's new avoidances (at most one open per site) and return every open one.
    The caller commits."""
    settings = _settings(settings)
    now = now or datetime.now(timezone.utc)
    if settings.enabled:
        conn.execute(q("steering_lock_workflow"), {"workflow": workflow})
        window_start = now - timedelta(hours=settings.window_h)
        rows = conn.execute(
            q("steering_site_counts"), {"workflow": workflow, "window_start": window_start, "now": now}
        ).fetchall()
        counts = [SiteCounts(r["site"], int(r["attempts"]), int(r["failures"])) for r in rows]
        for site in decide(counts, settings):
            row = conn.execute(
                q("steering_record"),
                {
                    "workflow": workflow,
                    "site": site.site,
                    "now": now,
                    "until": now + timedelta(hours=settings.cooling_off_h),
                    "window_start": window_start,
                    "attempts": site.attempts,
                    "failures": site.failures,
                    "failure_rate": site.rate,
                    "threshold": settings.failure_rate,
                    "min_attempts": settings.min_attempts,
                },
            ).fetchone()
            if row is not None:
                log.warning(
                    "Workflow %s avoids site %r until %s: %d of %d attempts failed with infrastructure or"
                    " service verdicts since %s",
                    workflow,
                    site.site,
                    row["until"],
                    site.failures,
                    site.attempts,
                    window_start,
                )
    return conn.execute(q("steering_open_of_workflow"), {"workflow": workflow, "now": now}).fetchall()


def steer_spec(
    conn: Conn,
    spec: SubmissionSpec,
    *,
    now: datetime | None = None,
    settings: SteeringSettings | None = None,
) -> SubmissionSpec:
    """``spec`` with its workflow's open avoidances in its placement (decided now). The caller commits."""
    row = conn.execute("SELECT workflow FROM requests WHERE id = %(id)s", {"id": spec.request_id}).fetchone()
    if row is None:
        return spec
    open_rows = decide_workflow(conn, row["workflow"], now=now, settings=settings)
    steering = steer_placement(spec.placement or JobPlacement(), [r["site"] for r in open_rows])
    if steering.not_steered:
        log.warning("Submission %s: %s", spec.key, steering.not_steered)
    if steering.avoided:
        log.info("Submission %s avoids sites %s (site steering)", spec.key, ", ".join(steering.avoided))
    if not steering.avoided and not (spec.placement and spec.placement.avoid_sites):
        return spec
    return dataclasses.replace(spec, placement=steering.placement)


def lift(
    conn: Conn, steering_id: int, *, lifted_by: str, note: str = "", now: datetime | None = None
) -> dict[str, Any]:
    """A person ends an avoidance now; lifting an ended one returns it unchanged. The caller commits."""
    if not lifted_by or not lifted_by.strip():
        raise ValueError("lifted_by: say who lifts the avoidance (a user name)")
    if len(note) > 2000:
        raise ValueError(f"note: {len(note)} characters; keep it to 2000")
    now = now or datetime.now(timezone.utc)
    row = conn.execute(
        q("steering_lift"), {"id": steering_id, "lifted_by": lifted_by.strip(), "note": note, "now": now}
    ).fetchone()
    if row is None:
        row = conn.execute(q("steering_get"), {"id": steering_id}).fetchone()
        if row is None:
            raise SteeringNotFound(f"no site avoidance {steering_id}; list them with `python -m prodops.steering list`")
    return row


def open_and_recent(conn: Conn, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every avoidance open now, then those that ended in the last day (the board's site section)."""
    return conn.execute(q("steering_open"), {"now": now or datetime.now(timezone.utc)}).fetchall()


def main(argv: list[str] | None = None) -> int:
    """``python -m prodops.steering list`` | ``lift ID --by NAME [--note TEXT]``."""
    parser = argparse.ArgumentParser(description="Sites avoided by site steering: list them, or lift one.")
    parser.add_argument("--url", default=config.db_url(), help="libpq URL of the prodops database")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="avoidances open now and those that ended in the last day")
    lifting = commands.add_parser("lift", help="end an avoidance now (a person's decision, recorded)")
    lifting.add_argument("id", type=int, help="the avoidance's id (from list)")
    lifting.add_argument("--by", required=True, help="who lifts it (your user name)")
    lifting.add_argument("--note", default="", help="why, for the record")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no database: pass --url postgresql://... or set PRODOPS_DB_URL")
    with connect(args.url) as conn:
        if args.command == "list":
            out: Any = open_and_recent(conn)
        else:
            try:
                out = lift(conn, args.id, lifted_by=args.by, note=args.note)
            except (SteeringNotFound, ValueError) as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
            conn.commit()
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
