"""Notices: approvers, the request's contact and on-call are told what concerns them.

Sent through Airflow notifiers (``SmtpNotifier`` for email, ``AppriseNotifier`` for a chat
service), each configured by an Airflow connection named in include/notices.yaml; a missing
connection turns its channel off. A notice never fails the task that sends it: a channel that
cannot be reached is logged and reported, and the production goes on.

Every value in a notice comes from a request or a status payload, so it is text, never a
template: the notifiers here render nothing (no Jinja), and the email body is escaped HTML.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.exceptions import FileInvalid

log = logging.getLogger(__name__)

NOTICES_FILE = config.INCLUDE_DIR / "notices.yaml"
_ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class NoticesInvalid(FileInvalid):
    """include/notices.yaml is malformed; ``errors`` maps field -> message."""


@dataclass(frozen=True)
class NoticeSettings:
    email_conn_id: str | None = None
    chat_conn_id: str | None = None
    approvers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    on_call: tuple[str, ...] = ()

    def approvers_of(self, experiment: str) -> tuple[str, ...]:
        return self.approvers.get(experiment) or self.approvers.get("default") or ()


def _addresses(value: Any, where: str, errors: dict[str, str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[where] = "must be a list of email addresses, e.g. [oncall@example.org]"
        return ()
    bad = [v for v in value if not _ADDRESS.match(v)]
    if bad:
        errors[where] = f"{bad!r} are not email addresses (name@domain, no spaces)"
    return tuple(v for v in value if _ADDRESS.match(v))


def parse_settings(data: Mapping[str, Any], path: Path | str = NOTICES_FILE) -> NoticeSettings:
    errors: dict[str, str] = {}
    unknown = set(data) - {"email_conn_id", "chat_conn_id", "approvers", "on_call"}
    if unknown:
        errors["file"] = f"unknown key(s) {sorted(unknown)}; allowed: email_conn_id, chat_conn_id, approvers, on_call"
    conn_ids: dict[str, str | None] = {}
    for key in ("email_conn_id", "chat_conn_id"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not _CONN_ID.match(value)):
            errors[key] = f"{value!r} is not an Airflow connection id (letters, digits, _ . -)"
            value = None
        conn_ids[key] = value
    approvers: dict[str, tuple[str, ...]] = {}
    raw = data.get("approvers") or {}
    if not isinstance(raw, Mapping):
        errors["approvers"] = "must map an experiment (or `default`) to a list of email addresses"
        raw = {}
    for experiment, addresses in raw.items():
        approvers[str(experiment)] = _addresses(addresses, f"approvers.{experiment}", errors)
    on_call = _addresses(data.get("on_call") or [], "on_call", errors)
    if errors:
        raise NoticesInvalid(path, errors)
    return NoticeSettings(email_conn_id=conn_ids["email_conn_id"], chat_conn_id=conn_ids["chat_conn_id"],
                          approvers=approvers, on_call=on_call)


def load_settings(path: Path | str = NOTICES_FILE) -> NoticeSettings:
    path = Path(path)
    if not path.exists():
        return NoticeSettings()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise NoticesInvalid(path, {"file": f"cannot be read as YAML: {err}"}) from err
    if not isinstance(data, Mapping):
        raise NoticesInvalid(path, {"file": "must be a YAML mapping"})
    return parse_settings(data, path)


@dataclass(frozen=True)
class Notice:
    """One message: what happened (``kind``), to whom, a subject line and a plain-text body."""

    kind: str
    to: tuple[str, ...]
    subject: str
    text: str

    def html(self) -> str:
        return f"<pre style=\"font-family: monospace; white-space: pre-wrap\">{html.escape(self.text)}</pre>"


def _one_line(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split())


def request_url(request_id: int) -> str:
    """The request's page, when the deployment says where its api-server is (``[api] base_url``)."""
    try:
        from airflow.configuration import conf

        base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    except Exception:  # noqa: BLE001 - a notice goes without a link rather than not at all
        base = ""
    return f"{base}/prodops/requests/{int(request_id)}" if base else f"/prodops/requests/{int(request_id)}"


def _title(request: Mapping[str, Any]) -> str:
    return (f"request {int(request['id'])} ({_one_line(request['experiment'])}/{_one_line(request['campaign'])},"
            f" workflow {_one_line(request['workflow'])})")


def _facts(request: Mapping[str, Any]) -> list[str]:
    jobs = request.get("n_jobs")
    return [
        f"Request:   {_title(request)}",
        f"Contact:   {_one_line(request.get('contact'))}",
        f"Input:     {_one_line(request.get('input_dataset')) or f'{jobs} jobs'}",
        f"Resources: {request.get('request_memory_mb')} MB memory, {request.get('request_disk_mb')} MB disk,"
        f" {request.get('max_wall_time_min')} min wall time per job",
        f"Page:      {request_url(int(request['id']))}",
    ]


def approval_wanted(request: Mapping[str, Any], settings: NoticeSettings) -> Notice:
    lines = ["A production request waits for your approval in Airflow's Required Actions.", "",
             *_facts(request), f"Priority:  {request.get('requested_priority')} (requested)",
             f"Why:       {_one_line(request.get('justification'))}"]
    return Notice("approval_wanted", settings.approvers_of(str(request["experiment"])),
                  f"[prodops] Approval wanted: {_title(request)}", "\n".join(lines))


def decided(request: Mapping[str, Any], state: str, *, by: str | None = None, note: str | None = None) -> Notice:
    """Approved, rejected or expired: the contact is told (with who decided and the note)."""
    lines = [f"Your production request was {state}" + (f" by {_one_line(by)}" if by else "") + ".", "",
             *_facts(request)]
    if state == "approved":
        lines.append(f"Priority:  {request.get('priority')} (approved)")
    if note:
        lines.append(f"Note:      {_one_line(note)}")
    return Notice(state, _valid(request.get("contact")), f"[prodops] Request {state}: {_title(request)}",
                  "\n".join(lines))


def ended(request: Mapping[str, Any], state: str, reason: str, summary: str) -> Notice:
    """How the request ended and why, with the report's summary."""
    lines = [f"Your production request ended {state}: {_one_line(reason)}", "", *_facts(request), "", summary]
    return Notice("ended", _valid(request.get("contact")), f"[prodops] Request {state}: {_title(request)}",
                  "\n".join(lines))


def outage_holds(request: Mapping[str, Any], settings: NoticeSettings, *, what: str, blockers: str) -> Notice:
    """An outage (monitored or inferred) holds a request's run (``what``: its preflight, a stage's retries)."""
    lines = [f"An outage holds {what} of {_title(request)}; it goes on by itself when the services are back.",
             "", f"Waiting for: {_one_line(blockers)}", "", *_facts(request)]
    return Notice("outage_holds", settings.on_call, f"[prodops] Held by an outage: {what} of request {request['id']}",
                  "\n".join(lines))


def _valid(address: Any) -> tuple[str, ...]:
    return (address,) if isinstance(address, str) and _ADDRESS.match(address) else ()


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends: the channel is off
        return False
    return True


@functools.cache
def _plain(notifier: type) -> type:
    """``notifier`` rendering no template (``template_fields`` empty): a notice's text is data."""
    return type(f"Plain{notifier.__name__}", (notifier,), {"template_fields": ()})


def _notifiers(notice: Notice, settings: NoticeSettings) -> list[tuple[str, Any]]:
    """The Airflow notifiers of the channels that are on."""
    out: list[tuple[str, Any]] = []
    if settings.email_conn_id and notice.to and _connection_exists(settings.email_conn_id):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        out.append(("email", _plain(SmtpNotifier)(to=list(notice.to), subject=notice.subject,
                                                   html_content=notice.html(), smtp_conn_id=settings.email_conn_id)))
    if settings.chat_conn_id and _connection_exists(settings.chat_conn_id):
        from airflow.providers.apprise.notifications.apprise import AppriseNotifier

        out.append(("chat", _plain(AppriseNotifier)(title=notice.subject, body=notice.text,
                                                     apprise_conn_id=settings.chat_conn_id)))
    return out


def send(notice: Notice, context: Mapping[str, Any] | None = None,
         settings: NoticeSettings | None = None) -> dict[str, str]:
    """Send by every channel that is on; returns channel -> ``sent`` or the error. Never raises."""
    settings = settings or load_settings()
    results: dict[str, str] = {}
    for channel, notifier in _notifiers(notice, settings):
        try:
            notifier.notify(dict(context or {}))
        except Exception as err:  # noqa: BLE001 - a notice must not fail the production
            log.warning("Notice %s by %s was not sent: %s", notice.kind, channel, err)
            results[channel] = f"{type(err).__name__}: {err}"
        else:
            results[channel] = "sent"
    if results:
        log.info("Notice %s (%s): %s", notice.kind, notice.subject, results)
    return results


def for_request(db_url: str, request_id: int) -> dict[str, Any]:
    """The request row a notice is built from."""
    from prodops.store import records
    from prodops.store.db import connect

    with connect(db_url) as conn:
        return dict(records.require_request(conn, request_id))
