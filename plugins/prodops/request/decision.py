"""Recording an approver's decision on a request (no Airflow here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prodops.constants import RequestState
from prodops.store import records
from prodops.store.db import connect


def record_decision(
    db_url: str,
    request_id: int,
    *,
    state: RequestState,
    priority: int | None = None,
    decided_by: str | None = None,
    note: str | None = None,
    decided_at: datetime | None = None,
) -> None:
    """Store the approver's answer (or the expiry) on the request; idempotent."""
    with connect(db_url) as conn:
        current = records.get_request(conn, request_id)
        if current is None:
            raise LookupError(f"request {request_id} is not in the prodops database; run validate_request first")
        records.record_decision(
            conn, request_id, state=state.value,
            priority=current["requested_priority"] if priority is None else priority,
            decided_by=decided_by, note=note, decided_at=decided_at,
        )
        conn.commit()


def approver_name(user: Any) -> str | None:
    """HITL responders arrive as {"id", "name"} dicts or plain strings."""
    if isinstance(user, dict):
        return user.get("name") or user.get("id")
    return None if user is None else str(user)
