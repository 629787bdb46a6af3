"""What the request and campaign pages and their API show: plain reads, JSON-ready."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta, timezone
from typing import Any


from prodops.constants import Outcome, RequestState
from prodops.store.db import Conn, q

MAX_LISTED = 200
PER_PAGE = 50

LIVE_STATES = frozenset({RequestState.PENDING_APPROVAL.value, RequestState.APPROVED.value, RequestState.RUNNING.value})
"""A request in one of these states may still change: its pages poll for new figures."""

CHART_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
"""Widths (s) the outcomes chart chooses from: the narrowest that keeps it to MAX_BUCKETS bars."""
MAX_BUCKETS = 24


def plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A database row ready for JSON: datetimes as ISO text."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


@dataclass(frozen=True)
class RequestPage:
    """One page of the request list and what its filters matched in all."""

    requests: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pages": self.pages}


def list_requests(conn: Conn, *, experiment: str | None = None, campaign: str | None = None,
                  state: str | None = None, created_from: date | None = None, created_to: date | None = None,
                  page: int = 1, per_page: int = PER_PAGE) -> RequestPage:
    """Requests newest first, filtered (None: any); dates are whole UTC days, both included."""
    rows = conn.execute(q("list_requests_page"), {
        "experiment": experiment or None, "campaign": campaign or None, "state": state or None,
        "created_from": _day(created_from), "created_before": _day(created_to, 1),
        "limit": per_page, "offset": (page - 1) * per_page,
    }).fetchall()
    if rows:
        total = int(rows[0]["total"])
    else:  # past the last page no row carries the total: ask for the first one
        total = 0 if page == 1 else list_requests(conn, experiment=experiment, campaign=campaign, state=state,
                                                  created_from=created_from, created_to=created_to,
                                                  per_page=1).total
    return RequestPage([plain({k: v for k, v in r.items() if k != "total"}) for r in rows], total, page, per_page)


def _day(day: date | None, plus: int = 0) -> datetime | None:
    return None if day is None else datetime.combine(day + timedelta(days=plus), time(), tzinfo=timezone.utc)


def filter_choices(conn: Conn) -> dict[str, list[str]]:
    """The experiments and campaigns on record, and every request state, for the list's filters."""
    rows = conn.execute(q("request_filter_choices")).fetchall()
    return {"experiments": sorted({r["experiment"] for r in rows}),
            "campaigns": sorted({r["campaign"] for r in rows}),
            "states": [s.value for s in RequestState]}


@dataclass(frozen=True)
class Progress:
    """Jobs of a stage, a request or a campaign by their latest attempt, and the time they used."""

    jobs: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0
    retried: int = 0
    attempts: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    wasted_s: float = 0.0

    def __add__(self, other: Progress) -> Progress:
        return Progress(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def cpu_efficiency(self) -> float | None:
        return self.cpu_s / self.wall_s if self.wall_s else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cpu_efficiency": self.cpu_efficiency, "wasted_hours": self.wasted_s / 3600}


def progress(conn: Conn, request_ids: Sequence[int]) -> dict[int, dict[str, Progress]]:
    """Per request, per stage: its :class:`Progress` so far (read from the attempts, not the reports)."""
    out: dict[int, dict[str, Progress]] = {}
    for r in conn.execute(q("request_progress"), {"request_ids": list(request_ids)}):
        out.setdefault(r["request_id"], {})[r["stage"]] = Progress(**{f.name: r[f.name] for f in fields(Progress)})
    return out


def failures_by_category(conn: Conn, request_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for r in conn.execute(q("failures_by_category"), {"request_ids": list(request_ids)}):
        out.setdefault(r["request_id"], {})[r["category"]] = r["n"]
    return out


def outcomes_over_time(conn: Conn, request_ids: Sequence[int]) -> dict[str, Any]:
    """Attempts that ended, by outcome, in time buckets (the narrowest width giving at most MAX_BUCKETS)."""
    span = conn.execute(q("attempt_end_range"), {"request_ids": list(request_ids)}).fetchone()
    if span is None or span["first"] is None:
        return {"bucket_s": None, "times": [], "series": {}}
    seconds = (span["last"] - span["first"]).total_seconds()
    width = next((w for w in CHART_BUCKETS if seconds / w < MAX_BUCKETS), CHART_BUCKETS[-1])
    origin = datetime.fromtimestamp(span["first"].timestamp() // width * width, tz=timezone.utc)
    rows = conn.execute(q("attempt_outcomes_over_time"), {
        "request_ids": list(request_ids), "bucket": timedelta(seconds=width), "origin": origin}).fetchall()
    times = [origin + timedelta(seconds=width * k)
             for k in range(int((span["last"] - origin).total_seconds() // width) + 1)]
    index = {t: k for k, t in enumerate(times)}
    series = {o.value: [0] * len(times) for o in Outcome if o is not Outcome.UNFINISHED}
    for r in rows:
        series[r["outcome"]][index[r["t"]]] = r["n"]
    return {"bucket_s": width, "times": [t.isoformat() for t in times],
            "series": {k: v for k, v in series.items() if any(v)}}


def dq_summary(conn: Conn, request_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    return {r["request_id"]: {"passed": r["passed"], "failed": r["failed"], "critical_failed": list(r["critical_failed"])}
            for r in conn.execute(q("dq_summary"), {"request_ids": list(request_ids)})}


def request_detail(conn: Conn, request_id: int) -> dict[str, Any] | None:
    """The request, its decision, each stage (submissions, report, progress), data quality, failed jobs, charts."""
    request = conn.execute(q("get_request"), {"request_id": request_id}).fetchone()
    if request is None:
        return None
    key = {"request_id": request_id, "limit": MAX_LISTED}
    stages: dict[str, dict[str, Any]] = {}
    for row in conn.execute(q("request_stages"), key):
        stage = stages.setdefault(row["name"], {"name": row["name"], "state": row["state"], "report": row["report"],
                                                "submissions": []})
        if row["submission_id"] is not None:
            stage["submissions"].append(plain({k: row[k] for k in (
                "submission_id", "attempt", "backend", "cluster_id", "num_jobs", "submission_state",
                "submitted_at", "finished_at")}))
    failures: Counter[str] = Counter()  # the request's verdicts by category, summed over its stages
    for row in conn.execute(q("request_live_triage"), key):
        failures[row["category"]] += row["n"]
        if row["stage"] in stages:
            stages[row["stage"]].setdefault("live_triage", {})[row["category"]] = row["n"]
    so_far = progress(conn, [request_id]).get(request_id, {})
    for name, stage in stages.items():
        stage["progress"] = so_far.get(name, Progress()).to_dict()
    quality = [plain(r) for r in conn.execute(q("request_dq_results"), key)]
    for stage in stages.values():
        mine = [r for r in quality if r["stage"] == stage["name"]]
        stage["dq"] = {"passed": sum(r["success"] for r in mine), "failed": sum(not r["success"] for r in mine),
                       "critical_failed": [r["expectation_id"] for r in mine
                                           if not r["success"] and r["severity"] == "critical"]}
    return {
        "request": plain({k: v for k, v in request.items() if k != "form"}),
        "live": request["state"] in LIVE_STATES,
        "stages": list(stages.values()),
        "progress": sum(so_far.values(), Progress()).to_dict(),
        "data_quality": quality,
        "unsuccessful_jobs": [plain(r) for r in conn.execute(q("request_unsuccessful_jobs"), key)],
        "failures": dict(failures.most_common()),
        "outcomes_over_time": outcomes_over_time(conn, [request_id]),
        # sites its workflow avoided while it ran (prodops.steering): its submissions carried the clause
        "site_steering": [plain(r) for r in conn.execute(q("steering_of_request"), key)],
    }


def campaign_requests(conn: Conn, experiment: str, campaign: str) -> list[dict[str, Any]]:
    """Every request of the campaign, oldest first, with its stages, progress and failures by category."""
    rows = [plain(r) for r in conn.execute(q("campaign_requests"), {"experiment": experiment, "campaign": campaign})]
    ids = [r["id"] for r in rows]
    figures, failures, quality = progress(conn, ids), failures_by_category(conn, ids), dq_summary(conn, ids)
    for r in rows:
        stages = figures.get(r["id"], {})
        for s in r["stages"]:
            s["progress"] = stages.get(s["name"], Progress()).to_dict()
        r["progress"] = sum(stages.values(), Progress()).to_dict()
        r["failures"] = failures.get(r["id"], {})
        r["dq"] = quality.get(r["id"], {"passed": 0, "failed": 0, "critical_failed": []})
    return rows


def campaign_detail(conn: Conn, experiment: str, campaign: str) -> dict[str, Any] | None:
    """A campaign at a glance: its requests, their progress and failures, in all and over time."""
    requests = campaign_requests(conn, experiment, campaign)
    if not requests:
        return None
    failures: Counter[str] = Counter()
    for r in requests:
        failures.update(r["failures"])
    total = Progress(**{f.name: sum(r["progress"][f.name] for r in requests) for f in fields(Progress)})
    return {
        "experiment": experiment,
        "campaign": campaign,
        "live": any(r["state"] in LIVE_STATES for r in requests),
        "requests": requests,
        "progress": total.to_dict(),
        "failures": dict(failures.most_common()),
        "dq": {k: sum(r["dq"][k] for r in requests) for k in ("passed", "failed")},
        "outcomes_over_time": outcomes_over_time(conn, [r["id"] for r in requests]),
    }
