"""What the request pages and their API show: plain reads, JSON-ready."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from prodops.store.db import q

MAX_LISTED = 200


def plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A database row ready for JSON: datetimes as ISO text."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def list_requests(conn: psycopg.Connection, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    return [plain(r) for r in conn.execute(q("list_requests"), {"limit": limit})]


def request_detail(conn: psycopg.Connection, request_id: int) -> dict[str, Any] | None:
    """The request, its decision, each stage (submissions and report), data quality, failed jobs."""
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
    for row in conn.execute(q("request_live_triage"), key):
        if row["stage"] in stages:
            stages[row["stage"]].setdefault("live_triage", {})[row["category"]] = row["n"]
    quality = [plain(r) for r in conn.execute(q("request_dq_results"), key)]
    for stage in stages.values():
        mine = [r for r in quality if r["stage"] == stage["name"]]
        stage["dq"] = {"passed": sum(r["success"] for r in mine), "failed": sum(not r["success"] for r in mine),
                       "critical_failed": [r["expectation_id"] for r in mine
                                           if not r["success"] and r["severity"] == "critical"]}
    return {
        "request": plain({k: v for k, v in request.items() if k != "form"}),
        "stages": list(stages.values()),
        "data_quality": quality,
        "unsuccessful_jobs": [plain(r) for r in conn.execute(q("request_unsuccessful_jobs"), key)],
    }
