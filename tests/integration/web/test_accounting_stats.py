"""The stats page and its JSON on the hand-computed accounting fixture: figures, filters, charts,
422 naming a bad filter, and every value escaped."""

from __future__ import annotations

import base64
import re
from datetime import date

import pytest

from prodops.accounting.rollup import roll_up
from prodops.accounting.stats import StatsFilter, stats
from prodops.store.db import connect
from tests.integration.test_accounting import (
    PURDUE,
    add_attempt,
    add_request,
    add_submission,
    first_submission,
    other_request,
    retry_and_debug,
)

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert('site')</script>"
WHOLE = {"day_from": "2026-11-01", "day_to": "2026-12-31"}


@pytest.fixture
def accounted(db_url):
    with connect(db_url) as conn:
        rid, _ = first_submission(conn)
        retry_and_debug(conn, rid)
        other_request(conn)
        hostile = add_request(conn, "h", "nova", HOSTILE, "reco")
        add_attempt(
            conn,
            add_submission(conn, hostile, "reco", 1, {}),
            0,
            exit_code=2,
            wall=36,
            cpu=18,
            where={**PURDUE, "site": HOSTILE, "cpu_model": HOSTILE},
        )
        conn.commit()
        roll_up(conn)
    return db_url


def test_figures_by_dimension_as_computed_by_hand(accounted):
    with connect(accounted) as conn:
        data = stats(
            conn, StatsFilter(day_from=date(2026, 11, 1), day_to=date(2026, 12, 31), experiment="nova", campaign="c1")
        )
    total = data.total
    assert (total.attempts, total.succeeded) == (7, 4)
    assert total.failure_rate == pytest.approx(3 / 7)
    assert total.cpu_efficiency == pytest.approx(
        (800 + 100 + 30 + 190 + 380 + 90 + 5) / (1000 + 500 + 300 + 200 + 400 + 100 + 50)
    )
    assert total.wasted_by_cause == {
        "failed": 500,
        "killed": 0,
        "held": 300,
        "removed": 0,
        "retried_away": 200,
        "debug_rerun": 50,
        "evicted": 400,
    }
    assert total.memory_use == pytest.approx((1500 + 2500) / (2000 + 2000))
    sites = {b.value: b for b in data.by["site"]}
    assert [b.value for b in data.by["site"]] == ["Wisconsin", "Purdue"]  # most wall hours first
    assert sites["Purdue"].failure_rate == 1.0 and sites["Wisconsin"].failure_rate == pytest.approx(1 / 5)
    assert sites["Purdue"].cpu_efficiency == pytest.approx(130 / 800)
    assert [b.value for b in data.by["time_window"]] == ["night", "lunch"]  # the day's order, from midnight
    assert {b.value: b.attempts for b in data.by["cpu_model"]} == {"AMD EPYC 7763": 5, "Intel Xeon Gold 6248": 2}
    assert {b.value: (b.wall_s, b.cpu_s) for b in data.by["stage"]} == {"reco": (2550, pytest.approx(1595))}


def test_filters_by_experiment_campaign_and_days(client, accounted):
    everything = client.get("/api/v1/stats", params=WHOLE).json()
    assert everything["total"]["attempts"] == 10 and everything["filters"]["experiment"] is None
    dune = client.get("/api/v1/stats", params={**WHOLE, "experiment": "dune"}).json()
    assert dune["total"]["attempts"] == 2 and [b["value"] for b in dune["by_site"]] == ["FNAL"]
    assert dune["total"]["wasted_by_cause"]["killed"] == 60
    day2 = client.get("/api/v1/stats", params={"day_from": "2026-12-01", "day_to": "2026-12-01"}).json()
    assert day2["total"]["attempts"] == 2
    nothing = client.get("/api/v1/stats", params={**WHOLE, "campaign": "none-such"}).json()
    assert nothing["total"]["attempts"] == 0 and nothing["total"]["failure_rate"] is None and nothing["by_site"] == []
    default = client.get("/api/v1/stats").json()["filters"]
    assert (date.fromisoformat(default["day_to"]) - date.fromisoformat(default["day_from"])).days == 29


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"day_from": "yesterday"}, "day_from"),
        ({"day_from": "2026-12-02", "day_to": "2026-12-01"}, "day_to"),
        ({"day_from": "2020-01-01", "day_to": "2026-12-01"}, "day_to"),
        ({"site": "Purdue"}, "site"),
        ({"experiment": "x" * 65}, "experiment"),
    ],
)
def test_a_bad_filter_is_422_naming_it(client, accounted, params, field):
    for path in ("/api/v1/stats", "/stats"):
        response = client.get(path, params=params)
        assert response.status_code == 422
        assert [e["loc"][-1] for e in response.json()["detail"]] == [field]


def test_page_draws_the_charts_with_their_words_and_escapes_everything(client, accounted):
    html = client.get("/stats", params={**WHOLE, "experiment": "nova"}).text
    for name in ("wasted", "stage", "site", "cpu_model", "time_window"):
        assert f'data-chart="{name}"><img src="data:image/svg+xml;base64,' in html
    assert (
        'alt="Bar chart of wasted wall time by cause: failed 8.9 min, held 5.0 min, retried away 3.3 min,'
        ' debug rerun 0.8 min, evicted 6.7 min."'
    ) in html  # (500 + 36) s failed
    assert "Bar chart of failure rate and cpu efficiency by site: Wisconsin: 20 % failed, cpu efficiency 84 %" in html
    assert 'data-figure="attempts">8<' in html and 'data-figure="wasted_hours">24 min<' in html  # 1486 s
    assert "<script>alert(" not in html and "&lt;script&gt;alert(&#39;site&#39;)&lt;/script&gt;" in html
    assert "None" not in re.sub(r"<[^>]+>", " ", html)
    site_svg = base64.b64decode(re.search(r'data-chart="site"><img src="data:image/svg\+xml;base64,([^"]+)"', html)[1])
    assert b"<script>alert(" not in site_svg and b"&lt;script&gt;alert(" in site_svg  # pygal escapes its labels
    empty = client.get("/stats", params={**WHOLE, "campaign": "none-such"}).text
    assert empty.count("No accounted attempt matches these filters.") >= 5


def test_page_and_json_show_the_phases_jobs_reported(client, db_url):
    from tests.integration.test_accounting_phases import fixture as phases_fixture

    with connect(db_url) as conn:
        phases_fixture(conn)
        conn.commit()
        roll_up(conn)
    answer = client.get("/api/v1/stats", params=WHOLE).json()
    assert [(p["phase"], p["attempts"], p["failed"], p["unfinished"]) for p in answer["by_phase"]] == [
        ("reco", 4, 1, 1), ("copy-in", 3, 0, 0), ("copy-out", 1, 0, 0)]
    html = client.get("/stats", params=WHOLE).text
    assert 'data-chart="phase"><img src="data:image/svg+xml;base64,' in html
    assert "Bar chart of cpu and wall time per phase: reco/reco: 14.8 cpu min of 22.0 wall min" in html
    assert 'data-row="reco/copy-in"' in html
    empty = client.get("/stats", params={**WHOLE, "campaign": "none-such"}).text
    assert "No job of these attempts reported a phase." in empty
