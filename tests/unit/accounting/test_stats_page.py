"""The stats page's filters and charts without a database: defaults, bad filters, chart sentences."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from prodops.accounting.stats import Breakdown, total_of
from prodops.web.stats import StatsQuery, rate_chart, stage_chart, time_unit, wasted_chart

TODAY = date(2026, 12, 2)


def test_without_dates_the_last_30_days_until_today():
    f = StatsQuery.model_validate({"experiment": "", "campaign": "c1"}).to_filter(TODAY)
    assert (f.day_from, f.day_to, f.experiment, f.campaign) == (date(2026, 11, 3), TODAY, None, "c1")
    f = StatsQuery.model_validate({"day_to": "2026-06-30"}).to_filter(TODAY)
    assert (f.day_from, f.day_to) == (date(2026, 6, 1), date(2026, 6, 30))


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"day_from": "2026-12-02", "day_to": "2026-12-01"}, "day_to", "is before day_from"),
        ({"day_from": "2025-01-01", "day_to": "2026-12-01"}, "day_to", "choose a shorter range"),
        ({"day_from": "2026-13-01"}, "day_from", "date"),
        ({"state": "running"}, "state", "Extra inputs"),
    ],
)
def test_a_bad_filter_names_its_field(query, field, words):
    with pytest.raises(ValidationError) as err:
        StatsQuery.model_validate(query)
    [error] = err.value.errors()
    assert error["loc"] == (field,) and words in error["msg"]


SITES = [
    Breakdown("Wisconsin", attempts=5, succeeded=4, wall_s=1750.0, cpu_s=1465.0, wasted_evicted_s=400.0),
    Breakdown("Purdue", attempts=2, succeeded=0, wall_s=800.0, cpu_s=130.0, wasted_failed_s=500.0, wasted_held_s=300.0),
]


def test_the_charts_say_their_figures_in_words():
    assert rate_chart("site", SITES).alt == (
        "Bar chart of failure rate and cpu efficiency by site: Wisconsin: 20 % failed, cpu efficiency 84 %;"
        " Purdue: 100 % failed, cpu efficiency 16 %."
    )
    total = total_of(SITES)
    assert (total.attempts, total.wasted_s) == (7, 1200.0)
    assert (
        wasted_chart(total).alt
        == "Bar chart of wasted wall time by cause: failed 8.3 min, held 5.0 min, evicted 6.7 min."
    )
    assert stage_chart([Breakdown("reco", wall_s=7200.0, cpu_s=3600.0)]).alt == (
        "Bar chart of cpu and wall time per stage: reco: 1.0 cpu h of 2.0 wall h."
    )


def test_a_chart_counts_in_hours_minutes_or_seconds_as_its_largest_value_needs():
    assert (time_unit(7200), time_unit(3599), time_unit(59)) == ((3600.0, "h"), (60.0, "min"), (1.0, "s"))
    assert stage_chart([Breakdown("run", wall_s=40.0, cpu_s=2.0)]).alt == (
        "Bar chart of cpu and wall time per stage: run: 2.0 cpu s of 40.0 wall s."
    )


def test_nothing_to_draw_without_attempts():
    assert rate_chart("site", []) is None and rate_chart("time_window", [Breakdown("night")]) is None
    assert wasted_chart(Breakdown("all")) is None and stage_chart([]) is None
