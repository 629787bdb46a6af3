"""The service registry file: the shipped one loads; mistakes are reported per field."""

from __future__ import annotations

import pytest

from prodops.status.registry import RegistryInvalid, load_registry, parse_duration, parse_registry


def test_shipped_registry_loads():
    registry = load_registry()
    assert {"samweb", "dcache", "fts", "conditions-db", "batch-pool"} <= registry.names()
    assert all(s.description and s.group for s in registry.services)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (None, None)])
def test_durations(text, seconds):
    assert parse_duration(text, "x") == seconds


def test_every_mistake_is_reported_with_its_place():
    raw = {
        "services": [
            {"name": "dcache", "stale_after": "soon"},
            {"name": "dcache"},
            {"name": "Bad Name"},
            {"name": "fts", "colour": "red"},
        ],
        "feeds": [{"name": "sp", "conn_id": "c", "convention": "xml", "components": {"X": "nosuch"}}],
    }
    with pytest.raises(RegistryInvalid) as exc:
        parse_registry(raw)
    assert set(exc.value.errors) == {
        "services[0].stale_after", "services[1].name", "services[2].name", "services[3]",
        "feeds[0].convention", "feeds[0].components.X",
    }
    assert "write e.g. 90s, 15m" in exc.value.errors["services[0].stale_after"]
