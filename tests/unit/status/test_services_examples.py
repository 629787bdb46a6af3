"""The feed examples shipped commented in include/services.yaml work once uncommented."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
import yaml

from prodops.status.events import from_alertmanager, from_nagios
from prodops.status.registry import SERVICES_FILE, load_registry, parse_registry
from prodops.web.api.reports import reports_router
from prodops.web.app import URL_PREFIX

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def _example(title: str) -> str:
    """The block after ``# example: <title>`` up to ``# end example``, uncommented."""
    text = SERVICES_FILE.read_text()
    found = re.search(rf"^# example: {re.escape(title)}[^\n]*\n(.*?)^# end example$", text, re.M | re.S)
    assert found, f"no example {title!r} in {SERVICES_FILE}"
    return "".join(line[2:] if line.startswith("# ") else line[1:] for line in found[1].splitlines(True))


def _push_paths() -> set[str]:
    return {URL_PREFIX + route.path for route in reports_router(None, lambda: None).routes}


def test_the_pull_feed_examples_load_with_the_shipped_services():
    registry = load_registry()
    feeds = yaml.safe_load(_example("pull feeds"))["feeds"]
    services = [{"name": s.name} for s in registry.services]
    loaded = parse_registry({"services": services, "feeds": feeds}).feeds
    assert [(f.name, f.convention) for f in loaded] == [("statuspage", "statuspage"), ("site-monitor", "native")]
    assert dict(loaded[0].components) == {"Conditions database": "conditions-db"}
    assert {s.name for s in registry.services if s.feed == "statuspage"} == {"conditions-db"}


def test_the_alertmanager_example_posts_to_the_alertmanager_endpoint_with_a_token():
    config = yaml.safe_load(_example("Prometheus Alertmanager"))
    webhook = config["receivers"][0]["webhook_configs"][0]
    assert config["route"]["receiver"] == config["receivers"][0]["name"]
    assert urlsplit(webhook["url"]).path == f"{URL_PREFIX}/api/v1/alertmanager" in _push_paths()
    assert webhook["http_config"]["authorization"]["type"] == "Bearer"
    alert = {
        "status": "firing",
        "labels": {"service": "fts", "alertname": "FTSDown"},
        "annotations": {},
        "startsAt": "2026-12-02T11:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "f1",
    }
    events = from_alertmanager({"version": "4", "status": "firing", "alerts": [alert]}, feed="alertmanager", now=NOW)
    assert [(e.service, e.state.value) for e in events] == [("fts", "down")]


@pytest.mark.skipif(shutil.which("jq") is None, reason="the Icinga example's script uses jq")
def test_the_icinga_example_script_posts_a_check_result_prodops_reads(tmp_path):
    script = tmp_path / "prodops-report.sh"
    script.write_text(_example("/etc/icinga2/scripts/prodops-report.sh"))
    (tmp_path / "bin").mkdir()
    curl = tmp_path / "bin" / "curl"  # stands in for curl: keeps the body and the URL
    curl.write_text(f'#!/bin/sh\ncat > {tmp_path}/body\nfor a; do last=$a; done\necho "$last" > {tmp_path}/url\n')
    curl.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "PRODOPS_SERVICE": "dcache",
        "EXIT_STATUS": "2",
        "OUTPUT": 'CRITICAL - pool "p12" offline',
    }
    subprocess.run(["sh", str(script)], env=env, check=True, timeout=30)
    assert urlsplit((tmp_path / "url").read_text().strip()).path == f"{URL_PREFIX}/api/v1/checks" in _push_paths()
    events = from_nagios(json.loads((tmp_path / "body").read_text()), feed="icinga", now=NOW)
    assert [(e.service, e.state.value, e.message) for e in events] == [
        ("dcache", "down", 'CRITICAL - pool "p12" offline')
    ]
    assert "check_command" in _example("Icinga 2") and 'event_command = "prodops-report"' in _example("Icinga 2")
