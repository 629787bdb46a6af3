"""The pages as an operator and an approver walk them (issue 18), in headless Chromium on the running
Airflow: trigger a request from the Airflow trigger form, approve it in Required Actions (the approved
priority starts at the requested one), then the request page while it runs and after, the triage page,
one failed attempt (and the group of a failure no rule explains, with its probable cause), the campaign page, the request list, the board and the grid hours (stats) page. axe-core checks every prodops
page and the test fails on a serious or critical violation; a screenshot of each page and axe's
findings are kept in test-artifacts/pages/."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from prodops.accounting.rollup import roll_up
from prodops.store.db import connect

from .test_board_browser import browser, logged_in_page  # noqa: F401  (the module's Chromium fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "pages"
DAG = "production_request"
CAMPAIGN = "pages-walk"
HOSTILE = "<script>alert('justification')</script>"
FORM = {"experiment": "nova", "campaign": CAMPAIGN, "workflow": "demo-grid", "n_jobs": 8, "request_memory_mb": 100,
        "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 40, "contact": "paola@example.org",
        "justification": f"Walk the pages {HOSTILE}",
        "workflow_options": {"sleep_s": 4, "fail_exit": [1], "fail_signal": [2], "exceed_memory": [3],
                             "fail_unexplained": [4]}}
BLOCKING = ("serious", "critical")


class Walk:
    """One browser page walking the prodops pages: axe and a screenshot at each stop."""

    def __init__(self, page) -> None:
        self.page = page
        self.findings: dict[str, list[dict]] = {}
        self.dialogs: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def check(self, name: str) -> None:
        """Screenshot the page, run axe-core on it, keep every finding; serious or critical ones fail."""
        from axe_playwright_python.sync_playwright import Axe

        self.page.wait_for_load_state("load")
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        violations = Axe().run(self.page).response["violations"]
        self.findings[name] = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                                "nodes": [n["html"][:300] for n in v["nodes"]][:10]} for v in violations]
        (ARTIFACTS / "axe.json").write_text(json.dumps(self.findings, indent=1))
        blocking = [f"{v['id']} ({v['impact']}): {v['help']}: {v['nodes'][:3]}"
                    for v in self.findings[name] if v["impact"] in BLOCKING]
        assert not blocking, f"axe-core on {name} ({self.page.url}):\n" + "\n".join(blocking)


@pytest.fixture(scope="module")
def fed(airflow):
    """dCache and SAM web reported up (demo-grid needs both), a SAM web upgrade in three days, and an
    earlier request of the campaign that an approver rejected."""
    now = datetime.now(timezone.utc)  # `manual` events are a person's word: posted with the Airflow login
    base, headers = f"{airflow.base_url}/prodops/api/v1", {"Authorization": f"Bearer {airflow.token()}"}
    # `manual`: up on every stream, whatever an earlier module's feeds said (the board's Icinga check: samweb CRITICAL)
    for path, body in [("events", {"events": [{"service": s, "state": "up", "source": "manual"}
                                              for s in ("dcache", "samweb")]}),
                       ("maintenance", {"services": ["samweb"], "start": (now + timedelta(days=3)).isoformat(),
                                        "end": (now + timedelta(days=3, hours=2)).isoformat(),
                                        "reason": "SAM web upgrade <b>v9</b>"})]:
        assert requests.post(f"{base}/{path}", json=body, headers=headers, timeout=30).ok
    airflow.unpause(DAG)
    earlier = airflow.trigger(DAG, {**FORM, "n_jobs": 2, "justification": "an earlier request of the campaign"})
    airflow.wait_for_task_state(DAG, earlier, "await_approval", ["awaiting_input"], timeout=180)
    airflow.answer_hitl(DAG, earlier, "await_approval", ["Reject"], {"approved_priority": 40, "note": "too early"})
    assert airflow.wait_for_run(DAG, earlier, timeout=180) in ("success", "failed")
    return airflow


def trigger_from_the_form(page, airflow) -> str:
    """Fill the DAG's trigger form as an operator does and submit it; returns the new run's id."""
    before = {r["dag_run_id"] for r in airflow.call("GET", f"/api/v2/dags/{DAG}/dagRuns")["dag_runs"]}
    page.goto(f"/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog")
    form.locator("#element_experiment").fill(FORM["experiment"])
    form.locator("#element_campaign").fill(FORM["campaign"])
    workflow = form.locator("#element_workflow input[role=combobox]")
    workflow.fill(FORM["workflow"])
    workflow.press("Enter")
    for field in ("n_jobs", "request_memory_mb", "request_disk_mb", "max_wall_time_min", "priority"):
        form.locator(f'[id="number-input:element_{field}"] input').fill(str(FORM[field]))
    form.locator("#element_justification").fill(FORM["justification"])
    form.locator("#element_contact").fill(FORM["contact"])
    form.locator("#element_workflow_options .view-lines").click()  # a code editor: replace its text whole
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(json.dumps(FORM["workflow_options"]))
    page.keyboard.press("Shift+Control+End")  # the editor closes brackets itself: drop what it added
    page.keyboard.press("Delete")
    page.screenshot(path=str(ARTIFACTS / "01-trigger-form.png"), full_page=True)
    form.get_by_test_id("trigger-dag-submit").click()
    deadline = time.monotonic() + 60
    while True:
        runs = airflow.call("GET", f"/api/v2/dags/{DAG}/dagRuns")["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in before]
        if new:
            [run] = new
            assert run["conf"]["workflow"] == "demo-grid" and run["conf"]["workflow_options"] == FORM["workflow_options"]
            return run["dag_run_id"]
        assert time.monotonic() < deadline, "the trigger form made no run"
        time.sleep(1)


def approve_in_required_actions(page, airflow, run_id: str) -> None:
    """The approver opens the gate's Required Action: the priority field already holds the requested
    priority, and the body shows the totals, the services now, maintenance and the campaign."""
    airflow.wait_for_task_state(DAG, run_id, "await_approval", ["awaiting_input"], timeout=180)
    page.goto(f"/dags/{DAG}/runs/{quote(run_id, safe='')}/tasks/await_approval/required_actions")
    approve = page.get_by_test_id("hitl-option-Approve")
    approve.wait_for(timeout=60_000)
    priority = page.locator('[id="number-input:element_approved_priority"] input')
    assert priority.input_value() == str(FORM["priority"])  # the requested priority, not a fixed default
    text = page.locator("body").inner_text()
    assert "Jobs in all: 8" in text and "Core-hours requested: 1.3" in text  # 8 jobs x 10 min x 1 core
    assert "Memory in all: 800 MB" in text and "dcache: up" in text and "samweb: up" in text
    assert "SAM web upgrade <b>v9</b>" in text  # shown verbatim, never rendered
    assert "rejected, no job ran (too early)" in text
    assert HOSTILE in text
    page.screenshot(path=str(ARTIFACTS / "02-approve.png"), full_page=True)
    airflow.wait_until_answerable(DAG, run_id, "await_approval")
    assert approve.is_enabled()  # no note needed: an approver may only click Approve
    approve.click()
    airflow.wait_for_task_state("workflow_demo-grid", run_id, "preflight",
                                ["running", "deferred", "success", "up_for_reschedule"], timeout=120)


def request_id_of(airflow, run_id: str) -> int:
    with connect(airflow.prodops_db_url) as conn:
        row = conn.execute("SELECT id, priority FROM requests WHERE run_id = %(r)s", {"r": run_id}).fetchone()
    assert row["priority"] == FORM["priority"]  # approved as requested
    return row["id"]


def test_trigger_approve_and_walk_every_page(browser, fed):  # noqa: F811
    airflow = fed
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    context, page = logged_in_page(browser, airflow, height=1000)
    context.set_default_timeout(60_000)
    walk = Walk(page)
    try:
        run_id = trigger_from_the_form(page, airflow)
        approve_in_required_actions(page, airflow, run_id)
        rid = request_id_of(airflow, run_id)

        # the request page while the jobs run: its figures change without a reload
        airflow.wait_for_task_state("workflow_demo-grid", run_id, "run.track_stage", ["deferred"], timeout=180)
        page.goto(f"/prodops/requests/{rid}")
        main = page.locator("main#content")
        assert main.get_attribute("data-live") == "true"
        page.evaluate("window.__notReloaded = true")
        first_stamp = page.locator("#updated time").get_attribute("datetime")
        walk.check("03-request-running")
        page.wait_for_function("s => document.querySelector('#updated time').dateTime !== s", arg=first_stamp,
                               timeout=60_000)
        assert page.evaluate("window.__notReloaded") is True
        page.screenshot(path=str(ARTIFACTS / "03-request-running-refreshed.png"), full_page=True)

        # when the request ends the page says so by itself, and stops polling
        airflow.wait_for_run(DAG, run_id, timeout=420)
        page.wait_for_function("document.querySelector('#updated .how').textContent.includes('finished')",
                               timeout=60_000)
        assert page.evaluate("window.__notReloaded") is True
        assert page.locator("[data-part=summary] .pill[data-state]").inner_text() in ("failed", "succeeded")
        page.reload()
        assert page.locator('[data-figure="jobs"]').inner_text() == "8"
        assert int(page.locator('[data-figure="failed"]').inner_text()) >= 2
        for chart in ("outcomes", "failures"):
            image = page.locator(f'figure[data-chart="{chart}"] img')
            assert image.evaluate("i => i.complete && i.naturalWidth > 0"), chart
        walk.check("04-request")

        # the triage page, then one failed attempt opened with the keyboard
        page.get_by_role("link", name="Triage of the failed jobs").click()
        page.wait_for_url(f"**/prodops/triage/{rid}")
        assert page.locator('[data-figure="failed"]').inner_text() != "0"
        code_pill = page.locator("main .pill.c-code").first
        assert code_pill.evaluate("e => getComputedStyle(e).color") == "rgb(29, 36, 48)"  # dark text on pale
        # job 4's failure no knowledge explains: grouped by its signature, pointing at its own line. No
        # rule decides it (fallback), unless a needed service's outage overlapped its run (an earlier
        # module's, within triage's margin): then the outage speaks (outage:<service>), the line stays.
        unexplained = page.locator("main tbody tr", has_text="calibration table for run 1004 has 63 channels")
        assert unexplained.count() >= 1
        for i in range(unexplained.count()):
            row = unexplained.nth(i)
            assert row.locator("[data-signature]").count() == 1 and "probable cause:" in row.inner_text()
            rule = row.locator("td").nth(2).locator("code").inner_text()
            assert rule == "fallback" or rule.startswith("outage:"), rule
        walk.check("05-triage")
        sample = page.locator("tbody td:last-child a").first
        sample.focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**/prodops/triage/attempts/**")
        assert "None" not in page.locator("main").inner_text()
        walk.check("06-attempt")

        # the campaign: both requests, their progress and failures, its charts
        page.get_by_role("link", name=f"Request {rid}").click()
        page.get_by_role("link", name=f"Campaign nova / {CAMPAIGN}").click()
        page.wait_for_url(f"**/prodops/campaigns/nova/{CAMPAIGN}")
        rows = page.locator("tbody tr[data-request]")
        assert rows.count() == 2
        assert "rejected" in rows.nth(0).inner_text() and f"request {rid}" in rows.nth(1).inner_text()
        assert rows.nth(1).locator(f'a[href$="/triage/{rid}"]').count() >= 1  # failures link to triage
        walk.check("07-campaign")

        # the request list: filtered with the keyboard, paged
        page.goto("/prodops/requests/")
        page.locator("#f-state").focus()
        page.locator("#f-state").select_option("rejected")
        page.get_by_role("button", name="Filter").focus()
        page.keyboard.press("Enter")
        page.wait_for_url("**state=rejected**")
        assert page.locator("tbody tr[data-request]").count() == 1
        walk.check("08-requests-filtered")
        page.goto(f"/prodops/requests/?campaign={CAMPAIGN}&per_page=1")  # other modules add requests too
        assert "page 1 of 2" in page.locator("#matched").inner_text()
        walk.check("09-requests")
        page.goto("/prodops/")
        walk.check("10-board")

        # grid hours: the request's attempts accounted (as the job_accounting DAG does), by site and cause
        with connect(airflow.prodops_db_url) as conn:
            roll_up(conn)
        page.goto("/prodops/requests/")
        page.get_by_role("link", name="Grid hours").click()
        page.wait_for_url("**/prodops/stats")
        page.locator("#f-campaign").select_option(CAMPAIGN)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(f"**campaign={CAMPAIGN}**")
        assert int(page.locator('[data-figure="attempts"]').inner_text().replace(",", "")) >= FORM["n_jobs"]
        for chart in ("stage", "site", "cpu_model", "time_window"):
            image = page.locator(f'figure[data-chart="{chart}"] img')
            assert image.evaluate("i => i.complete && i.naturalWidth > 0"), chart
        assert page.locator("tr[data-cause]").count() == 7  # wasted hours by every cause, drawn where not 0
        walk.check("11-stats")

        assert walk.dialogs == []  # nothing untrusted ran as script anywhere
    finally:
        context.close()


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(browser, airflow):  # noqa: F811
    context, page = logged_in_page(browser, airflow)
    try:
        page.goto("/prodops/requests/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#content"
    finally:
        context.close()
