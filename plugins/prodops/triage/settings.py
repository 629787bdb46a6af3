"""Triage settings from include/triage/triage.yaml, checked once, with errors naming the key and the fix."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.exceptions import ProdopsError
from prodops.status.inference import InferenceSettings
from prodops.steering import SteeringSettings
from prodops.triage.policy import Policy
from prodops.triage.tail import DEFAULT_LINES, check_lines
from prodops.triage.workers import available_cpus


class SettingsInvalid(ProdopsError):
    """include/triage/triage.yaml is malformed."""


@dataclass(frozen=True)
class TriageSettings:
    tail_lines: int = DEFAULT_LINES
    plugin_timeout_s: float = 5.0
    outage_margin_s: float = 600.0
    service_aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    policy: Policy = Policy()
    inferred_outages: InferenceSettings = InferenceSettings()
    steering: SteeringSettings = SteeringSettings()
    workers: int = 0
    """Processes a big stage's triage runs on; 0: every CPU this process may use."""

    def worker_count(self) -> int:
        return self.workers or available_cpus()

    def board_services(self, service: str | None) -> tuple[str, ...]:
        """The service-board services whose outages are evidence for a verdict naming ``service``."""
        if not service:
            return ()
        return (service, *self.service_aliases.get(service, ()))


_KEYS = {"tail_lines", "plugin_timeout_s", "outage_margin_s", "service_aliases", "policy", "inferred_outages",
         "steering", "workers"}


def parse_settings(raw: Any, source: str = "triage.yaml") -> TriageSettings:
    if raw is None:
        return TriageSettings()
    if not isinstance(raw, dict):
        raise SettingsInvalid(f"{source}: must be a mapping of settings")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise SettingsInvalid(f"{source}: {unknown[0]!r} is not a triage setting; use {', '.join(sorted(_KEYS))}")
    try:
        lines = check_lines(raw.get("tail_lines", DEFAULT_LINES))
    except ValueError as err:
        raise SettingsInvalid(f"{source}: tail_lines: {err}") from None
    numbers = {}
    for key, default in (("plugin_timeout_s", 5.0), ("outage_margin_s", 600.0)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise SettingsInvalid(f"{source}: {key} = {value!r} must be a number of seconds >= 0")
        numbers[key] = float(value)
    workers = raw.get("workers", 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SettingsInvalid(f"{source}: workers = {workers!r} must be a whole number of processes >= 0"
                              " (0: every CPU)")
    aliases = raw.get("service_aliases") or {}
    if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v) for k, v in aliases.items()):
        raise SettingsInvalid(f"{source}: service_aliases must map a service to a list of board services,"
                              " e.g. xrootd: [dcache]")
    try:
        policy = Policy.from_mapping(raw.get("policy") or {}, f"{source}: policy")
    except ValueError as err:
        raise SettingsInvalid(str(err)) from None
    try:
        inferred = InferenceSettings.from_mapping(raw.get("inferred_outages") or {}, f"{source}: inferred_outages")
    except ValueError as err:
        raise SettingsInvalid(str(err)) from None
    try:
        steering = SteeringSettings.from_mapping(raw.get("steering") or {}, f"{source}: steering")
    except ValueError as err:
        raise SettingsInvalid(str(err)) from None
    return TriageSettings(tail_lines=lines, service_aliases={k: tuple(v) for k, v in aliases.items()},
                          policy=policy, inferred_outages=inferred, steering=steering, workers=workers,
                          **numbers)


@functools.cache
def load_settings(path: Path | None = None) -> TriageSettings:
    path = path or config.INCLUDE_DIR / "triage" / "triage.yaml"
    if not path.exists():
        return TriageSettings()
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SettingsInvalid(f"{path}: not valid YAML ({err}); fix the syntax") from None
    return parse_settings(raw, str(path))
