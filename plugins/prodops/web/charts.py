"""The pages' charts: server-rendered SVG with pygal, shown as images with a text alternative.

pygal draws from plain series in Python, so the request, campaign and (later) stats pages
chart what their JSON already holds, with no JavaScript library on the page and nothing to
keep in step between a server and a browser. Charts are embedded as ``data:`` images: an
SVG in an ``<img>`` runs no script, and every chart is beside a table of its figures.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Iterable
from typing import Any

import pygal
from pygal.style import Style

from prodops.constants import Outcome

OUTCOME_COLOURS = {
    Outcome.SUCCEEDED.value: "#1b7a43", Outcome.FAILED.value: "#c62828", Outcome.KILLED.value: "#7b1fa2",
    Outcome.HELD.value: "#8a5a00", Outcome.REMOVED.value: "#5f6b7a",
}
CATEGORY_COLOURS = {"service": "#1e63c4", "infrastructure": "#8a5a00", "code": "#c62828", "unknown": "#5f6b7a"}
"""The same hues as the pages' pills (templates/base.html), dark enough for text on white."""

_FONT = 'system-ui, "DejaVu Sans", sans-serif'


@dataclass(frozen=True)
class Chart:
    """An SVG chart as a ``data:`` URI, with the sentence that stands for it (its ``alt``)."""

    src: str
    alt: str

    def to_dict(self) -> dict[str, str]:
        return {"src": self.src, "alt": self.alt}


def _style(colours: tuple[str, ...]) -> Style:
    return Style(colors=colours, background="#ffffff", plot_background="#ffffff", foreground="#1d2430",
                 foreground_strong="#1d2430", foreground_subtle="#5d6776", font_family=_FONT,
                 label_font_family=_FONT, major_label_font_family=_FONT, legend_font_family=_FONT,
                 title_font_family=_FONT, value_font_family=_FONT, legend_font_size=13, label_font_size=12,
                 major_label_font_size=12, title_font_size=15)


def new_chart(kind: type[pygal.graph.graph.Graph], colours: tuple[str, ...], **options: Any) -> pygal.graph.graph.Graph:
    """A pygal chart in the pages' look (no script, fluid width, the house style); ``options`` add the rest."""
    return kind(js=[], width=720, explicit_size=False, disable_xml_declaration=True, margin=12,
                style=_style(colours), **options)


def data_uri(chart: pygal.graph.graph.Graph) -> str:
    svg = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def described(chart: pygal.graph.graph.Graph, what: str, parts: Iterable[str], sep: str = ", ") -> Chart:
    """The chart with the sentence that stands for it: "Bar chart of <what>: <each bar's figures>."."""
    return Chart(data_uri(chart), f"Bar chart of {what}: {sep.join(parts)}.")


def _time_label(iso: str, bucket_s: int) -> str:
    t = datetime.fromisoformat(iso)
    return t.strftime("%m-%d %H:%M") if bucket_s < 86400 else t.strftime("%Y-%m-%d")


def outcomes_chart(over_time: dict[str, Any]) -> Chart | None:
    """Attempts that ended per time bucket, stacked by outcome (``views.outcomes_over_time``)."""
    series = over_time["series"]
    if not series:
        return None
    names = [o for o in OUTCOME_COLOURS if o in series]
    chart = new_chart(
        pygal.StackedBar, tuple(OUTCOME_COLOURS[n] for n in names), height=300, legend_at_bottom=True,
        legend_at_bottom_columns=len(names), x_label_rotation=-30, truncate_label=-1, show_minor_x_labels=True,
        x_labels_major_every=max(1, len(over_time["times"]) // 8), show_y_guides=True,
        y_labels=_whole_numbers(max(sum(column) for column in zip(*series.values()))),
        title=f"Job attempts ended per {_bucket_name(over_time['bucket_s'])}, by outcome", print_values=False)
    chart.x_labels = [_time_label(t, over_time["bucket_s"]) for t in over_time["times"]]
    for name in names:
        chart.add(name, series[name])
    return described(chart, f"job attempts ended per {_bucket_name(over_time['bucket_s'])} from"
                            f" {chart.x_labels[0]} to {chart.x_labels[-1]} UTC",
                     (f"{sum(series[n]):,} {n}" for n in names))


def failures_chart(failures: dict[str, int]) -> Chart | None:
    """Failed attempts by triage category, one bar each."""
    if not failures:
        return None
    names = [c for c in CATEGORY_COLOURS if failures.get(c)]
    chart = new_chart(
        pygal.HorizontalBar, (CATEGORY_COLOURS[names[0]],), height=70 + 42 * len(names), show_legend=False,
        print_values=True, title="Failed attempts by triage category",
        y_labels=_whole_numbers(max(failures[n] for n in names)))
    chart.x_labels = names
    chart.add("failed attempts", [{"value": failures[n], "color": CATEGORY_COLOURS[n]} for n in names])
    return described(chart, "failed attempts by triage category", (f"{name} {failures[name]:,}" for name in names))


def _whole_numbers(top: int) -> list[int]:
    """Axis ticks for counts: whole numbers, about ten of them."""
    step = max(1, math.ceil(top / 10))
    return list(range(0, top + step, step))


def _bucket_name(seconds: int) -> str:
    if seconds % 86400 == 0:
        return "day" if seconds == 86400 else f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return "hour" if seconds == 3600 else f"{seconds // 3600} hours"
    return "minute" if seconds == 60 else f"{seconds // 60} minutes"
