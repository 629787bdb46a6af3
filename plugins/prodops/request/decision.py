"""Recording an approver's decision on a request (no Airflow here)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prodops.constants import RequestState
from prodops.store import records
from prodops.store.db import connect, q

log = logging.getLogger(__name__)

APPROVE, REJECT = "Approve", "Reject"
"""The gate's two options (Airflow's ApprovalOperator.APPROVE and REJECT; a unit test compares them)."""


def record_decision(
    db_url: str,
    request_id: int,
    *,
    state: RequestState,
    priority: int | None = None,
    decided_by: str | None = None,
    note: str | None = None,
    decided_at: datetime | None = None,
    settles_carried_over: bool = False,
) -> None:
    """Store the approver's answer (or the expiry) on the request; idempotent. ``settles_carried_over``:
    the gate completes with the answer :func:`carry_over` put there, which stops waiting for it."""
    with connect(db_url) as conn:
        current = records.get_request(conn, request_id)
        if current is None:
            raise LookupError(f"request {request_id} is not in the prodops database; run validate_request first")
        records.record_decision(
            conn,
            request_id,
            state=state.value,
            priority=current["requested_priority"] if priority is None else priority,
            decided_by=decided_by,
            note=note,
            decided_at=decided_at,
        )
        if settles_carried_over:
            conn.execute(q("settle_carried_over_answer"), {"request_id": request_id})
        conn.commit()


def approver_name(user: Any) -> str | None:
    """HITL responders arrive as {"id", "name"} dicts or plain strings."""
    if isinstance(user, dict):
        return user.get("name") or user.get("id")
    return None if user is None else str(user)


@dataclass(frozen=True)
class Decision:
    """A decision as the request records it: what the gate completes with."""

    state: RequestState
    priority: int | None
    decided_by: str | None
    note: str | None
    decided_at: datetime | None

    @property
    def option(self) -> str:
        return APPROVE if self.state is RequestState.APPROVED else REJECT


def decision_of_answer(
    chosen_options: Sequence[str] | None,
    params_input: Mapping[str, Any] | None,
    responded_by: Any,
    responded_at: datetime | None,
) -> Decision | None:
    """The decision an answer recorded by Airflow's HITL detail gives; None when it holds none
    (no response yet, or not exactly one of Approve and Reject)."""
    chosen = list(chosen_options or [])
    if responded_at is None or chosen not in ([APPROVE], [REJECT]):
        return None
    params = params_input or {}
    priority = params.get("approved_priority")
    return Decision(
        state=RequestState.APPROVED if chosen == [APPROVE] else RequestState.REJECTED,
        priority=priority if isinstance(priority, int) and not isinstance(priority, bool) else None,
        decided_by=approver_name(responded_by),
        note=params.get("note") if isinstance(params.get("note"), str) else None,
        decided_at=responded_at,
    )


def carry_over(db_url: str, dag_id: str, run_id: str, decision: Decision) -> int | None:
    """Put the decision of an answer Airflow recorded, for a try of the gate it then failed, on the
    run's request, flagged for the gate's next try; only while the request waits for a decision.
    Returns the request's id, else None (no request, or it was decided or ended already)."""
    with connect(db_url) as conn:
        row = conn.execute(
            q("carry_over_answer"),
            {
                "dag_id": dag_id,
                "run_id": run_id,
                "state": decision.state.value,
                "priority": decision.priority,
                "decided_by": decision.decided_by,
                "decision_note": decision.note,
                "decided_at": decision.decided_at,
            },
        ).fetchone()
        conn.commit()
    if row is None:
        return None
    log.warning(
        "Request %s %s by %s: answer carried over from a try of the gate Airflow failed",
        row["id"],
        decision.state.value,
        decision.decided_by,
    )
    return int(row["id"])


def carried_over(request: Mapping[str, Any]) -> Decision | None:
    """The decision carried over to the gate's next try (:func:`carry_over`), else None."""
    if not request.get("answer_awaits_gate") or request["state"] not in (RequestState.APPROVED, RequestState.REJECTED):
        return None
    return Decision(
        state=RequestState(request["state"]),
        priority=request["priority"],
        decided_by=request["decided_by"],
        note=request["decision_note"],
        decided_at=request["decided_at"],
    )
