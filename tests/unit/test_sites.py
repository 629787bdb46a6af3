"""The site registry: time zones by site name, validated, and used for a job's time-of-day window."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from prodops import config
from prodops.batch.classads import time_window
from prodops.sites import SitesInvalid, load_sites, parse_sites


def test_the_shipped_registry_loads_and_names_the_fermilab_site():
    sites = load_sites()
    assert sites.time_zones["FNAL"] == "America/Chicago" and sites.default_time_zone == "UTC"


def test_tracking_maps_ads_in_the_sites_own_time_zone():
    mapping = config.ad_mapping()
    start = datetime(2026, 6, 1, 17, 30, tzinfo=timezone.utc)  # 12:30 in Batavia (CDT), 19:30 in Geneva
    assert time_window(start, "FNAL", mapping) == "lunch"
    assert time_window(start, "CERN", mapping) == "evening"
    assert time_window(start, "Nowhere", mapping) == "afternoon"  # not listed: the default zone, UTC


def test_a_bad_zone_names_the_site_and_the_fix():
    with pytest.raises(SitesInvalid) as err:
        parse_sites({"sites": {"FNAL": "America/Batavia", "CERN": 3}, "default_time_zone": "Mars/Olympus"})
    assert set(err.value.errors) == {"sites.FNAL", "sites.CERN", "default_time_zone"}
    assert "America/Batavia" in str(err.value) and "IANA" in str(err.value)


def test_sites_must_be_a_mapping_and_absent_sites_are_fine(tmp_path):
    with pytest.raises(SitesInvalid, match="must be a mapping of site name"):
        parse_sites({"sites": ["FNAL"]})
    assert parse_sites({}).time_zones == {}
    bad = tmp_path / "services.yaml"
    bad.write_text("sites: [unclosed\n")
    with pytest.raises(SitesInvalid, match="cannot be read as YAML"):
        load_sites(bad)
