"""The one mapping table: every convention's codes land on the right prodops state."""

from __future__ import annotations

import pytest

from prodops.status.states import STATE_MAP, Convention, ServiceState, alertmanager_state, map_state, worst

S = ServiceState


@pytest.mark.parametrize(
    ("convention", "code", "state"),
    [
        (Convention.STATUSPAGE, "operational", S.UP),
        (Convention.STATUSPAGE, "degraded_performance", S.DEGRADED),
        (Convention.STATUSPAGE, "partial_outage", S.DEGRADED),
        (Convention.STATUSPAGE, "major_outage", S.DOWN),
        (Convention.STATUSPAGE, "under_maintenance", S.MAINTENANCE),
        (Convention.NAGIOS, 0, S.UP),
        (Convention.NAGIOS, 1, S.DEGRADED),
        (Convention.NAGIOS, 2, S.DOWN),
        (Convention.NAGIOS, "3", S.UNKNOWN),
        (Convention.ALERTMANAGER, "firing", S.DOWN),
        (Convention.ALERTMANAGER, "resolved", S.UP),
        (Convention.NATIVE, "Degraded", S.DEGRADED),
    ],
)
def test_codes_map_to_states(convention, code, state):
    assert map_state(convention, code) is state


def test_every_state_is_reachable_from_native_and_every_table_maps_to_states():
    assert set(STATE_MAP[Convention.NATIVE].values()) == set(ServiceState)
    for table in STATE_MAP.values():
        assert all(isinstance(v, ServiceState) for v in table.values())


def test_unknown_code_names_the_accepted_ones():
    with pytest.raises(ValueError, match="4.*not a nagios status.*0, 1, 2, 3"):
        map_state(Convention.NAGIOS, 4)


@pytest.mark.parametrize(
    ("status", "severity", "state"),
    [("firing", "critical", S.DOWN), ("firing", "warning", S.DEGRADED), ("firing", None, S.DOWN),
     ("firing", "whatever", S.DOWN), ("resolved", "warning", S.UP)],
)
def test_alertmanager_severity_refines_firing(status, severity, state):
    assert alertmanager_state(status, severity) is state


def test_worst_orders_down_over_degraded_over_unknown_over_maintenance_over_up():
    assert worst([S.UP, S.MAINTENANCE]) is S.MAINTENANCE
    assert worst([S.MAINTENANCE, S.UNKNOWN]) is S.UNKNOWN
    assert worst([S.UNKNOWN, S.DEGRADED, S.UP]) is S.DEGRADED
    assert worst([S.DEGRADED, S.DOWN]) is S.DOWN
    assert worst([]) is S.UNKNOWN
