"""Status events and the adapters that turn monitoring payloads into them.

One adapter per convention (native JSON, Alertmanager webhook v4, Icinga/Nagios check result,
Statuspage components). Push API and pull feeds call the same adapters. An adapter either
returns every event of the payload or raises :class:`PayloadInvalid` listing every bad field:
a payload is stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from prodops.exceptions import ProdopsError
from prodops.status.states import Convention, EventSource, ServiceState, alertmanager_state, map_state
from prodops.status.timeline import ALL_STREAMS, INFERRED_STREAM  # ALL_STREAMS: replaces every stream's state

MAX_EVENTS_PER_PAYLOAD = 5000
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_AHEAD = timedelta(days=366)
"""Times are accepted from 1970 to a year (and a day) ahead of now: anything else is a sender's bug."""
MAX_TTL_S = 366 * 86400
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters refused in free text (tab, newline and carriage return are allowed);
PostgreSQL cannot store NUL at all."""
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f]")
"""Control characters refused in names and ids, line breaks and tabs included."""
SERVICE_LABELS = ("service", "prodops_service")
"""Alertmanager labels that name the prodops service, first found wins."""
SOURCES = tuple(s.value for s in EventSource)


class PayloadInvalid(ProdopsError):
    """A payload has bad fields; ``errors`` is a list of (location, message), location a path."""

    def __init__(self, errors: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        self.errors = list(errors)
        lines = "; ".join(f"{_dotted(loc)}: {msg}" for loc, msg in self.errors)
        super().__init__(f"payload rejected, nothing stored ({len(self.errors)} problem(s)): {lines}")


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


@dataclass(frozen=True)
class StatusEvent:
    """One report that a service was in a state at a time, and where the report came from."""

    service: str
    state: ServiceState
    observed_at: datetime
    source: str
    feed: str
    stream: str
    convention: str
    external_id: str = ""
    valid_until: datetime | None = None
    code: str = ""
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Structured evidence (an inferred outage's signature, count, sample jobs ...); ``{}`` for feeds."""

    def row(self) -> dict[str, Any]:
        """The ``status_events`` columns (built field by field: ``asdict`` deep-copies, 3x slower on ingest)."""
        return {
            "service": self.service, "state": self.state.value, "observed_at": self.observed_at,
            "source": self.source, "feed": self.feed, "stream": self.stream, "convention": self.convention,
            "external_id": self.external_id, "valid_until": self.valid_until, "code": self.code,
            "message": self.message,
            "details": json.dumps(dict(self.details), default=str, separators=(",", ":")) if self.details else "{}",
        }


class _Errors:
    """Collects field errors while a payload is read, so all are reported at once."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple[str | int, ...], str]] = []

    def add(self, loc: tuple[str | int, ...], msg: str) -> None:
        self.items.append((loc, msg))

    def raise_if_any(self) -> None:
        if self.items:
            raise PayloadInvalid(self.items)


def text_problem(value: str, *, one_line: bool = False) -> str | None:
    """Why ``value`` cannot be stored as text (a control character, a lone surrogate), or None."""
    bad = (_CONTROL_OR_BREAK if one_line else _CONTROL).search(value)
    if bad:
        return (f"holds the control character {bad.group()!r} at position {bad.start()}; send printable text"
                + ("" if one_line else " (tab and line breaks are allowed)"))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"holds an unpaired surrogate at position {err.start}; send valid Unicode text"
    return None


def clean_text(value: str) -> str:
    """Text a pulled feed sent, made storable: control characters dropped, unpaired surrogates replaced."""
    return _CONTROL.sub("", value).encode("utf-8", "replace").decode("utf-8")


def parse_time(value: Any) -> datetime:
    """ISO 8601 with a zone, or seconds since the epoch -> aware UTC datetime, from 1970 to a year ahead."""
    parsed = _parse_time(value)
    if not EARLIEST <= parsed <= datetime.now(timezone.utc) + LATEST_AHEAD:
        raise ValueError(f"{value!r} is outside the accepted times (1970-01-01 to a year from now);"
                         " check the sender's clock and units (seconds since the epoch, not milliseconds)")
    return parsed


def _parse_time(value: Any) -> datetime:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time; send ISO 8601 with a zone, e.g. 2026-11-25T10:00:00Z")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a time; send seconds since the epoch or ISO 8601")
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is outside the accepted times (1970-01-01 to a year from now)") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a time; send ISO 8601 with a zone, e.g. 2026-11-25T10:00:00Z")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time; send e.g. 2026-11-25T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add Z or an offset such as +00:00")
    return parsed.astimezone(timezone.utc)


def _items(payload: Any, key: str, errors: _Errors) -> list[Any]:
    """A payload is one object or ``{key: [objects]}``."""
    if isinstance(payload, dict) and key in payload:
        items = payload[key]
        if not isinstance(items, list):
            errors.add((key,), f"must be a list of objects, got {type(items).__name__}")
            return []
        if not items:
            errors.add((key,), "is empty; send at least one")
        if len(items) > MAX_EVENTS_PER_PAYLOAD:
            errors.add((key,), f"has {len(items)} entries; send at most {MAX_EVENTS_PER_PAYLOAD} per request")
            return []
        return items
    if isinstance(payload, dict):
        return [payload]
    errors.add((), f"must be a JSON object (one event) or {{\"{key}\": [...]}}, got {type(payload).__name__}")
    return []


def _str(obj: Mapping[str, Any], key: str, loc: tuple[str | int, ...], errors: _Errors, *, required: bool,
         default: str = "", max_len: int = 4000) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            errors.add((*loc, key), "is required")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        errors.add((*loc, key), f"{value!r} must be a non-empty string")
        return default
    if len(value) > max_len:
        errors.add((*loc, key), f"is {len(value)} characters long; at most {max_len}")
        return default
    problem = text_problem(value, one_line=max_len <= 200)
    if problem:
        errors.add((*loc, key), problem)
        return default
    return value


def _service(obj: Mapping[str, Any], key: str, loc: tuple[str | int, ...], errors: _Errors,
             known: Callable[[str], bool] | None) -> str:
    name = _str(obj, key, loc, errors, required=True, max_len=200)
    if name and known is not None and not known(name):
        errors.add((*loc, key), f"{name!r} is not a registered service; add it to include/services.yaml or fix the name")
    return name


def _ttl(obj: Mapping[str, Any], key: str, loc: tuple[str | int, ...], errors: _Errors) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TTL_S:
        errors.add((*loc, key), f"{value!r} must be a positive number of seconds, at most {MAX_TTL_S} (366 days)")
        return None
    return float(value)


def _time(obj: Mapping[str, Any], key: str, loc: tuple[str | int, ...], errors: _Errors,
          default: datetime | None) -> datetime | None:
    value = obj.get(key)
    if value is None:
        if default is None:
            errors.add((*loc, key), "is required")
        return default
    try:
        return parse_time(value)
    except ValueError as err:
        errors.add((*loc, key), str(err))
        return None


def _check_keys(obj: Mapping[str, Any], allowed: set[str], loc: tuple[str | int, ...], errors: _Errors) -> None:
    for key in sorted(set(obj) - allowed):
        errors.add((*loc, key), f"unknown field; allowed: {', '.join(sorted(allowed))}")


NATIVE_FIELDS = {"service", "state", "time", "id", "message", "source", "ttl", "stream"}


def from_native(payload: Any, *, feed: str, now: datetime,
                known: Callable[[str], bool] | None = None) -> list[StatusEvent]:
    """prodops' own JSON: ``{"service", "state", "time"?, "id"?, "message"?, "source"?, "ttl"?}``.

    ``state`` is a prodops state or a Statuspage component status. ``source`` is ``feed``
    (default) or ``manual``; a manual event overrides every stream of the service.
    """
    errors = _Errors()
    events: list[StatusEvent] = []
    items = _items(payload, "events", errors)
    multi = isinstance(payload, dict) and "events" in payload
    for i, item in enumerate(items):
        loc: tuple[str | int, ...] = ("events", i) if multi else ()
        if not isinstance(item, dict):
            errors.add(loc, f"must be an object, got {type(item).__name__}")
            continue
        _check_keys(item, NATIVE_FIELDS, loc, errors)
        service = _service(item, "service", loc, errors, known)
        code = item.get("state")
        state: ServiceState | None = None
        if code is None:
            errors.add((*loc, "state"), "is required; one of up, degraded, down, maintenance, unknown")
        else:
            state = _native_state(code, (*loc, "state"), errors)
        observed = _time(item, "time", loc, errors, default=now)
        source = _str(item, "source", loc, errors, required=False, default="feed")
        if source not in (EventSource.FEED.value, EventSource.MANUAL.value):
            why = " (prodops posts inferred outages itself)" if source == EventSource.INFERRED.value else ""
            errors.add((*loc, "source"), f"{source!r} is not accepted here; use feed or manual{why}")
        ttl = _ttl(item, "ttl", loc, errors)
        external_id = _str(item, "id", loc, errors, required=False, max_len=200)
        message = _str(item, "message", loc, errors, required=False)
        stream = _str(item, "stream", loc, errors, required=False, max_len=200) or (
            ALL_STREAMS if source == "manual" else feed
        )
        if stream == INFERRED_STREAM:
            errors.add((*loc, "stream"), f"{stream!r} is reserved for the outages prodops infers from failed jobs;"
                                         " name your stream differently")
        if state is None or observed is None or not service:
            continue
        events.append(
            StatusEvent(
                service=service, state=state, observed_at=observed, source=source, feed=feed, stream=stream,
                convention=Convention.NATIVE.value, external_id=external_id,
                valid_until=observed + timedelta(seconds=ttl) if ttl else None, code=str(code), message=message,
            )
        )
    errors.raise_if_any()
    return events


def _native_state(code: Any, loc: tuple[str | int, ...], errors: _Errors) -> ServiceState | None:
    for convention in (Convention.NATIVE, Convention.STATUSPAGE):
        try:
            return map_state(convention, code)
        except ValueError:
            continue
    errors.add(loc, f"{code!r} is not a state; use up, degraded, down, maintenance, unknown"
                    " (or a Statuspage status such as major_outage)")
    return None


NAGIOS_FIELDS = {"service", "exit_status", "plugin_output", "ttl", "execution_end", "execution_start",
                 "check_source", "performance_data", "check_command", "host", "type", "filter"}


def from_nagios(payload: Any, *, feed: str, now: datetime,
                known: Callable[[str], bool] | None = None) -> list[StatusEvent]:
    """Icinga/Nagios check result: ``{"service", "exit_status" 0-3, "plugin_output", "ttl"?, "execution_end"?}``.

    ``ttl`` (seconds) is how long the result holds: past it the service shows ``unknown``.
    """
    errors = _Errors()
    events: list[StatusEvent] = []
    items = _items(payload, "results", errors)
    multi = isinstance(payload, dict) and "results" in payload
    for i, item in enumerate(items):
        loc: tuple[str | int, ...] = ("results", i) if multi else ()
        if not isinstance(item, dict):
            errors.add(loc, f"must be an object, got {type(item).__name__}")
            continue
        _check_keys(item, NAGIOS_FIELDS, loc, errors)
        service = _service(item, "service", loc, errors, known)
        code = item.get("exit_status")
        state: ServiceState | None = None
        if code is None:
            errors.add((*loc, "exit_status"), "is required: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
        elif isinstance(code, bool) or not isinstance(code, (int, float)) or not math.isfinite(code) \
                or int(code) != code:
            errors.add((*loc, "exit_status"), f"{code!r} must be an integer 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)")
        else:
            try:
                state = map_state(Convention.NAGIOS, int(code))
            except ValueError as err:
                errors.add((*loc, "exit_status"), str(err))
        output = _str(item, "plugin_output", loc, errors, required=True)
        ttl = _ttl(item, "ttl", loc, errors)
        observed = _time(item, "execution_end", loc, errors, default=now)
        check_source = _str(item, "check_source", loc, errors, required=False, max_len=200)
        if state is None or code is None or observed is None or not service:
            continue
        events.append(
            StatusEvent(
                service=service, state=state, observed_at=observed, source="feed", feed=feed,
                stream=f"{feed}:{check_source}" if check_source else feed, convention=Convention.NAGIOS.value,
                external_id=check_source, valid_until=observed + timedelta(seconds=ttl) if ttl else None,
                code=str(int(code)), message=output,
            )
        )
    errors.raise_if_any()
    return events


def from_alertmanager(payload: Any, *, feed: str, now: datetime,
                      known: Callable[[str], bool] | None = None) -> list[StatusEvent]:
    """Prometheus Alertmanager webhook, version 4: one event per alert.

    The service is the alert's ``service`` (or ``prodops_service``) label; a firing alert is
    ``down`` unless its ``severity`` label is warning/info (``degraded``); a resolved alert is
    ``up`` at its ``endsAt``. Each alert (fingerprint) is its own stream: two alerts firing on
    one service overlap, and the service is up again only when both resolved.
    """
    errors = _Errors()
    if not isinstance(payload, dict):
        raise PayloadInvalid([((), f"must be the Alertmanager webhook JSON object, got {type(payload).__name__}")])
    if str(payload.get("version")) != "4":
        errors.add(("version",), f"{payload.get('version')!r} is not supported; prodops reads webhook version \"4\"")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        errors.add(("alerts",), "is required: a non-empty list of alerts")
        alerts = []
    if len(alerts) > MAX_EVENTS_PER_PAYLOAD:
        errors.add(("alerts",), f"has {len(alerts)} alerts; at most {MAX_EVENTS_PER_PAYLOAD}")
        alerts = []
    events: list[StatusEvent] = []
    for i, alert in enumerate(alerts):
        loc: tuple[str | int, ...] = ("alerts", i)
        if not isinstance(alert, dict):
            errors.add(loc, f"must be an object, got {type(alert).__name__}")
            continue
        labels = alert.get("labels")
        if not isinstance(labels, dict):
            errors.add((*loc, "labels"), "is required: an object of label names to values")
            labels = {}
        label = next((k for k in SERVICE_LABELS if k in labels), None)
        service = ""
        if label is None:
            errors.add((*loc, "labels", "service"), "is required: label the alert with the prodops service it concerns")
        else:
            service = _service(labels, label, (*loc, "labels"), errors, known)
        status = alert.get("status")
        state: ServiceState | None = None
        if status not in ("firing", "resolved"):
            errors.add((*loc, "status"), f"{status!r} must be firing or resolved")
        else:
            severity = labels.get("severity")
            state = alertmanager_state(status, severity if isinstance(severity, str) else None)
        fingerprint = _str(alert, "fingerprint", loc, errors, required=True, max_len=200)
        starts = _time(alert, "startsAt", loc, errors, default=None)
        observed = starts
        if status == "resolved":
            ends = _time(alert, "endsAt", loc, errors, default=None)
            if ends is not None and ends.year <= 1:
                errors.add((*loc, "endsAt"), "a resolved alert needs its real end time, not the zero time")
                ends = None
            observed = ends
        annotations = alert.get("annotations")
        if not isinstance(annotations, dict):
            annotations = {}
        message = str(annotations.get("summary") or annotations.get("description") or labels.get("alertname") or "")
        problem = text_problem(message)
        if problem:
            errors.add((*loc, "annotations"), f"the summary {problem}")
        if state is None or observed is None or not service or not fingerprint:
            continue
        events.append(
            StatusEvent(
                service=service, state=state, observed_at=observed, source="feed", feed=feed,
                stream=f"alertmanager:{fingerprint}", convention=Convention.ALERTMANAGER.value,
                external_id=fingerprint, code=str(status), message=message[:4000],
            )
        )
    errors.raise_if_any()
    return events


def from_statuspage(payload: Any, *, feed: str, now: datetime, components: Mapping[str, str],
                    known: Callable[[str], bool] | None = None) -> list[StatusEvent]:
    """Statuspage-style ``{"components": [{"name", "status", "updated_at", "id"?}]}``.

    ``components`` maps a component name to a prodops service; other components are ignored.
    """
    errors = _Errors()
    if not isinstance(payload, dict) or not isinstance(payload.get("components"), list):
        raise PayloadInvalid([(("components",), "is required: a list of {name, status, updated_at}")])
    events: list[StatusEvent] = []
    for i, comp in enumerate(payload["components"]):
        loc: tuple[str | int, ...] = ("components", i)
        if not isinstance(comp, dict):
            errors.add(loc, f"must be an object, got {type(comp).__name__}")
            continue
        name = comp.get("name")
        service = components.get(name) if isinstance(name, str) else None
        if service is None:
            continue
        if known is not None and not known(service):
            errors.add((*loc, "name"), f"maps to {service!r}, which is not a registered service; fix feeds[].components")
            continue
        code = comp.get("status")
        try:
            state = map_state(Convention.STATUSPAGE, code)
        except ValueError as err:
            errors.add((*loc, "status"), str(err))
            continue
        observed = _time(comp, "updated_at", loc, errors, default=now)
        if observed is None:
            continue
        ext = clean_text(str(comp.get("id") or name))[:200]
        events.append(
            StatusEvent(
                service=service, state=state, observed_at=observed, source="feed", feed=feed,
                stream=f"{feed}:{ext}", convention=Convention.STATUSPAGE.value, external_id=ext,
                code=str(code), message=clean_text(str(comp.get("description") or ""))[:4000],
            )
        )
    errors.raise_if_any()
    return events


def stale_event(service: str, last_report: datetime, stale_after_s: int) -> StatusEvent:
    """The ``unknown`` prodops records when a service's feed has been silent too long."""
    at = last_report + timedelta(seconds=stale_after_s)
    return StatusEvent(
        service=service, state=ServiceState.UNKNOWN, observed_at=at, source=EventSource.SYSTEM.value, feed="prodops",
        stream=ALL_STREAMS, convention=Convention.NATIVE.value, external_id="stale",
        code="stale", message=f"no report since {last_report.isoformat()} (limit {stale_after_s} s)",
    )


def natural_id(*parts: Any) -> str:
    """A short stable id from the parts (for windows and announcements sent without an id)."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
