"""Maintenance windows and announcements: payload checks and the overlap rules.

Overlap rule: windows are half-open, [starts_at, ends_at). A window overlaps a run window
[a, b) when ``starts_at < b and a < ends_at``; touching ends do not overlap (a window that ends
at 10:00 does not block a run that starts at 10:00). A window with no services is global: it
applies to every service, and to requests that need none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prodops.status.events import PayloadInvalid, _check_keys, _Errors, _str, _time, clean_text, natural_id

SEVERITIES = ("info", "warning", "critical")
MAX_WINDOW_DAYS = 31


@dataclass(frozen=True)
class MaintenanceWindow:
    starts_at: datetime
    ends_at: datetime
    reason: str
    services: tuple[str, ...] = ()
    """Empty: every service."""
    feed: str = "manual"
    external_id: str = ""
    source: str = "manual"
    created_by: str = ""
    id: int = 0

    @property
    def is_global(self) -> bool:
        return not self.services

    def applies_to(self, service: str) -> bool:
        return self.is_global or service in self.services

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.starts_at < end and start < self.ends_at

    def row(self) -> dict[str, Any]:
        return {
            "feed": self.feed, "external_id": self.external_id, "services": list(self.services),
            "starts_at": self.starts_at, "ends_at": self.ends_at, "reason": self.reason,
            "source": self.source, "created_by": self.created_by,
        }


@dataclass(frozen=True)
class Announcement:
    text: str
    severity: str
    starts_at: datetime
    author: str
    ends_at: datetime | None = None
    feed: str = "manual"
    external_id: str = ""
    id: int = 0

    def active_at(self, t: datetime) -> bool:
        return self.starts_at <= t and (self.ends_at is None or t < self.ends_at)

    def row(self) -> dict[str, Any]:
        return {
            "feed": self.feed, "external_id": self.external_id, "text": self.text, "severity": self.severity,
            "starts_at": self.starts_at, "ends_at": self.ends_at, "author": self.author,
        }


def blocking_windows(windows: Iterable[MaintenanceWindow], services: Sequence[str], start: datetime,
                     end: datetime) -> list[tuple[str, MaintenanceWindow]]:
    """(service or ``*``, window) for every window that overlaps [start, end) for these services.

    Global windows are reported once as ``*``; they block even a request that needs no service.
    """
    found: list[tuple[str, MaintenanceWindow]] = []
    for w in windows:
        if not w.overlaps(start, end):
            continue
        if w.is_global:
            found.append(("*", w))
            continue
        found.extend((s, w) for s in services if s in w.services)
    return sorted(found, key=lambda p: (p[1].starts_at, p[0]))


WINDOW_FIELDS = {"id", "services", "start", "end", "reason", "created_by"}


def parse_window(payload: Any, *, feed: str, source: str, now: datetime,
                 known: Callable[[str], bool] | None = None) -> MaintenanceWindow:
    """``{"services": [..] | [] (all), "start", "end", "reason", "id"?, "created_by"?}``."""
    errors = _Errors()
    if not isinstance(payload, dict):
        raise PayloadInvalid([((), "must be an object with services, start, end, reason")])
    _check_keys(payload, WINDOW_FIELDS, (), errors)
    services = payload.get("services", [])
    if services == "all":
        services = []
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        errors.add(("services",), f"{services!r} must be a list of service names ([] or \"all\": every service)")
        services = []
    for i, s in enumerate(services):
        if known is not None and not known(s):
            errors.add(("services", i), f"{s!r} is not a registered service; add it to include/services.yaml or fix the name")
    start = _time(payload, "start", (), errors, default=None)
    end = _time(payload, "end", (), errors, default=None)
    if start and end:
        if end <= start:
            errors.add(("end",), f"{end.isoformat()} is not after start {start.isoformat()}; a window must end after it starts")
        elif (end - start).days > MAX_WINDOW_DAYS:
            errors.add(("end",), f"the window lasts {(end - start).days} days; at most {MAX_WINDOW_DAYS}: split it")
    reason = _str(payload, "reason", (), errors, required=True)
    ext = _str(payload, "id", (), errors, required=False, max_len=200)
    created_by = _str(payload, "created_by", (), errors, required=False, max_len=200)
    errors.raise_if_any()
    assert start is not None and end is not None
    services_t = tuple(sorted(set(services)))
    return MaintenanceWindow(
        starts_at=start, ends_at=end, reason=reason, services=services_t, feed=feed,
        external_id=ext or natural_id(services_t, start.isoformat(), end.isoformat()),
        source=source, created_by=created_by or feed,
    )


ANNOUNCEMENT_FIELDS = {"id", "text", "severity", "start", "end", "author"}


def parse_announcement(payload: Any, *, feed: str, now: datetime) -> Announcement:
    """``{"text", "severity" (info|warning|critical), "start"? (now), "end"?, "author"?, "id"?}``."""
    errors = _Errors()
    if not isinstance(payload, dict):
        raise PayloadInvalid([((), "must be an object with text and severity")])
    _check_keys(payload, ANNOUNCEMENT_FIELDS, (), errors)
    text = _str(payload, "text", (), errors, required=True)
    severity = _str(payload, "severity", (), errors, required=False, default="info")
    if severity not in SEVERITIES:
        errors.add(("severity",), f"{severity!r} must be one of {', '.join(SEVERITIES)}")
    start = _time(payload, "start", (), errors, default=now)
    end = payload.get("end")
    end_t = _time(payload, "end", (), errors, default=None) if end is not None else None
    if start and end_t and end_t <= start:
        errors.add(("end",), f"{end_t.isoformat()} is not after start {start.isoformat()}; omit end for no end")
    author = _str(payload, "author", (), errors, required=False, max_len=200)
    ext = _str(payload, "id", (), errors, required=False, max_len=200)
    errors.raise_if_any()
    assert start is not None
    return Announcement(
        text=text, severity=severity, starts_at=start, ends_at=end_t, author=author or feed, feed=feed,
        external_id=ext or natural_id(text, start.isoformat()),
    )


def windows_from_statuspage(payload: Any, *, feed: str, components: Mapping[str, str]) -> list[MaintenanceWindow]:
    """Statuspage ``scheduled_maintenances`` touching mapped components -> maintenance windows.

    Each keeps the feed's id, so reading the feed again updates the same window.
    """
    errors = _Errors()
    items = payload.get("scheduled_maintenances") if isinstance(payload, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise PayloadInvalid([(("scheduled_maintenances",), "must be a list")])
    windows: list[MaintenanceWindow] = []
    for i, m in enumerate(items):
        loc: tuple[str | int, ...] = ("scheduled_maintenances", i)
        if not isinstance(m, dict):
            errors.add(loc, f"must be an object, got {type(m).__name__}")
            continue
        names = [c.get("name") for c in m.get("components") or [] if isinstance(c, dict)]
        services = tuple(sorted({components[n] for n in names if isinstance(n, str) and n in components}))
        if not services:
            continue  # not about any service prodops knows
        start = _time(m, "scheduled_for", loc, errors, default=None)
        end = _time(m, "scheduled_until", loc, errors, default=None)
        ext = clean_text(str(m.get("id") or ""))[:200]
        if not ext:
            errors.add((*loc, "id"), "is required to follow the window across reads")
        if start and end and end <= start:
            errors.add((*loc, "scheduled_until"), "is not after scheduled_for")
        if not (start and end and ext) or end <= start:
            continue
        windows.append(MaintenanceWindow(
            starts_at=start, ends_at=end, reason=clean_text(str(m.get("name") or "scheduled maintenance"))[:4000],
            services=services, feed=feed, external_id=ext, source="feed", created_by=feed,
        ))
    errors.raise_if_any()
    return windows
