"""The standing approval of a keepup campaign: asked once per definition, recorded with who and when."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context
from airflow.sdk.definitions.param import ParamsDict  # airflow.sdk's stub does not list it

from prodops import config
from prodops.operators.approval import RequestApprovalOperator
from prodops.request.decision import approver_name

if TYPE_CHECKING:
    from prodops.keepup.campaigns import Followed


class CampaignApprovalOperator(ApprovalOperator):
    """Asks the campaign's experiment's approvers (include/approvers.yaml) to approve a keepup
    campaign's definition once: its dataset, request fields, files per request and cap of jobs per
    day. Approved, the follower submits the campaign's new files without asking again, until the
    definition changes. The answer is stored (:mod:`prodops.keepup.decisions`); it waits for an
    answer as long as it takes (the follower never opens a second gate for the same definition).
    A definition that changed while the gate waited is not recorded: the follower asks anew.
    """

    template_fields = (*ApprovalOperator.template_fields, "campaign", "definition_hash")

    def __init__(self, *, campaign: str, definition_hash: str, conn_id: str = config.DB_CONN_ID, **kwargs: Any) -> None:
        params = ParamsDict(kwargs.pop("params", None) or {})
        params["note"] = RequestApprovalOperator.decision_params()["note"]
        kwargs.setdefault("subject", "Standing approval of a keepup campaign")
        super().__init__(params=params, response_timeout=None, ignore_downstream_trigger_rules=True, **kwargs)
        self.campaign = campaign
        self.definition_hash = definition_hash
        self.conn_id = conn_id

    def current(self) -> Followed | None:
        """The campaign as configured now, if its definition is still the one asked about."""
        from airflow.sdk import Variable

        from prodops.keepup import campaigns

        found = campaigns.find(campaigns.load(Variable.get(campaigns.VARIABLE, default=None))[0], self.campaign)
        if found is None or found.definition_hash != self.definition_hash:
            self.log.warning("Keepup campaign %s is no longer configured with definition %s; nothing to approve"
                             " (the follower asks again for the definition it finds)", self.campaign,
                             self.definition_hash[:12])
            return None
        return found

    def execute(self, context: Context) -> Any:
        from prodops.keepup.decisions import decision_of
        from prodops.keepup.text import campaign_body
        from prodops.request import approvers
        from prodops.store.db import connect, url_from_connection

        followed = self.current()
        if followed is None:
            self.skip(ti=context["ti"], tasks=list(context["task"].get_flat_relatives(upstream=False)))
            return {"chosen_options": []}
        with connect(url_from_connection(self.conn_id)) as conn:
            decided = decision_of(conn, followed)
        if decided is not None:  # a retried try after the answer was stored
            self.log.info("Keepup campaign %s was %s by %s at %s", self.campaign, decided.decision,
                          decided.decided_by, decided.decided_at)
            if not decided.approved:
                self.skip(ti=context["ti"], tasks=list(context["task"].get_flat_relatives(upstream=False)))
            return {"chosen_options": [self.APPROVE if decided.approved else self.REJECT]}
        self.subject = f"Standing approval of keepup campaign {followed.name} ({followed.campaign.experiment})"
        self.body = campaign_body(followed)
        self.assigned_users = approvers.assigned_users(followed.campaign.experiment)  # type: ignore[assignment]
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Store the answer first: on reject the parent skips downstream by raising."""
        from prodops.keepup.decisions import CampaignDecision, record_decision
        from prodops.store.db import connect, url_from_connection

        followed = self.current()
        chosen = event.get("chosen_options") or []
        if followed is not None and "error" not in event and chosen in ([self.APPROVE], [self.REJECT]):
            params = event.get("params_input") or {}
            answer = CampaignDecision(
                decision="approved" if chosen == [self.APPROVE] else "rejected",
                decided_by=approver_name(event.get("responded_by_user")) or "unknown",
                decided_at=event.get("responded_at") or datetime.now(timezone.utc),
                note=params.get("note") or None,
            )
            with connect(url_from_connection(self.conn_id)) as conn:
                stored = record_decision(conn, followed, answer)
                conn.commit()
            self.log.info("Keepup campaign %s %s by %s at %s", self.campaign, stored.decision, stored.decided_by,
                          stored.decided_at)
        return super().execute_complete(context, event)
