"""Who may do what with the write API: the rules a feeder token is held to, in one place.

A feeder reports the services of its token's scope and never acts as a person: it cannot send
``source: manual``, name an author or a creator, schedule a window for every service or longer
than ``PRODOPS_FEEDER_MAX_WINDOW_HOURS``, or cancel or end what someone else made. A refusal is
a 403 naming the field, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prodops import config
from prodops.status.events import SERVICE_LABELS, PayloadInvalid, text_problem


@dataclass(frozen=True)
class Writer:
    """Who is writing: a feeder (by its token) or a person (by their Airflow login)."""

    source: str
    """``feed`` or ``manual``: recorded on every event, window and announcement."""
    name: str
    services: frozenset[str] | None = None
    """A feeder's scope: the services it may report; None for a person."""

    @property
    def is_feeder(self) -> bool:
        return self.source == "feed"


class Forbidden(PayloadInvalid):
    """A payload asks for something its writer may not do (403); ``errors`` as for PayloadInvalid."""

    status_code = 403


def _items(payload: Any, key: str) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(payload, dict) and isinstance(payload.get(key), list):
        yield from (((key, i), item) for i, item in enumerate(payload[key]) if isinstance(item, dict))
    elif isinstance(payload, dict) and key not in payload:
        yield (), payload


def check_report(who: Writer, kind: str, payload: Any) -> None:
    """A feeder's events: services of its scope, never ``source: manual``. Malformed items are left to the
    parser, which names them."""
    if not who.is_feeder:
        return
    scope = who.services or frozenset()
    errors: list[tuple[tuple[str | int, ...], str]] = []

    def service(loc: tuple[str | int, ...], name: Any) -> None:
        if isinstance(name, str) and name not in scope and text_problem(name, one_line=True) is None:
            errors.append((loc, f"{name!r} is not among the services token of feeder {who.name} may report"
                                f" ({', '.join(sorted(scope)) or 'none'}); ask for a token scoped to it"))

    if kind == "alertmanager":
        for loc, alert in _items(payload, "alerts"):
            labels = alert.get("labels")
            label = next((k for k in SERVICE_LABELS if k in labels), None) if isinstance(labels, dict) else None
            if label is not None:
                service((*loc, "labels", label), labels[label])
    else:
        for loc, item in _items(payload, "events" if kind == "native" else "results"):
            service((*loc, "service"), item.get("service"))
            if kind == "native" and item.get("source") == "manual":
                errors.append(((*loc, "source"), "manual is a person's word; a feeder token reports as feed"
                                                 " (drop the field)"))
    if errors:
        raise Forbidden(errors)


def check_window(who: Writer, payload: Any, *, starts_at: datetime, ends_at: datetime,
                 services: tuple[str, ...]) -> None:
    """A feeder's window: for services of its scope only, not every service, within the feeder maximum,
    its own creator."""
    if not who.is_feeder:
        return
    scope = who.services or frozenset()
    errors: list[tuple[tuple[str | int, ...], str]] = []
    if not services:
        errors.append((("services",), "a window for every service is a person's decision; list the services"
                                      " of your scope"))
    for name in services:
        if name not in scope:
            i = payload["services"].index(name)
            errors.append((("services", i), f"{name!r} is not among the services token of feeder {who.name} may"
                                            f" report ({', '.join(sorted(scope)) or 'none'})"))
    longest = timedelta(hours=config.feeder_max_window_hours())
    if ends_at - starts_at > longest:
        errors.append((("end",), f"the window lasts {ends_at - starts_at}; a feeder's may last at most {longest}"
                                 " (PRODOPS_FEEDER_MAX_WINDOW_HOURS): split it, or ask a person"))
    if isinstance(payload, dict) and payload.get("created_by") is not None:
        errors.append((("created_by",), "a feeder's window is its own; drop the field"))
    if errors:
        raise Forbidden(errors)


def check_announcement(who: Writer, payload: Any) -> None:
    """A feeder names no author: its announcement is its own."""
    if who.is_feeder and isinstance(payload, dict) and payload.get("author") is not None:
        raise Forbidden([(("author",), "a feeder's announcement is its own; drop the field")])


def may_undo(who: Writer, owner: dict[str, Any] | None) -> bool:
    """A feeder cancels or ends only what it made itself; a person (an operator) anything."""
    return not who.is_feeder or owner is None or (owner["source"] == "feed" and owner["feed"] == who.name)
