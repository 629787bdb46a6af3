"""Verdict rows in PostgreSQL (statements by name from include/sql/queries/triage.sql).

Callers own the transaction, as in :mod:`prodops.store.records`. Verdicts are written in
one COPY and one merge statement per batch, never one round trip per job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


from prodops.store.db import Conn, q
from prodops.triage.policy import Action, Decision
from prodops.triage.verdict import JobFacts, Verdict

ACTION_STATES = ("done", "skipped", "failed")


def failed_attempts(conn: Conn, request_id: int, stage: str,
                    submission_id: int | None = None, *, only_new: bool = False) -> list[dict[str, Any]]:
    """Failed, killed, held or removed attempts (``only_new``: those without a verdict yet)."""
    return conn.execute(q("failed_attempts_of_stage"), {"request_id": request_id, "stage": stage,
                                                        "submission_id": submission_id, "only_new": only_new}).fetchall()


def retries_of_stage(conn: Conn, request_id: int, stage: str) -> list[dict[str, Any]]:
    return conn.execute(q("retries_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
_dumps = _ENCODER.encode  # one encoder for 60,000 values: json.dumps with options builds one per call


def write_verdicts(conn: Conn, request_id: int, stage: str,
                   rows: Iterable[tuple[JobFacts, Verdict, Decision]]) -> int:
    """Upsert a batch of verdicts (idempotent: an unchanged verdict is not rewritten)."""
    cur = conn.cursor()
    conn.execute(q("lock_stage_for_triage"), {"request_id": request_id, "stage": stage})
    fresh = conn.execute(q("stage_has_verdicts"), {"request_id": request_id, "stage": stage}).fetchone() is None
    if not fresh:
        cur.execute(q("create_verdict_stage"))
    count = 0
    # first triage of the stage: straight into the table; later ones merge through a staging table
    with cur.copy(q("copy_verdicts" if fresh else "copy_verdict_stage")) as copy:
        for facts, v, d in rows:
            evidence, outages, params = _dumps(v.evidence), _dumps(v.outages), _dumps(d.params)
            record = (v.category.value, v.service, v.rule, v.source, v.explain, v.retryable, round(v.confidence, 3),
                      v.resource, v.possibly_service, evidence, outages, d.action.value, d.reason,
                      None if d.budget is None else d.budget.value, params, v.signature, _dumps(v.decision))
            digest = hashlib.md5("\x1f".join(map(str, record)).encode(), usedforsecurity=False).hexdigest()
            copy.write_row((facts.submission_id, facts.proc_id, request_id, stage, facts.attempt,
                            facts.job_index if facts.job_index is not None else facts.proc_id, facts.cluster_id,
                            *record, digest))
            count += 1
    if not fresh:
        if count:
            cur.execute(q("merge_verdict_stage"))
        cur.execute("TRUNCATE triage_verdicts_stage")
    return count


def verdicts_of_stage(conn: Conn, request_id: int, stage: str) -> list[dict[str, Any]]:
    return conn.execute(q("verdicts_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()


def planned_actions(conn: Conn, request_id: int, stage: str,
                    actions: Sequence[Action] = (Action.RETRY, Action.RETRY_MORE_RESOURCES)) -> list[dict[str, Any]]:
    """Planned actions of a stage's attempts (default: the retries the retry step must make)."""
    return conn.execute(q("planned_actions"), {"request_id": request_id, "stage": stage,
                                               "actions": [a.value for a in actions]}).fetchall()


def record_action(conn: Conn, submission_id: int, proc_ids: Sequence[int], *, state: str,
                  note: str = "", retry_submission_id: int | None = None) -> int:
    """Record what was done about attempts' planned actions (done / skipped / failed); returns rows changed."""
    if state not in ACTION_STATES:
        raise ValueError(f"action state {state!r} is not one of {', '.join(ACTION_STATES)}")
    rows = conn.execute(q("record_action"), {
        "submission_id": submission_id, "proc_ids": list(proc_ids), "state": state, "note": note,
        "retry_submission_id": retry_submission_id,
    }).fetchall()
    return len(rows)


MAX_GROUP_OUTAGES = 3


def groups(conn: Conn, request_id: int, stage: str | None = None) -> list[dict[str, Any]]:
    """Failed attempts grouped by verdict and failure signature, each with sample attempts, an
    evidence line, its commonest site and exit code, and the outages that overlapped them."""
    params = {"request_id": request_id, "stage": stage}
    found = conn.execute(q("triage_groups"), params).fetchall()
    outages: dict[tuple, list[dict[str, Any]]] = {}
    for o in conn.execute(q("triage_group_outages"), params):
        listed = outages.setdefault((o["category"], o["rule"], o["service"], o["signature"]), [])
        if len(listed) < MAX_GROUP_OUTAGES:
            listed.append({"service": o["outage_service"], "kind": o["kind"], "state": o["state"],
                           "start": o["start"], "end": o["end"], "detail": o["detail"]})
    for g in found:
        g["outages"] = outages.get((g["category"], g["rule"], g["service"], g["signature"]), [])
    return found


def get_verdict(conn: Conn, submission_id: int, proc_id: int) -> Mapping[str, Any] | None:
    return conn.execute(q("get_verdict"), {"submission_id": submission_id, "proc_id": proc_id}).fetchone()
