"""The approval gate: Airflow's human-in-the-loop ApprovalOperator, recording the decision."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseNotifier, Context, Param
from airflow.sdk.definitions.param import ParamsDict  # airflow.sdk's stub does not list it

from prodops import config
from prodops.constants import RequestState
from prodops.request.decision import Decision, approver_name, record_decision
from prodops.request.form import ONE_LINE


TIMEOUT_VARIABLE = "prodops_approval_timeout_hours"
RACE_RETRIES = 2
RACE_RETRY_DELAY = timedelta(seconds=10)


class RequestApprovalOperator(ApprovalOperator):
    """Asks an approver to approve or reject a request, with a final priority and a note.

    When the gate opens it reads the request back: the priority field starts at the priority
    the requester asked for (an approver who only clicks Approve keeps it), and the body
    shows the form with the totals, the workflow's services now, maintenance and the
    campaign's other requests (:func:`prodops.request.approval_text.approval_body`).
    Only the experiment's approvers (include/approvers.yaml, :mod:`prodops.request.approvers`)
    are the task's assigned users: Airflow answers anyone else with 403.
    Approve and reject are stored on the request; no answer within the response timeout
    marks it ``expired``. The experiment's approvers are told when the gate opens, the
    request's contact when it is decided (:mod:`prodops.notices`). The timeout is read when the gate opens, from the Airflow Variable
    ``prodops_approval_timeout_hours`` when set, else from ``response_timeout``. Reject and expiry skip everything downstream, so the run ends
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
        params = ParamsDict(kwargs.pop("params", None) or {})
        for name, param in self.decision_params().items():
            if name not in params:
                params[name] = param
        kwargs.setdefault("retries", RACE_RETRIES)
        kwargs.setdefault("retry_delay", RACE_RETRY_DELAY)
        super().__init__(
            params=params,
            response_timeout=response_timeout or timedelta(hours=config.approval_timeout_hours()),
            ignore_downstream_trigger_rules=True,
            **kwargs,
        )
        self.request_id = request_id
        self.conn_id = conn_id

    def execute(self, context: Context) -> Any:
        from airflow.sdk import Variable

        answer = self.answer_carried_over()
        if answer is not None:
            self.log.warning(
                "Request %s was %s by %s before try %s (Airflow failed the try that was answered, in the"
                " answer race); completing with that answer instead of asking again",
                self.request_id,
                "approved" if answer["chosen_options"] == [self.APPROVE] else "rejected",
                approver_name(answer["responded_by_user"]),
                context["ti"].try_number,
            )
            return self.execute_complete(context, answer)
        if self.approved_standing():
            return {"chosen_options": [self.APPROVE], "standing_approval": True}

        hours = Variable.get(TIMEOUT_VARIABLE, default=None)
        if hours is not None:
            try:
                self.response_timeout = timedelta(hours=float(hours))
            except ValueError:
                raise ValueError(
                    f"Airflow Variable {TIMEOUT_VARIABLE}={hours!r} is not a number of hours; set it to e.g. 72"
                ) from None
        self.open_with_request_facts()
        self.notifiers = [*self.notifiers, _ApprovalWanted(self.conn_id, int(self.request_id))]
        self.log.info("Waiting up to %s for a decision on request %s", self.response_timeout, self.request_id)
        return super().execute(context)

    def answer_carried_over(self) -> dict[str, Any] | None:
        """The answer an approver gave to a try Airflow then failed, as ``execute_complete``'s event.

        Airflow 3.3.2 can fail a try answered the moment the gate opened (the scheduler sees the
        pause's ``success`` while the instance is ``queued``, or already ``running`` the answer: that
        try may even record it before it is stopped). The gate's retries keep the run going, but
        a task cannot read the recorded answer (3.3.2's task supervisor refuses the HITL read,
        400) and asking again would erase it; so prodops' listener, in the scheduler, carries it
        over to the request (:func:`prodops.request.decision.carry_over`), and it is read here.
        """
        from prodops.request.decision import carried_over
        from prodops.store import records
        from prodops.store.db import connect, url_from_connection

        with connect(url_from_connection(self.conn_id)) as conn:
            decision = carried_over(records.require_request(conn, int(self.request_id)))
        return None if decision is None else answer_event(decision)

    def approved_standing(self) -> bool:
        """Approve a keepup follower's request by its campaign's standing approval, without asking
        (:func:`prodops.keepup.decisions.standing_approval`; a retried gate finds it recorded);
        False for any other request."""
        from prodops.keepup.decisions import standing_approval
        from prodops.store import records
        from prodops.store.db import connect, url_from_connection

        db_url = url_from_connection(self.conn_id)
        with connect(db_url) as conn:
            request = records.require_request(conn, int(self.request_id))
            standing = standing_approval(conn, request)
        if standing is None:
            return False
        if request["state"] != RequestState.PENDING_APPROVAL:
            return True
        record_decision(db_url, int(self.request_id), state=RequestState.APPROVED, decided_by=standing.approved_by,
                        note=standing.note, decided_at=datetime.now(timezone.utc))
        self.log.info("Request %s approved by the %s", self.request_id, standing.note)
        return True

    def open_with_request_facts(self, now: datetime | None = None) -> None:
        """Default the approved priority to the requested one, write the full body, and assign the
        experiment's approvers (include/approvers.yaml): Airflow refuses anyone else's answer."""
        from prodops.request import approvers
        from prodops.request.approval_text import approval_body, approval_facts
        from prodops.request.form import ProductionRequest
        from prodops.store import records
        from prodops.store.db import connect, url_from_connection
        from prodops.workflows import load_templates

        with connect(url_from_connection(self.conn_id)) as conn:
            row = records.get_request(conn, int(self.request_id))
            if row is None:
                raise LookupError(
                    f"request {self.request_id} is not in the prodops database; run validate_request first"
                )
            request = ProductionRequest(**row["form"])
            facts = approval_facts(
                conn,
                int(self.request_id),
                request,
                load_templates()[request.workflow],
                now or datetime.now(timezone.utc),
            )
        self.params["approved_priority"] = request.priority
        self.body = approval_body(request, facts)
        self.assigned_users = approvers.assigned_users(request.experiment)  # type: ignore[assignment]

    @staticmethod
    def decision_params() -> dict[str, Param]:
        """What the approver fills in besides the choice (task-sourced, so the HITL form shows them)."""
        return {
            # the default is a placeholder: Airflow validates params before execute, which sets the requested one
            "approved_priority": Param(
                50,
                type="integer",
                minimum=0,
                maximum=100,
                title="Approved priority",
                source="task",
                description="Final priority, 0 (lowest) to 100 (highest); starts at the requested one.",
            ),
            "note": Param(
                None,
                type=["null", "string"],
                maxLength=2000,
                pattern=ONE_LINE,
                title="Note to the requester",
                description="One line of text (optional).",
                source="task",
            ),
        }

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Record the decision first: the parent skips downstream by raising, so nothing runs after it."""
        from prodops.store.db import url_from_connection

        db_url = url_from_connection(self.conn_id)
        if event.get("error_type") == "timeout":
            self.log.warning("No decision within %s: request %s expired", self.response_timeout, self.request_id)
            record_decision(db_url, int(self.request_id), state=RequestState.EXPIRED)
            _tell_contact(db_url, int(self.request_id), "expired", context)
            self.skip(ti=context["ti"], tasks=list(context["task"].get_flat_relatives(upstream=False)))
            return {"chosen_options": [], "expired": True}
        chosen = event["chosen_options"]
        params = event.get("params_input") or {}
        self.validate_chosen_options(chosen)
        self.validate_params_input(params)
        approved = chosen == [self.APPROVE]
        record_decision(
            db_url,
            int(self.request_id),
            state=RequestState.APPROVED if approved else RequestState.REJECTED,
            priority=params.get("approved_priority"),
            decided_by=approver_name(event.get("responded_by_user")),
            note=params.get("note") or None,
            decided_at=event.get("responded_at"),
            settles_carried_over=bool(event.get("carried_over")),
        )
        self.log.info(
            "Request %s %s by %s",
            self.request_id,
            "approved" if approved else "rejected",
            approver_name(event.get("responded_by_user")),
        )
        _tell_contact(
            db_url,
            int(self.request_id),
            "approved" if approved else "rejected",
            context,
            by=approver_name(event.get("responded_by_user")),
            note=params.get("note") or None,
        )
        return super().execute_complete(context, event)


def answer_event(decision: Decision) -> dict[str, Any]:
    """The event Airflow resumes the gate with, for a decision carried over to the request
    (marked, so recording it settles the carry-over)."""
    user = decision.decided_by
    return {
        "chosen_options": [decision.option],
        "params_input": {"approved_priority": decision.priority, "note": decision.note},
        "responded_at": decision.decided_at,
        "responded_by_user": None if user is None else {"id": user, "name": user},
        "carried_over": True,
    }


def _tell_contact(db_url: str, request_id: int, state: str, context: Context, **decision: Any) -> None:
    """Once per decision: a try Airflow failed in the answer race may have told them already."""
    from prodops import notices
    from prodops.store.db import connect, q

    with connect(db_url) as conn:
        first = conn.execute(q("claim_decision_notice"), {"request_id": request_id}).fetchone() is not None
        conn.commit()
    if first:
        notices.send(notices.decided(notices.for_request(db_url, request_id), state, **decision), context)


class _ApprovalWanted(BaseNotifier):
    """Tells the experiment's approvers (include/notices.yaml) that the gate is open; HITL calls
    it once the request is answerable. Renders no template: the request's text is data."""

    template_fields = ()

    def __init__(self, conn_id: str, request_id: int) -> None:
        super().__init__()
        self.conn_id, self.request_id = conn_id, request_id

    def notify(self, context: Context) -> None:
        from prodops import notices
        from prodops.store.db import url_from_connection

        settings = notices.load_settings()
        request = notices.for_request(url_from_connection(self.conn_id), self.request_id)
        notices.send(notices.approval_wanted(request, settings), context, settings)
