"""Each debug rerun beside the attempt it reruns: exit, outcome, verdict, evidence and log tail.

What the request page shows under "Debug reruns" and the request API returns as ``debug_reruns``.
Tails are read as the triage page reads them (:mod:`prodops.triage.tail`: the submission's own
workdir only, a bounded number of lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodops.request.views import plain
from prodops.store.db import Conn, q
from prodops.triage.tail import STDERR, STDOUT, LogLocation, LogPathRefused, job_tail

TAIL_LINES = 10
"""Lines of stdout and of stderr shown per attempt (the attempt's triage page shows more)."""

MAX_SHOWN = 50
"""Reruns shown on a request page, newest first."""

SIDE_FIELDS = ("submission_id", "proc_id", "attempt", "cluster_id", "outcome", "exit_code", "hold_reason", "site",
               "category", "rule", "evidence")


def _tail(side: Mapping[str, Any], lines: int) -> dict[str, list[str]]:
    """The last ``lines`` of the attempt's stdout and stderr; empty while it has not run."""
    if side["cluster_id"] is None:
        return {STDOUT: [], STDERR: []}
    try:
        location = LogLocation.from_submission({"id": side["submission_id"], "workdir": side["workdir"],
                                                "event_log": side["event_log"]})
    except LogPathRefused as err:
        return {STDOUT: [], STDERR: [str(err)]}
    tail = job_tail(location, int(side["cluster_id"]), int(side["proc_id"]), lines=lines)
    return {STDOUT: list(tail.stdout.lines), STDERR: list(tail.stderr.lines)}


def _side(row: Mapping[str, Any], prefix: str, lines: int) -> dict[str, Any]:
    side = {name: row[f"{prefix}_{name}"] for name in (*SIDE_FIELDS, "workdir", "event_log")}
    shown = {name: side[name] for name in SIDE_FIELDS}
    shown["evidence"] = [e.get("text", "") for e in (side["evidence"] or [])][:2]
    shown["tail"] = _tail(side, lines)
    return shown


def debug_reruns(conn: Conn, request_id: int, *, lines: int = TAIL_LINES) -> list[dict[str, Any]]:
    """The request's debug reruns, newest first: per job, the original attempt and its rerun."""
    rows = conn.execute(q("debug_reruns_of_request"), {"request_id": request_id, "limit": MAX_SHOWN}).fetchall()
    return [{**plain({k: row[k] for k in ("stage", "job_index", "run_id", "requested_by", "settings", "created_at")}),
             "original": _side(row, "o", lines), "rerun": _side(row, "r", lines)} for row in rows]


DAG_ID = "debug_rerun"
APP_PREFIX = "prodops/"
"""The prodops app's place under the Airflow api-server (prodops.web.app.URL_PREFIX, as a page's root ends)."""


def rerun_conf(request_id: int, stage: str | None, group: Mapping[str, Any]) -> dict[str, Any]:
    """The debug_rerun form for one triage group (its category and signature), level ``debug``."""
    return {"request_id": request_id, "stage": stage or "", "job_indexes": [], "category": group["category"],
            "signature": group.get("signature") or "", "site": "", "level": "debug"}


def trigger_href(root: str) -> str:
    """The debug_rerun DAG's page in the Airflow UI, from a prodops page's root (``/prodops/``).

    Airflow 3.3.2's UI opens its trigger form only from the DAG page (a modal: no route of its own,
    nothing read from the URL; checked in its bundled UI), so the link opens that page and the
    triage page shows the form's values as the JSON its "configuration" field takes.
    """
    base = root[: -len(APP_PREFIX)] if root.endswith(APP_PREFIX) else "/"
    return f"{base}dags/{DAG_ID}"
