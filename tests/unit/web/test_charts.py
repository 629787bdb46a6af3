"""The pages' charts: pygal SVG as data images, each with a sentence that stands for it."""

from __future__ import annotations

import base64

from prodops.web.charts import failures_chart, outcomes_chart

OVER_TIME = {"bucket_s": 300, "times": ["2026-12-01T07:00:00+00:00", "2026-12-01T07:05:00+00:00"],
             "series": {"succeeded": [3, 4], "held": [0, 1], "failed": [2, 0]}}


def svg(src: str) -> str:
    prefix = "data:image/svg+xml;base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix):]).decode()


def test_outcomes_over_time_is_a_stacked_bar_chart_with_its_totals_in_words():
    chart = outcomes_chart(OVER_TIME)
    assert chart.alt == ("Bar chart of job attempts ended per 5 minutes from 12-01 07:00 to 12-01 07:05 UTC:"
                         " 7 succeeded, 2 failed, 1 held.")  # outcomes in the vocabulary's order
    drawn = svg(chart.src)
    assert drawn.startswith("<svg") and "Job attempts ended per 5 minutes, by outcome" in drawn
    assert "#1b7a43" in drawn and "kozea.github.io" not in drawn  # our colours; no script fetched from anywhere


def test_failures_by_category_in_words_and_nothing_to_draw_without_data():
    chart = failures_chart({"code": 4, "service": 2})
    assert chart.alt == "Bar chart of failed attempts by triage category: service 2, code 4."
    assert "Failed attempts by triage category" in svg(chart.src)
    assert failures_chart({}) is None
    assert outcomes_chart({"bucket_s": None, "times": [], "series": {}}) is None
