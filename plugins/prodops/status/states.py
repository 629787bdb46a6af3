"""Service states and the one table that maps monitoring systems' codes onto them.

Every adapter (push API, pull feeds, the preflight check) goes through :func:`map_state`, so
a Statuspage ``partial_outage`` or a Nagios ``2`` means the same thing everywhere.
"""

from __future__ import annotations

import enum


class ServiceState(str, enum.Enum):
    """What a service looks like to someone about to submit jobs that need it."""

    UP = "up"
    """Working normally."""
    DEGRADED = "degraded"
    """Working, slowly or partly; jobs may fail more often."""
    DOWN = "down"
    """Not working: jobs that need it fail."""
    MAINTENANCE = "maintenance"
    """Deliberately unavailable (announced work)."""
    UNKNOWN = "unknown"
    """No fresh report: the feed is silent, stale, or said it could not tell."""

    @property
    def severity(self) -> int:
        """Order for "worst state wins" when several reports overlap."""
        return _SEVERITY[self]


_SEVERITY = {
    ServiceState.UP: 0,
    ServiceState.MAINTENANCE: 1,
    ServiceState.UNKNOWN: 2,
    ServiceState.DEGRADED: 3,
    ServiceState.DOWN: 4,
}


class EventSource(str, enum.Enum):
    """Who said a service was in a state (``status_events.source``)."""

    FEED = "feed"
    """A monitoring system: pushed with a feeder token, or pulled by the service_status DAG."""
    MANUAL = "manual"
    """A person, with their Airflow login; overrides every stream of the service."""
    SYSTEM = "system"
    """prodops about its feeds: a service whose reports stopped is ``unknown``."""
    INFERRED = "inferred"
    """prodops from the jobs: many failed with one service's signature (:mod:`prodops.status.inference`)."""


class Convention(str, enum.Enum):
    """The monitoring conventions prodops understands."""

    NATIVE = "native"
    STATUSPAGE = "statuspage"
    NAGIOS = "nagios"
    ALERTMANAGER = "alertmanager"


S = ServiceState
STATE_MAP: dict[Convention, dict[str, ServiceState]] = {
    Convention.NATIVE: {s.value: s for s in ServiceState},
    # Statuspage component status (also what most status pages publish as JSON).
    Convention.STATUSPAGE: {
        "operational": S.UP,
        "degraded_performance": S.DEGRADED,
        "partial_outage": S.DEGRADED,
        "major_outage": S.DOWN,
        "under_maintenance": S.MAINTENANCE,
    },
    # Nagios / Icinga plugin exit status.
    Convention.NAGIOS: {
        "0": S.UP,  # OK
        "1": S.DEGRADED,  # WARNING
        "2": S.DOWN,  # CRITICAL
        "3": S.UNKNOWN,  # UNKNOWN
    },
    # Alertmanager alert status; a firing alert's severity label refines it (below).
    Convention.ALERTMANAGER: {
        "resolved": S.UP,
        "firing": S.DOWN,
        "firing/critical": S.DOWN,
        "firing/page": S.DOWN,
        "firing/error": S.DOWN,
        "firing/warning": S.DEGRADED,
        "firing/info": S.DEGRADED,
        "firing/maintenance": S.MAINTENANCE,
    },
}
"""The one mapping table: (convention, code) -> state. Codes are compared as lower-case strings."""


def map_state(convention: Convention, code: object) -> ServiceState:
    """The state a code means in a convention; ValueError naming the accepted codes otherwise."""
    key = str(code).strip().lower()
    table = STATE_MAP[convention]
    try:
        return table[key]
    except KeyError:
        accepted = ", ".join(sorted(table))
        raise ValueError(f"{code!r} is not a {convention.value} status; use one of: {accepted}") from None


def alertmanager_state(status: str, severity: str | None) -> ServiceState:
    """A firing alert is ``down`` unless its ``severity`` label says warning/info/maintenance."""
    status = str(status).strip().lower()
    if status == "firing" and severity:
        key = f"firing/{severity.strip().lower()}"
        if key in STATE_MAP[Convention.ALERTMANAGER]:
            return STATE_MAP[Convention.ALERTMANAGER][key]
    return map_state(Convention.ALERTMANAGER, status)


def worst(states: list[ServiceState] | tuple[ServiceState, ...]) -> ServiceState:
    """The most severe of several states; ``unknown`` when there are none."""
    if not states:
        return ServiceState.UNKNOWN
    return max(states, key=lambda s: s.severity)
