"""Settings read in one place: the site attribute chain of the ad mapping."""

from __future__ import annotations

import pytest

from prodops import config
from prodops.batch.classads import SITE_ATTRIBUTES, MappingConfig


def test_the_site_chain_defaults_to_the_mapping_default(monkeypatch):
    monkeypatch.delenv("PRODOPS_SITE_ATTRIBUTES", raising=False)
    assert config.site_attributes() == SITE_ATTRIBUTES == tuple(MappingConfig().site_attributes)
    mapping = config.ad_mapping()
    assert mapping.site_attributes == MappingConfig().site_attributes
    assert mapping.site_timezones["FNAL"] == "America/Chicago"  # from the site registry
    monkeypatch.setenv("PRODOPS_SITE_ATTRIBUTES", "  ")
    assert config.site_attributes() == SITE_ATTRIBUTES


def test_the_site_chain_is_read_in_order_without_blanks_or_repeats(monkeypatch):
    monkeypatch.setenv("PRODOPS_SITE_ATTRIBUTES", " JOBGLIDEIN_ResourceName,GLIDEIN_Site,, GLIDEIN_Site ")
    assert config.site_attributes() == ("JOBGLIDEIN_ResourceName", "GLIDEIN_Site")
    assert config.ad_mapping().site_attributes == ("JOBGLIDEIN_ResourceName", "GLIDEIN_Site")


def test_a_site_attribute_that_is_no_classad_name_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setenv("PRODOPS_SITE_ATTRIBUTES", "GLIDEIN_Site;JOB_Site, $$(GLIDEIN_Site)")
    with pytest.raises(ValueError, match=r"PRODOPS_SITE_ATTRIBUTES=.*'GLIDEIN_Site;JOB_Site', '\$\$\(GLIDEIN_Site\)' "
                                         r"are not ClassAd attribute names; give attribute names separated by commas"):
        config.site_attributes()
    monkeypatch.setenv("PRODOPS_SITE_ATTRIBUTES", "MY.Site")
    with pytest.raises(ValueError, match=r"'MY.Site' is not a ClassAd attribute name"):
        config.site_attributes()
