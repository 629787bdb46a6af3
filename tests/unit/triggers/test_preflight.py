"""The preflight trigger serializes to its exact classpath and arguments."""

from __future__ import annotations

import importlib

from prodops.triggers.preflight import PreflightTrigger

KWARGS = {"workflow": "demo-grid", "run_for_s": 3600.0, "deadline": "2026-11-25T12:00:00+00:00",
          "conn_id": "prodops_db", "poll_interval": 30.0, "services": ["dcache"], "stage": "reco"}


def test_serialize_round_trip():
    trigger = PreflightTrigger(**KWARGS)
    classpath, kwargs = trigger.serialize()
    assert classpath == "prodops.triggers.preflight.PreflightTrigger"
    assert kwargs == KWARGS
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == trigger.serialize()
