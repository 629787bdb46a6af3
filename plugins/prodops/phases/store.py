"""Phase events in and out of ``job_phases`` (015_phases.sql).

Writes are idempotent and order-free: for one (submission, job, phase, state) the row kept is
the job's API report if there is one, else its stdout marker; within one source the one the job
reported last. So a repeated post, a late post, or a post that lands after the stdout harvest all
end in the same row (the rule is in the ``upsert_job_phase`` statement).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


from prodops.phases.markers import PhaseFields, PhaseSource, PhaseState
from prodops.store.db import Conn, q


@dataclass(frozen=True)
class PhaseRow:
    """One stored phase event of one attempt."""

    submission_id: int
    job_index: int
    phase: str
    state: PhaseState
    status_code: int | None
    cpu_s: float | None
    wall_s: float | None
    events: int | None
    source: PhaseSource
    reported_at: datetime | None
    received_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> PhaseRow:
        return cls(**{**row, "state": PhaseState(row["state"]), "source": PhaseSource(row["source"])})


def record_phases(conn: Conn, submission_id: int,
                  events: Iterable[tuple[int, PhaseFields]], source: PhaseSource) -> int:
    """Store each (job index, event) of the submission; returns how many rows were written (a
    repeat, or a stdout marker of a phase the API already has, writes nothing). The caller commits."""
    params = [
        {"submission_id": submission_id, "job_index": job_index, "phase": e.phase, "state": e.state.value,
         "status_code": e.status, "cpu_s": e.cpu, "wall_s": e.wall, "events": e.events,
         "source": source.value, "reported_at": e.time}
        for job_index, e in events
    ]
    if not params:
        return 0
    written = 0
    with conn.cursor() as cur:
        cur.executemany(q("upsert_job_phase"), params, returning=True)
        while True:
            written += len(cur.fetchall())
            if not cur.nextset():
                break
    return written


def phases_of(conn: Conn, jobs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], list[PhaseRow]]:
    """The phases of each (submission id, job index), in the order the job reported them."""
    found: dict[tuple[int, int], list[PhaseRow]] = {job: [] for job in jobs}
    if not jobs:
        return found
    rows = conn.execute(q("phases_of_jobs"), {"submission_ids": [int(s) for s, _ in jobs],
                                              "job_indexes": [int(j) for _, j in jobs]})
    for row in rows:
        found[(int(row["submission_id"]), int(row["job_index"]))].append(PhaseRow.from_row(row))
    return found


def unfinished(rows: Iterable[PhaseRow]) -> list[PhaseRow]:
    """The ``started`` rows of phases that have no ``finished`` row: where the job was when it stopped."""
    rows = list(rows)
    finished = {r.phase for r in rows if r.state is PhaseState.FINISHED}
    return [r for r in rows if r.state is PhaseState.STARTED and r.phase not in finished]


def attempt_phases(conn: Conn, submission_id: int, proc_id: int) -> list[dict[str, Any]]:
    """One attempt's phases for its page and JSON: plain values, ``open`` on a phase started and
    never finished (where the job was when it stopped)."""
    rows = conn.execute(q("attempt_phases"), {"submission_id": submission_id, "proc_id": proc_id}).fetchall()
    finished = {r["phase"] for r in rows if r["state"] == PhaseState.FINISHED.value}
    return [{**{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()},
             "open": r["state"] == PhaseState.STARTED.value and r["phase"] not in finished} for r in rows]
