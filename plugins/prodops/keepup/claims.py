"""Claiming a campaign's new files: batches and their files recorded in one transaction, under
the campaign's lock, so two followers never claim one file and the cap counts every batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from prodops.datasets.model import DatasetFile, DatasetInvalid
from prodops.keepup.campaigns import Followed
from prodops.keepup.plan import Plan, day_start, new_files, plan_batches
from prodops.store.db import Conn, one_row, q

REQUEST_DAG = "production_request"


def run_id_of(campaign: str, batch: int) -> str:
    """The production_request run of a batch: fixed, so triggering it twice makes one run."""
    return f"keepup__{campaign}__{batch:06d}"


@dataclass(frozen=True)
class Batch:
    campaign: str
    batch: int
    dag_id: str
    run_id: str
    conf: dict[str, Any]
    files: int
    jobs: int

    def trigger(self) -> dict[str, Any]:
        """The TriggerDagRunOperator arguments of its run."""
        return {"trigger_run_id": self.run_id, "conf": self.conf}


@dataclass(frozen=True)
class Claimed:
    """What one claim did: the batches recorded, and why the rest waits."""

    batches: tuple[Batch, ...]
    new: int
    """Files listed and not claimed before this claim."""
    waiting: int
    """New files left for the cap."""
    used_before: int
    """Jobs of the campaign's batches claimed earlier the same UTC day."""


def claimed_among(conn: Conn, campaign: str, names: Sequence[str]) -> set[str]:
    rows = conn.execute(q("keepup_claimed_among"), {"campaign": campaign, "paths": list(names)})
    return {r["path"] for r in rows}


def claim(
    conn: Conn,
    followed: Followed,
    listed: Sequence[str],
    details: Callable[[Sequence[str]], list[DatasetFile]],
    jobs_of: Callable[[int], int],
    now: datetime,
) -> Claimed:
    """Claim the listed files not claimed yet, in batches within the day's cap, and commit.

    Everything is one transaction under the campaign's advisory lock: a follower that fails or
    is retried half-way claimed nothing, one that runs at the same time waits and then sees these
    claims. ``details`` reads the chosen files (sizes, events) only.
    """
    name, campaign = followed.name, followed.campaign
    try:
        conn.execute(q("keepup_lock_campaign"), {"campaign": name})
        fresh = new_files(listed, claimed_among(conn, name, listed))
        used = int(one_row(conn.execute(q("keepup_jobs_since"), {"campaign": name, "since": day_start(now)}))["jobs"])
        plan: Plan[str] = plan_batches(fresh, campaign.files_per_request, campaign.max_jobs_per_day - used, jobs_of)
        number = int(one_row(conn.execute(q("keepup_next_batch"), {"campaign": name}))["batch"])
        batches = []
        for names, jobs in zip(plan.batches, plan.jobs):
            batches.append(_record(conn, followed, number, _details(details, names), jobs, now))
            number += 1
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return Claimed(batches=tuple(batches), new=len(fresh), waiting=plan.waiting, used_before=used)


def _details(details: Callable[[Sequence[str]], list[DatasetFile]], names: Sequence[str]) -> list[DatasetFile]:
    files = details(names)
    if [f.path for f in files] != list(names):
        raise DatasetInvalid(f"the details of {len(names)} new files named other files; the dataset changed, try again")
    return files


def _record(conn: Conn, followed: Followed, number: int, files: list[DatasetFile], jobs: int, now: datetime) -> Batch:
    batch = Batch(campaign=followed.name, batch=number, dag_id=REQUEST_DAG, run_id=run_id_of(followed.name, number),
                  conf=followed.conf(number), files=len(files), jobs=jobs)
    conn.execute(q("keepup_insert_batch"), {
        "campaign": batch.campaign, "batch": number, "definition_hash": followed.definition_hash,
        "dag_id": batch.dag_id, "run_id": batch.run_id, "conf": Jsonb(batch.conf), "files": batch.files,
        "jobs": jobs, "claimed_at": now,
    })
    with conn.cursor() as cursor:
        cursor.executemany(q("keepup_insert_file"), [
            {"campaign": batch.campaign, "path": f.path, "batch": number, "events": f.events, "size_bytes": f.size_bytes}
            for f in files
        ])
    return batch


def unsubmitted(conn: Conn, campaigns: Sequence[str]) -> list[Batch]:
    """Batches of these campaigns whose request is not recorded yet: to trigger (again)."""
    rows = conn.execute(q("keepup_unsubmitted_batches"), {"campaigns": list(campaigns)}).fetchall()
    return [Batch(campaign=r["campaign"], batch=r["batch"], dag_id=r["dag_id"], run_id=r["run_id"], conf=r["conf"],
                  files=r["files"], jobs=r["jobs"]) for r in rows]
