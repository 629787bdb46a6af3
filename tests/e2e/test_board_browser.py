"""The board as a person sees it: headless Chromium (Debian's, driven by Playwright) on the running
Airflow, logged in, on a board fed through the push API. Screenshots are kept in test-artifacts/board/."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from prodops.status import tokens
from prodops.store.db import connect

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "board"
CHROMIUM = os.environ.get("PRODOPS_CHROMIUM", "/usr/bin/chromium")
# The flags this machine needs: no sandbox as root, no background connections on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
RED = "rgb(198, 40, 40)"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.isoformat()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: scripts/install-browser.sh should have installed it")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        yield b
        b.close()


@pytest.fixture(scope="module")
def fed_board(airflow):
    """Status as the monitoring systems would push it: a down service, an outage in the past, a
    degraded alert, an upcoming maintenance window and an announcement."""
    with connect(airflow.prodops_db_url) as conn:
        _, token = tokens.issue(conn, "e2e-monitoring", services=["batch-pool", "conditions-db", "dcache", "fts",
                                                                  "samweb"])
        conn.commit()
    base = f"{airflow.base_url}/prodops/api/v1"
    headers = {"Authorization": f"Bearer {token}"}

    def post(path: str, body: dict) -> dict:
        r = requests.post(f"{base}/{path}", json=body, headers=headers, timeout=30)
        assert r.ok, r.text
        return r.json()

    # Icinga-style services report every 10 minutes (their staleness limit is 15); dcache was
    # down for 2 hours yesterday; batch-pool and fts (Alertmanager) only speak on change.
    events = [{"service": "batch-pool", "state": "up", "time": iso(NOW - timedelta(days=3))},
              {"service": "fts", "state": "up", "time": iso(NOW - timedelta(days=3))}]
    for k in range(3 * 24 * 6):
        t = NOW - timedelta(days=3) + k * timedelta(minutes=10)
        if t > NOW - timedelta(minutes=10):
            break
        dcache_down = NOW - timedelta(hours=30) <= t < NOW - timedelta(hours=28)
        events += [{"service": "samweb", "state": "up", "time": iso(t)},
                   {"service": "dcache", "state": "down" if dcache_down else "up", "time": iso(t)},
                   {"service": "conditions-db", "state": "operational", "time": iso(t)}]
    events.append({"service": "dcache", "state": "up", "time": iso(NOW - timedelta(minutes=2))})
    events.append({"service": "conditions-db", "state": "up", "time": iso(NOW - timedelta(minutes=2))})
    assert post("events", {"events": events})["stored"] == len(events)
    post("checks", {"service": "samweb", "exit_status": 2, "plugin_output": "CRITICAL - samweb not answering",
                    "execution_end": (NOW - timedelta(minutes=5)).timestamp()})
    post("alertmanager", {"version": "4", "status": "firing", "receiver": "prodops", "groupLabels": {},
                          "commonLabels": {}, "commonAnnotations": {}, "externalURL": "", "groupKey": "g",
                          "truncatedAlerts": 0, "alerts": [
        {"status": "firing", "labels": {"alertname": "FTSSlow", "service": "fts", "severity": "warning"},
         "annotations": {"summary": "FTS transfers slow"}, "startsAt": iso(NOW - timedelta(minutes=40)),
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "ftsslow"}]})
    post("maintenance", {"services": ["fts"], "start": iso(NOW + timedelta(days=1)),
                         "end": iso(NOW + timedelta(days=1, hours=4)), "reason": "FTS3 upgrade to 3.14"})
    post("announcements", {"text": "Keep-up reconstruction paused until the dCache pool migration ends.",
                           "severity": "warning"})
    return airflow


def logged_in_page(browser, airflow, width: int = 1280, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=airflow.base_url)
    context.add_cookies([{"name": "_token", "value": airflow.token(), "url": airflow.base_url}])
    return context, context.new_page()


def test_board_reads_at_a_glance(browser, fed_board):
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    context, page = logged_in_page(browser, fed_board)
    try:
        page.goto("/prodops/", wait_until="load")
        page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)

        assert page.locator("h1").inner_text() == "Service board"
        overall = page.locator("#overall")
        assert overall.inner_text().startswith("1 service down")
        assert overall.evaluate("e => getComputedStyle(e).backgroundColor") == RED

        banner = page.locator(".announcement").first
        assert banner.is_visible() and "Keep-up reconstruction paused" in banner.inner_text()
        assert "e2e-monitoring" in banner.inner_text()  # a feeder's announcement is its own

        samweb = page.locator('section[data-service="samweb"]')
        pill = samweb.locator(".state").first
        assert pill.inner_text() == "DOWN" and pill.evaluate("e => getComputedStyle(e).backgroundColor") == RED
        assert "since" in samweb.locator(".since").inner_text()
        assert page.locator('section[data-service="fts"] .state').first.inner_text() == "DEGRADED"
        assert page.locator('section[data-service="dcache"] .state').first.inner_text() == "UP"

        for name in ("samweb", "dcache", "fts", "conditions-db", "batch-pool"):
            assert page.locator(f'section[data-service="{name}"] .bar').count() == 30

        dcache = page.locator('section[data-service="dcache"]')
        dcache.locator("summary").click()
        outage = dcache.locator("table.outages tr").nth(1)
        assert outage.is_visible() and "2 h 0 min" in outage.inner_text() and "down" in outage.inner_text().lower()
        uptime_24h = dcache.locator(".uptime b").first.inner_text()
        assert uptime_24h == "100.00 %"  # the outage was 28-30 h ago
        assert dcache.locator(".uptime b").nth(1).inner_text() == f"{100 * 70 / 72:.2f} %"  # 7 d: 3 d known, 2 h down

        maintenance = page.locator("#maintenance")
        assert "FTS3 upgrade to 3.14" in maintenance.inner_text() and "fts" in maintenance.inner_text()
        page.screenshot(path=str(ARTIFACTS / "board-outage-open.png"), full_page=True)
    finally:
        context.close()


def test_board_is_a_navigation_entry_inside_the_airflow_ui(browser, fed_board):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page = logged_in_page(browser, fed_board, height=1000)
    try:
        page.goto("/plugin/service-board", wait_until="load")
        frame = page.frame_locator("iframe").first
        heading = frame.locator("h1")
        heading.wait_for(timeout=60_000)
        assert heading.inner_text() == "Service board"
        nav = page.locator('a[href$="/plugin/service-board"], a[href$="plugin/service-board"]')
        nav.first.wait_for(timeout=30_000)
        time.sleep(1)  # let the UI finish painting before the picture
        page.screenshot(path=str(ARTIFACTS / "board-in-airflow-ui.png"))
    finally:
        context.close()


def test_active_announcement_is_an_airflow_dashboard_alert(fed_board):
    deadline = time.monotonic() + 45  # the alerts are cached for 30 s
    while True:
        alerts = fed_board.call("GET", "/ui/config")["dashboard_alert"]
        if any("Keep-up reconstruction paused" in a["text"] for a in alerts) or time.monotonic() > deadline:
            break
        time.sleep(2)
    [alert] = [a for a in alerts if "Keep-up reconstruction paused" in a["text"]]
    assert alert["category"] == "warning" and "e2e-monitoring" in alert["text"]


def test_a_person_posts_and_ends_an_announcement_and_is_told_what_is_wrong(browser, fed_board):
    context, page = logged_in_page(browser, fed_board)
    try:
        page.goto("/prodops/", wait_until="load")
        page.locator("#post summary").click()
        form = page.locator("form#announce")
        form.locator("textarea[name=text]").fill("Tape robot down tonight: hold merge requests")
        form.locator("select[name=severity]").select_option("critical")
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        posted = page.locator(".announcement.critical", has_text="Tape robot down tonight")
        assert posted.is_visible() and "admin" in posted.inner_text()  # the Airflow user, source manual

        page.locator("#post summary").click()
        window = page.locator("form#maintain")
        window.locator("select[name=services]").select_option(["fts"])
        day = (NOW + timedelta(days=30)).strftime("%Y-%m-%d")  # times are accepted up to a year ahead
        window.locator("input[name=start]").fill(f"{day}T10:00")
        window.locator("input[name=end]").fill(f"{day}T09:00")
        window.locator("input[name=reason]").fill("backwards window")
        window.locator("button[type=submit]").click()
        error = page.locator("#post-error")
        error.wait_for(state="visible")
        assert "end:" in error.inner_text() and "is not after start" in error.inner_text()
        page.screenshot(path=str(ARTIFACTS / "board-post-error.png"), full_page=False)

        with page.expect_navigation():
            posted.locator("[data-end-announcement]").click()
        assert page.locator(".announcement", has_text="Tape robot down tonight").count() == 0
    finally:
        context.close()


def test_an_inferred_outage_is_shown_apart_and_a_person_closes_it(browser, fed_board, airflow, tmp_path, monkeypatch):
    """Twenty-five jobs fail with XRootD's "no servers" while monitoring says dCache is up: triage
    posts an inferred outage; the board shows it with its evidence; a person closes it there."""
    from prodops.status.inferred import infer_outages
    from prodops.triage.service import triage_stage
    from tests.integration.status.inferred_stage import NOW, classifier, run_stage, xrootd_failures

    url = airflow.prodops_db_url  # the fed board says dCache is up (its feed spoke two minutes ago)
    monkeypatch.setenv("AIRFLOW_CONN_PRODOPS_DB", url)
    rid, _ = run_stage(url, tmp_path, xrootd_failures(), run_id="manual__e2e_inferred", cluster=990)
    summary = triage_stage(url, rid, "run", now=NOW, classifier=classifier())
    assert [o["service"] for o in summary["inferred_outages"]["opened"]] == ["dcache"]

    context, page = logged_in_page(browser, airflow)
    try:
        page.goto("/prodops/")
        badge = page.locator("[data-inferred] .badge").first
        badge.wait_for(timeout=30_000)
        assert badge.inner_text().startswith("inferred from 25 failed jobs")
        page.screenshot(path=str(ARTIFACTS / "board-inferred-outage.png"), full_page=True)
        page.locator("[data-review-action=close]").first.click()
        page.wait_for_function("document.querySelectorAll('[data-inferred] .badge').length === 0", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "board-inferred-outage-closed.png"), full_page=True)
    finally:
        context.close()
    assert infer_outages(url, now=NOW).opened == []  # closed by a person: the same failures do not reopen it
