"""The request page shows each debug rerun beside the attempt it reruns; the triage page links each
group to the debug_rerun form with its values (real local pool, PostgreSQL and the prodops app)."""

from __future__ import annotations

import html
import json
import re

import pytest

from prodops.rerun.views import trigger_href
from tests.integration.test_debug_rerun import CODE_JOB, backend, failed_request, rerun  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration


def test_the_request_page_shows_original_and_rerun_side_by_side(client, db_url, backend, failed_request):  # noqa: F811
    request_id, first = failed_request
    made = rerun(db_url, backend, request_id)
    page = client.get(f"/requests/{request_id}").text
    row = re.search(r'<tr data-rerun="%d\.0">(.*?)</tr>' % made.submission_id, page, re.S)
    assert row, "no side-by-side row for the rerun"
    original, debug = re.findall(r'<td data-side="(?:original|rerun)">(.*?)</td>', row.group(1), re.S)
    for side, attempt in ((original, 1), (debug, 2)):
        assert f"attempt {attempt}" in side and "exit 65" in side and "art:ProductNotFound" in side
        assert "getByLabel" in side  # the evidence line, for both
    assert "DEBUG config: log_level = trace" in debug and "DEBUG" not in original  # the tails differ
    assert f"triage/attempts/{first}/{CODE_JOB}" in original and f"triage/attempts/{made.submission_id}/0" in debug

    [pair] = client.get(f"/api/v1/requests/{request_id}").json()["debug_reruns"]
    assert (pair["job_index"], pair["original"]["attempt"], pair["rerun"]["attempt"]) == (CODE_JOB, 1, 2)
    assert pair["rerun"]["category"] == "code" and pair["settings"]["level"] == "trace"


def test_a_request_without_reruns_has_no_rerun_section(client, db_url, failed_request):  # noqa: F811
    request_id, _ = failed_request
    assert 'id="debug-reruns"' not in client.get(f"/requests/{request_id}").text
    assert client.get(f"/api/v1/requests/{request_id}").json()["debug_reruns"] == []


def test_the_triage_page_links_each_group_to_the_filled_in_rerun_form(client, db_url, failed_request):  # noqa: F811
    request_id, _ = failed_request
    [group] = client.get(f"/api/v1/triage/{request_id}").json()["groups"]
    conf = group["rerun_conf"]
    assert conf == {"request_id": request_id, "stage": "", "job_indexes": [], "category": "code",
                    "signature": group["signature"], "site": "", "level": "debug"}
    page = client.get(f"/triage/{request_id}").text
    assert "<summary>rerun with debug</summary>" in page  # no link inside the summary: one control each
    link = re.search(r'<a href="([^"]+)" data-rerun-conf="([^"]+)">Trigger <code>debug_rerun</code></a>', page)
    assert link and link.group(1) == "/dags/debug_rerun"
    assert json.loads(html.unescape(link.group(2))) == conf


def test_the_link_goes_to_the_airflow_ui_the_app_is_mounted_in():
    assert trigger_href("/prodops/") == "/dags/debug_rerun"
    assert trigger_href("/airflow/prodops/") == "/airflow/dags/debug_rerun"
    assert trigger_href("/") == "/dags/debug_rerun"
