"""The approval gate: Airflow's human-in-the-loop ApprovalOperator, recording the decision."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context, Param

from prodops import config
from prodops.constants import RequestState
from prodops.request.decision import approver_name, record_decision


class RequestApprovalOperator(ApprovalOperator):
    """Asks an approver to approve or reject a request, with a final priority and a note.

    Approve and reject are stored on the request; no answer within ``response_timeout``
    marks it ``expired``. Reject and expiry skip everything downstream, so the run ends
    cleanly with nothing submitted.
    """

    template_fields = (*ApprovalOperator.template_fields, "request_id")

    def __init__(
        self,
        *,
        request_id: int | str,
        conn_id: str = config.DB_CONN_ID,
        response_timeout: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault(
            "params",
            {
                "priority": Param(50, type="integer", minimum=0, maximum=100, title="Priority",
                                  description="Final priority, 0 (lowest) to 100 (highest)."),
                "note": Param("", type="string", maxLength=2000, title="Note to the requester"),
            },
        )
        super().__init__(
            response_timeout=response_timeout or timedelta(hours=config.approval_timeout_hours()),
            ignore_downstream_trigger_rules=True,
            **kwargs,
        )
        self.request_id = request_id
        self.conn_id = conn_id

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from prodops.store.db import url_from_connection

        db_url = url_from_connection(self.conn_id)
        if event.get("error_type") == "timeout":
            self.log.warning("No decision within %s: request %s expired", self.response_timeout, self.request_id)
            record_decision(db_url, int(self.request_id), state=RequestState.EXPIRED)
            self.skip(ti=context["ti"], tasks=[t for t in context["task"].get_flat_relatives(upstream=False)])
            return {"chosen_options": [], "expired": True}
        result = super().execute_complete(context, event)
        approved = result["chosen_options"] == [self.APPROVE]
        params = result.get("params_input") or {}
        record_decision(
            db_url,
            int(self.request_id),
            state=RequestState.APPROVED if approved else RequestState.REJECTED,
            priority=params.get("priority"),
            decided_by=approver_name(result.get("responded_by_user")),
            note=params.get("note") or None,
            decided_at=result.get("responded_at"),
        )
        self.log.info("Request %s %s", self.request_id, "approved" if approved else "rejected")
        return result
