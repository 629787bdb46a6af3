"""One follower run over every campaign: claim what is new, say what waits and why, and list the
runs to trigger (the batches' production requests, and the approvals still to ask for)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from prodops.exceptions import ProdopsError
from prodops.keepup.campaigns import Followed
from prodops.keepup.claims import REQUEST_DAG, Claimed, claim, claimed_among, unsubmitted
from prodops.keepup.decisions import decision_of
from prodops.keepup.listing import list_dataset
from prodops.keepup.plan import next_day
from prodops.request.approval_text import InputFiles, request_totals
from prodops.store.db import connect
from prodops.workflows import load_templates

log = logging.getLogger(__name__)

APPROVAL_DAG = "keepup_campaign_approval"


def approval_run_id(followed: Followed) -> str:
    """One approval run per definition: asking again for the same one finds the run already there."""
    return f"keepup_approval__{followed.name}__{followed.definition_hash[:12]}"


@dataclass
class FollowerRun:
    """What one follower run did (the DAG's XCom: plain lists)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    """TriggerDagRunOperator arguments of the production_request runs to trigger."""
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """... of the keepup_campaign_approval runs to trigger."""
    errors: list[str] = field(default_factory=list)

    def runs(self) -> list[dict[str, Any]]:
        """Every run to trigger, approvals first, as TriggerDagRunOperator arguments."""
        return ([{"trigger_dag_id": APPROVAL_DAG, **a} for a in self.approvals]
                + [{"trigger_dag_id": REQUEST_DAG, **r} for r in self.requests])


def jobs_of(followed: Followed) -> Callable[[int], int]:
    """The jobs a request of n files makes, every stage, as the approver's totals count them."""
    request = followed.request()
    template = load_templates()[followed.campaign.workflow]
    return lambda n: request_totals(request, template, InputFiles(files=n, bytes=0)).jobs


def follow(db_url: str, campaigns: Sequence[Followed], now: datetime) -> FollowerRun:
    """Follow each campaign; a campaign that fails is reported and the others go on."""
    done = FollowerRun()
    for followed in campaigns:
        try:
            _follow_one(db_url, followed, now, done)
        except (ProdopsError, psycopg.Error, OSError) as err:
            log.error("campaign %s: %s", followed.name, err)
            done.errors.append(f"campaign {followed.name}: {err}")
    with connect(db_url) as conn:
        batches = unsubmitted(conn, [c.name for c in campaigns])
    done.requests = [b.trigger() for b in batches]
    if batches:
        log.info("Production requests to trigger: %s", ", ".join(b.run_id for b in batches))
    return done


def _follow_one(db_url: str, followed: Followed, now: datetime, done: FollowerRun) -> None:
    name = followed.name
    with connect(db_url) as conn:
        decision = decision_of(conn, followed)
    if decision is None:
        log.warning("campaign %s waits for its standing approval: an approver answers run %s of %s"
                    " (Required Actions); nothing is claimed until then", name, approval_run_id(followed), APPROVAL_DAG)
        done.approvals.append({"trigger_run_id": approval_run_id(followed),
                               "conf": {"campaign": name, "definition_hash": followed.definition_hash}})
        return
    if not decision.approved:
        log.warning("campaign %s: rejected by %s at %s; nothing is claimed (change the campaign to ask again)",
                    name, decision.decided_by, decision.decided_at)
        return
    listing = list_dataset(followed.campaign.dataset)
    with connect(db_url) as conn:
        # the cheap read first: files claimed earlier are not read again (claim checks again under the lock)
        listed = [n for n in listing.names if n not in claimed_among(conn, name, listing.names)]
        result = claim(conn, followed, listed, listing.details, jobs_of(followed), now)
    _say(followed, len(listing.names), result, now)


def _say(followed: Followed, listed: int, result: Claimed, now: datetime) -> None:
    name, cap = followed.name, followed.campaign.max_jobs_per_day
    jobs = sum(b.jobs for b in result.batches)
    log.info("campaign %s: %d files in %s, %d new; claimed %d in %d batch(es) %s, %d jobs; %d of %d jobs"
             " per day used", name, listed, followed.campaign.dataset, result.new,
             sum(b.files for b in result.batches), len(result.batches),
             ", ".join(str(b.batch) for b in result.batches) or "-", jobs, result.used_before + jobs, cap)
    if result.waiting:
        log.warning("campaign %s: %d new files wait for the cap of %d jobs per day (%d used since 00:00 UTC);"
                    " they go in the next run with room, at the latest after %s", name, result.waiting, cap,
                    result.used_before + jobs, f"{next_day(now):%Y-%m-%d %H:%M} UTC")
