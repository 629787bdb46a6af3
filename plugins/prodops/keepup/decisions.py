"""Standing approvals: an approver's answer for a campaign's definition, and the request gate's
question "was this run made by the follower under one?"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from prodops.keepup.campaigns import Followed
from prodops.store.db import Conn, q


@dataclass(frozen=True)
class CampaignDecision:
    decision: str
    """``approved`` or ``rejected``."""
    decided_by: str
    decided_at: datetime
    note: str | None = None

    @property
    def approved(self) -> bool:
        return self.decision == "approved"


def decision_of(conn: Conn, followed: Followed) -> CampaignDecision | None:
    row = conn.execute(q("keepup_decision"), {"campaign": followed.name,
                                              "definition_hash": followed.definition_hash}).fetchone()
    if row is None:
        return None
    return CampaignDecision(row["decision"], row["decided_by"], row["decided_at"], row["note"])


def record_decision(conn: Conn, followed: Followed, decision: CampaignDecision) -> CampaignDecision:
    """Store the answer for this definition; the first answer stands. Returns the stored one."""
    conn.execute(q("keepup_record_decision"), {
        "campaign": followed.name, "definition_hash": followed.definition_hash,
        "definition": Jsonb(followed.campaign.model_dump()), "decision": decision.decision,
        "decided_by": decision.decided_by, "decided_at": decision.decided_at, "note": decision.note,
    })
    stored = decision_of(conn, followed)
    assert stored is not None, "the decision was just stored"
    return stored


@dataclass(frozen=True)
class StandingApproval:
    """The standing approval a request's run was made under."""

    campaign: str
    batch: int
    approved_by: str
    approved_at: datetime

    @property
    def note(self) -> str:
        return (f"standing approval of keepup campaign {self.campaign} (batch {self.batch}),"
                f" given by {self.approved_by} at {self.approved_at:%Y-%m-%d %H:%M %Z}")


def standing_approval(conn: Conn, request: Mapping[str, Any]) -> StandingApproval | None:
    """The standing approval of the keepup batch ``request`` was triggered for, or None.

    Only a run the follower recorded for an approved definition counts, and only with the form it
    recorded: a person who triggers a run of that id with other fields gets a person's approval.
    """
    row = conn.execute(q("keepup_standing_approval_of_run"),
                       {"dag_id": request["dag_id"], "run_id": request["run_id"]}).fetchone()
    if row is None or dict(request["form"]) != dict(row["conf"]):
        return None
    return StandingApproval(row["campaign"], row["batch"], row["decided_by"], row["decided_at"])
