"""Settings read in one place: only config.py reads them, the README lists each, bad values are named."""

from __future__ import annotations

import re
from pathlib import Path

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


ROOT = Path(config.__file__).resolve().parents[2]
READS = re.compile(r"os\.environ\.get\(|os\.environ\[|os\.getenv\(")


def test_no_runtime_module_but_config_reads_the_environment():
    readers = [str(p.relative_to(ROOT)) for p in (ROOT / "plugins" / "prodops").rglob("*.py")
               if p.name != "config.py" or p.parent.name != "prodops"
               if READS.search(p.read_text())]
    assert readers == [], f"read settings through prodops.config: {readers}"


def test_every_setting_config_reads_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Settings (environment variables)"):]
    table = table[:table.index("\n\n", table.index("| variable |"))]
    first_cells = re.findall(r"^\| ([^|]+) \|", table, re.M)
    listed = {name for cell in first_cells for name in re.findall(r"`(PRODOPS_[A-Z0-9_]+)`", cell)}
    read = set(re.findall(r"\"(PRODOPS_[A-Z0-9_]+)\"", Path(config.__file__).read_text()))
    assert read - listed == set(), "add these to the README's settings table"
    assert "PRODOPS_DB_URL" in read and "PRODOPS_LOCAL_SLOTS" in read


@pytest.mark.parametrize(("name", "raw", "words"), [
    ("PRODOPS_LOCAL_SLOTS", "many", "PRODOPS_LOCAL_SLOTS='many' is not a whole number of job slots >= 1; set e.g. 4"),
    ("PRODOPS_LOCAL_SLOTS", "0", "PRODOPS_LOCAL_SLOTS='0' is not a whole number of job slots >= 1"),
    ("PRODOPS_TRACK_POLL_INTERVAL", "fast", "PRODOPS_TRACK_POLL_INTERVAL='fast' is not a number of seconds >= 0;"
                                            " set e.g. 5, or unset it"),
    ("PRODOPS_DATASET_TIMEOUT_S", "nan", "PRODOPS_DATASET_TIMEOUT_S='nan' is not a number of seconds"),
    ("PRODOPS_PREFLIGHT_TIMEOUT_HOURS", "-1", "PRODOPS_PREFLIGHT_TIMEOUT_HOURS='-1' is not a number of hours >= 0"),
])
def test_a_bad_value_names_the_variable_and_the_fix(monkeypatch, name, raw, words):
    monkeypatch.setenv(name, raw)
    reader = {"PRODOPS_LOCAL_SLOTS": config.local_slots, "PRODOPS_TRACK_POLL_INTERVAL": config.track_poll_interval_s,
              "PRODOPS_DATASET_TIMEOUT_S": config.dataset_server_timeout_s,
              "PRODOPS_PREFLIGHT_TIMEOUT_HOURS": config.preflight_timeout_hours}[name]
    with pytest.raises(config.SettingInvalid) as err:
        reader()
    assert words in str(err.value)


def test_settings_take_their_defaults_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("PRODOPS_LOCAL_SLOTS", raising=False)
    monkeypatch.setenv("PRODOPS_STREAM_TRIAGE_INTERVAL", " ")
    assert (config.local_slots(), config.stream_triage_interval_s()) == (4, 30)
    monkeypatch.setenv("PRODOPS_LOCAL_SLOTS", "2")
    monkeypatch.setenv("PRODOPS_STREAM_TRIAGE_INTERVAL", "-1")
    assert (config.local_slots(), config.stream_triage_interval_s()) == (2, -1)
    monkeypatch.setenv("PRODOPS_LOCAL_SITE", "US_Wisconsin")
    monkeypatch.delenv("PRODOPS_LOCAL_CPU_MODEL", raising=False)
    assert config.local_machine_overrides()[:2] == ("US_Wisconsin", None)


def test_preflight_passes_unknown_services_on_the_local_pool_and_waits_for_them_on_a_real_one(monkeypatch):
    monkeypatch.delenv("PRODOPS_PREFLIGHT_UNKNOWN", raising=False)
    monkeypatch.setenv("PRODOPS_BATCH_BACKEND", "local")
    assert config.preflight_waits_for_unknown() is False
    monkeypatch.setenv("PRODOPS_BATCH_BACKEND", "htcondor")
    assert config.preflight_waits_for_unknown() is True
    monkeypatch.setenv("PRODOPS_PREFLIGHT_UNKNOWN", "PASS")
    assert config.preflight_waits_for_unknown() is False
    monkeypatch.setenv("PRODOPS_PREFLIGHT_UNKNOWN", "maybe")
    with pytest.raises(config.SettingInvalid, match="PRODOPS_PREFLIGHT_UNKNOWN='maybe' is not wait or pass"):
        config.preflight_waits_for_unknown()
