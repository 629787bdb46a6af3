"""The site registry: each site's time zone, from the ``sites:`` section of include/services.yaml.

A job's time-of-day window (night, morning, lunch, afternoon, evening) is read in its site's
own time zone, so "Purdue fails at night" means Purdue's night; a site the registry does not
list uses ``default_time_zone``. Site names are the ones jobs report (the site attribute chain
of ``PRODOPS_SITE_ATTRIBUTES``: ``MATCH_EXP_JOB_GLIDEIN_Site``, ``GLIDEIN_CMSSite`` ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from prodops import config
from prodops.exceptions import FileInvalid

SERVICES_FILE = config.INCLUDE_DIR / "services.yaml"
DEFAULT_TIME_ZONE = "UTC"


class SitesInvalid(FileInvalid):
    """The ``sites:`` section (the site registry) is malformed; ``errors`` maps field -> message."""


@dataclass(frozen=True)
class Sites:
    time_zones: Mapping[str, str] = field(default_factory=dict)
    default_time_zone: str = DEFAULT_TIME_ZONE


def _zone_error(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{value!r} is not a time zone name; give an IANA name such as America/Chicago"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not a known IANA time zone; give one such as America/Chicago or Europe/Zurich"
    return None


def parse_sites(data: Mapping[str, Any], path: Path | str = SERVICES_FILE) -> Sites:
    """The ``sites:`` mapping (site name -> IANA zone) and ``default_time_zone`` of a registry file."""
    errors: dict[str, str] = {}
    default = data.get("default_time_zone", DEFAULT_TIME_ZONE)
    if (why := _zone_error(default)) is not None:
        errors["default_time_zone"] = why
    raw = data.get("sites") or {}
    zones: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        errors["sites"] = "must be a mapping of site name to time zone, e.g. {FNAL: America/Chicago}"
        raw = {}
    for name, zone in raw.items():
        if not isinstance(name, str) or not name.strip():
            errors[f"sites.{name!r}"] = "a site name must be a non-empty string, as jobs report it"
        elif (why := _zone_error(zone)) is not None:
            errors[f"sites.{name}"] = why
        else:
            zones[name] = zone
    if errors:
        raise SitesInvalid(path, errors)
    return Sites(time_zones=zones, default_time_zone=default)


def load_sites(path: Path | str = SERVICES_FILE) -> Sites:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise SitesInvalid(path, {"file": f"cannot be read as YAML: {err}"}) from err
    if not isinstance(data, Mapping):
        raise SitesInvalid(path, {"file": "must be a YAML mapping with services: and sites:"})
    return parse_sites(data, path)
