"""The stats page (``/stats``) and its JSON twin (``/api/v1/stats``): where the grid hours went.

Failure rate and cpu efficiency by site, by CPU model and by time-of-day window, wasted hours
by cause and cpu/wall hours per stage, from the accounting rollup (prodops.accounting.stats),
filtered by experiment, campaign and the days the attempts ended. Charts are drawn as the other
pages' are (prodops.web.charts: pygal SVG as ``data:`` images, each with its sentence and a
table of its figures). Mounted with ``app.include_router(stats_router(pool, viewer))``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

import pygal
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field, ValidationInfo, field_validator

from prodops.accounting.definitions import WasteCause
from prodops.accounting.stats import Breakdown, PhaseFigures, Stats, StatsFilter, stats
from prodops.forms import FormModel
from prodops.web.charts import Chart, described, new_chart

DEFAULT_DAYS = 30
"""Without dates the page shows the attempts that ended in the last 30 days (UTC), today included."""
MAX_DAYS = 400
MAX_BARS = 15
"""A chart draws the 15 sites or CPU models that used the most wall time; the tables list all."""

DIMENSION_TITLES = {"site": "site", "cpu_model": "CPU model", "time_window": "time window (the site's local time)"}
CAUSE_COLOURS = {
    WasteCause.FAILED.value: "#c62828",
    WasteCause.KILLED.value: "#7b1fa2",
    WasteCause.HELD.value: "#8a5a00",
    WasteCause.REMOVED.value: "#5f6b7a",
    WasteCause.RETRIED_AWAY.value: "#1e63c4",
    WasteCause.DEBUG_RERUN.value: "#00695c",
    WasteCause.EVICTED.value: "#ad1457",
}


class StatsQuery(FormModel):
    """The page's filters, each optional: an experiment, a campaign, and the days attempts ended (UTC)."""

    experiment: str | None = Field(None, max_length=64, description="Only this experiment's requests.")
    campaign: str | None = Field(None, max_length=128, description="Only this campaign's requests.")
    day_from: date | None = Field(
        None, description=f"Attempts that ended on or after this day (default: {DEFAULT_DAYS} days before day_to)."
    )
    day_to: date | None = Field(None, description="Attempts that ended on or before this day (default: today, UTC).")

    @field_validator("day_to")
    @classmethod
    def _after_day_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("day_from")
        if value is not None and start is not None:
            if value < start:
                raise ValueError(f"day_to {value} is before day_from {start}: give day_to on or after day_from")
            if (value - start).days >= MAX_DAYS:
                raise ValueError(f"day_from to day_to spans more than {MAX_DAYS} days: choose a shorter range")
        return value

    def to_filter(self, today: date) -> StatsFilter:
        day_to = self.day_to or today
        day_from = self.day_from or min(day_to, today) - timedelta(days=DEFAULT_DAYS - 1)
        return StatsFilter(day_from=day_from, day_to=day_to, experiment=self.experiment, campaign=self.campaign)


def time_unit(seconds: float) -> tuple[float, str]:
    """Seconds per unit and its symbol for a chart whose largest value is ``seconds``: hours from
    an hour up, else minutes, else seconds (a test pool's jobs last seconds)."""
    if seconds >= 3600:
        return 3600.0, "h"
    return (60.0, "min") if seconds >= 60 else (1.0, "s")


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def rate_chart(dimension: str, rows: Sequence[Breakdown]) -> Chart | None:
    """Failure rate and cpu efficiency (both %) of each site, CPU model or time window."""
    drawn = (
        [b for b in rows if b.attempts][:MAX_BARS] if dimension != "time_window" else [b for b in rows if b.attempts]
    )
    if not drawn:
        return None
    title = DIMENSION_TITLES[dimension]
    chart = new_chart(
        pygal.HorizontalBar,
        ("#c62828", "#1b7a43"),
        height=110 + 46 * len(drawn),
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        print_values=False,
        range=(0, 100),
        truncate_label=40,
        title=f"Failure rate and cpu efficiency by {title}",
        value_formatter=lambda v: f"{v:.0f} %",
    )
    chart.x_labels = [b.value for b in drawn]
    chart.add("failure rate", [_pct(b.failure_rate) for b in drawn])
    chart.add("cpu efficiency", [_pct(b.cpu_efficiency) for b in drawn])
    return described(
        chart,
        f"failure rate and cpu efficiency by {title}",
        (f"{b.value}: {_percent(b.failure_rate)} failed, cpu efficiency {_percent(b.cpu_efficiency)}" for b in drawn),
        sep="; ",
    )


def wasted_chart(total: Breakdown) -> Chart | None:
    """Wasted wall time by cause, one bar each."""
    causes = [(c, s) for c, s in total.wasted_by_cause.items() if s > 0]
    if not causes:
        return None
    per, unit = time_unit(max(s for _, s in causes))
    chart = new_chart(
        pygal.HorizontalBar,
        (CAUSE_COLOURS[causes[0][0]],),
        height=70 + 42 * len(causes),
        show_legend=False,
        print_values=True,
        title=f"Wasted wall time by cause ({unit})",
        value_formatter=lambda v: f"{v:,.1f} {unit}",
    )
    chart.x_labels = [c.replace("_", " ") for c, _ in causes]
    chart.add("wasted", [{"value": s / per, "color": CAUSE_COLOURS[c]} for c, s in causes])
    return described(
        chart, "wasted wall time by cause", (f"{c.replace('_', ' ')} {s / per:,.1f} {unit}" for c, s in causes)
    )


def cpu_wall_chart(of: str, bars: Sequence[tuple[str, float, float]], **options: Any) -> Chart | None:
    """CPU time beside wall time of each (label, cpu s, wall s): "cpu and wall time per ``of``"."""
    drawn = [(label, cpu, wall) for label, cpu, wall in bars if cpu or wall]
    if not drawn:
        return None
    per, unit = time_unit(max(max(cpu, wall) for _, cpu, wall in drawn))
    chart = new_chart(
        options.pop("kind", pygal.Bar),
        ("#1e63c4", "#5f6b7a"),
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        print_values=False,
        title=f"CPU and wall time per {of} ({unit})",
        value_formatter=lambda v: f"{v:,.1f} {unit}",
        **options,
    )
    chart.x_labels = [label for label, _, _ in drawn]
    chart.add("cpu", [cpu / per for _, cpu, _ in drawn])
    chart.add("wall", [wall / per for _, _, wall in drawn])
    return described(
        chart,
        f"cpu and wall time per {of}",
        (f"{label}: {cpu / per:,.1f} cpu {unit} of {wall / per:,.1f} wall {unit}" for label, cpu, wall in drawn),
        sep="; ",
    )


def stage_chart(rows: Sequence[Breakdown]) -> Chart | None:
    return cpu_wall_chart("stage", [(b.value, b.cpu_s, b.wall_s) for b in rows], height=320)


def phase_chart(phases: Sequence[PhaseFigures]) -> Chart | None:
    """Labelled stage/phase; horizontal, as there may be many."""
    drawn = [(f"{p.stage}/{p.phase}", p.cpu_s, p.wall_s) for p in phases if p.cpu_s or p.wall_s][:MAX_BARS]
    return cpu_wall_chart("phase", drawn, kind=pygal.HorizontalBar, height=110 + 46 * len(drawn), truncate_label=40)


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.0f} %"


def stats_charts(data: Stats) -> dict[str, Chart | None]:
    return {
        **{d: rate_chart(d, data.by[d]) for d in DIMENSION_TITLES},
        "wasted": wasted_chart(data.total),
        "stage": stage_chart(data.by["stage"]),
        "phase": phase_chart(data.phases),
    }


def stats_router(pool: Any, viewer: Callable[..., Any]) -> APIRouter:
    """Routes for people with Airflow's view permission (``viewer``); ``pool`` lends connections."""
    router = APIRouter(dependencies=[Depends(viewer)])

    def _stats(query: StatsQuery) -> Stats:
        with pool.connection() as conn:
            return stats(conn, query.to_filter(datetime.now(timezone.utc).date()))

    @router.get(
        "/api/v1/stats", summary="Grid hours: failure rate, cpu efficiency, wasted hours by site, CPU, window, stage"
    )
    def get_stats(query: Annotated[StatsQuery, Query()]) -> dict[str, Any]:
        return _stats(query).to_dict()

    @router.get("/stats", response_class=HTMLResponse, summary="The stats page: where the grid hours went")
    def stats_page(request: Request, query: Annotated[StatsQuery, Query()]) -> HTMLResponse:
        from prodops.request.views import filter_choices
        from prodops.web.render import render_template
        from prodops.web.requests import root_of

        data = _stats(query)
        with pool.connection() as conn:
            choices = filter_choices(conn)
        return HTMLResponse(
            render_template(
                "stats.html",
                data=data,
                charts=stats_charts(data),
                choices=choices,
                root=root_of(request),
                titles=DIMENSION_TITLES,
                causes=[c.value for c in WasteCause],
                filtered=any(v is not None for v in query.model_dump().values()),
            )
        )

    return router
