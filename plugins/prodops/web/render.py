"""Server-side rendering of the pages (Jinja2, autoescaped; no JavaScript framework).

A missing value renders as nothing, never as ``None``: templates say what stands in its place.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from prodops.rerun.views import trigger_href

TEMPLATES = Path(__file__).parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=lambda value: "" if value is None else value,
)


def _when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | None) -> str:
    """3 d 4 h / 2 h 5 min / 7 min / 40 s: as precise as a person needs."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value:.2f} %"


def _line_of(evidence: dict[str, Any]) -> str:
    """Where an evidence line is: ``stderr 12``, ``stdout 3 from the end``, or just its stream (a hold reason)."""
    where = evidence.get("stream") or "log"
    if evidence.get("line"):
        return f"{where} {evidence['line']}"
    if evidence.get("from_end"):
        return f"{where} {evidence['from_end']} from the end"
    return where


def _hours(seconds: float | None) -> str:
    """Hours with one decimal; under an hour as a duration (``12 s``, ``40 min``)."""
    if seconds is None:
        return ""
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else _duration(seconds)


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.0f} %"


_env.filters.update(when=_when, duration=_duration, pct=_pct, line_of=_line_of, hours=_hours, percent=_percent,
                    debug_rerun_href=trigger_href)


def render_board(data: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in data["services"]:
        groups.setdefault(s["group"], []).append(s)
    counts: dict[str, int] = {}
    for s in data["services"]:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    return _env.get_template("board.html").render(data=data, groups=groups, counts=counts)


def render_template(name: str, **context: Any) -> str:
    return _env.get_template(name).render(**context)


def render_parts(names: dict[str, str], **context: Any) -> dict[str, str]:
    """Each live part of a page (``parts/<file>``) rendered alone, as the page includes it."""
    return {part: _env.get_template(f"parts/{file}").render(**context) for part, file in names.items()}
