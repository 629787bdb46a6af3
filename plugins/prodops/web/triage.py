"""The triage section of the prodops pages and API: failed attempts by verdict, and one attempt's logs.

Read-only, for people with Airflow's view permission. Mounted by the prodops app with
``app.include_router(triage_router(pool, viewer))`` (same shape as ``requests_router``).
Log tails are read from the submission's workdir only (:mod:`prodops.triage.tail`); the
lines the pattern library matches are flagged so the page can highlight them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse

from prodops.phases.store import attempt_phases
from prodops.request.views import LIVE_STATES, plain
from prodops.rerun.views import rerun_conf
from prodops.store.db import q
from prodops.triage import store
from prodops.triage.patterns import load_library
from prodops.triage.tail import LINE_CHOICES, LogLocation, LogPathRefused, check_lines, job_tail


def triage_data(conn: Any, request_id: int, stage: str | None = None) -> dict[str, Any] | None:
    """Groups (category, rule, service, site, exit code) with counts and sample jobs, totals, and
    whether the request may still change (``live``: its page keeps polling); None when there is no
    such request."""
    request = conn.execute(q("get_request"), {"request_id": request_id}).fetchone()
    if request is None:
        return None
    groups = store.groups(conn, request_id, stage)
    by_category: Counter[str] = Counter()
    for g in groups:
        by_category[g["category"]] += g["jobs"]
        g["rerun_conf"] = rerun_conf(request_id, stage, g)  # the debug_rerun form for this group
    return {"request_id": request_id, "stage": stage, "failed": sum(by_category.values()),
            "by_category": dict(by_category.most_common()), "groups": groups,
            "live": request["state"] in LIVE_STATES}


def attempt_data(conn: Any, submission_id: int, proc_id: int, lines: int) -> dict[str, Any] | None:
    """One attempt's verdict and its log tails, each line flagged with the patterns that match it."""
    row = store.get_verdict(conn, submission_id, proc_id)
    if row is None:
        return None
    verdict = {k: v for k, v in row.items() if k not in ("workdir", "event_log", "verdict_hash")}
    try:
        loc = LogLocation.from_submission({"id": submission_id, **row})
    except LogPathRefused as err:
        return {"verdict": verdict, "tails": {}, "error": str(err)}
    tail = job_tail(loc, int(row["cluster_id"]), proc_id, lines=lines)
    streams = {name: t.lines for name, t in tail.streams().items()}
    matched: dict[tuple[str, int], list[str]] = {}
    for m in load_library().match(streams, None):
        matched.setdefault((m.stream, m.index), []).append(m.pattern.id)
    evidence = {(e["stream"], e.get("text")) for e in row["evidence"]}
    tails = {}
    for name, t in tail.streams().items():
        d = t.to_dict()
        for i, line in enumerate(d["lines"]):
            line["rules"] = matched.get((name, i), [])
            line["evidence"] = (name, line["text"]) in evidence
        tails[name] = d
    return {"verdict": verdict, "tails": tails, "lines": lines, **attempt_record(conn, submission_id, proc_id)}


def attempt_record(conn: Any, submission_id: int, proc_id: int) -> dict[str, Any]:
    """The attempt's job facts (hold, host, site, CPU, times, memory, files), its job's chain of attempts
    and the phases the job reported."""
    key = {"submission_id": submission_id, "proc_id": proc_id}
    job = conn.execute(q("attempt_job_facts"), key).fetchone()
    chain = conn.execute(q("attempt_chain"), key).fetchall()
    return {"job": plain(job) if job else None, "chain": [plain(r) for r in chain],
            "phases": attempt_phases(conn, submission_id, proc_id)}


TRIAGE_PARTS = {"summary": "triage_summary.html", "groups": "triage_groups.html"}


def triage_router(pool: Any, viewer: Callable[..., Any]) -> APIRouter:
    """Routes for people with Airflow's view permission (``viewer``); ``pool`` lends connections."""
    router = APIRouter(dependencies=[Depends(viewer)])

    def _lines(lines: int) -> int:
        try:
            return check_lines(lines)
        except ValueError as err:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                [{"field": "lines", "message": str(err)}]) from None

    def _triage(request_id: int, stage: str | None) -> dict[str, Any]:
        with pool.connection() as conn:
            data = triage_data(conn, request_id, stage)
        if data is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no production request {request_id}")
        return data

    def _attempt(submission_id: int, proc_id: int, lines: int) -> dict[str, Any]:
        with pool.connection() as conn:
            data = attempt_data(conn, submission_id, proc_id, _lines(lines))
        if data is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"no triage verdict for job attempt {submission_id}/{proc_id}; triage its stage first")
        return data

    @router.get("/api/v1/triage/{request_id}", summary="Failed attempts of a request grouped by verdict")
    def get_triage(request_id: int, stage: str | None = None) -> dict[str, Any]:
        return _triage(request_id, stage)

    @router.get("/api/v1/triage/attempts/{submission_id}/{proc_id}",
                summary="One attempt's verdict, evidence, outages, action and log tails")
    def get_attempt(submission_id: int, proc_id: int,
                    lines: int = Query(50, description="10, 50 or 200")) -> dict[str, Any]:
        return _attempt(submission_id, proc_id, lines)

    @router.get("/api/v1/triage/{request_id}/live", summary="The triage page's figures and parts, for its live refresh")
    def get_triage_live(request: Request, request_id: int, stage: str | None = None) -> dict[str, Any]:
        from prodops.web.requests import live_payload, root_of

        data = _triage(request_id, stage)
        return live_payload(data["live"], TRIAGE_PARTS, {"failed": data["failed"], "by_category": data["by_category"]},
                            root=root_of(request), **data)

    @router.get("/triage/{request_id}", response_class=HTMLResponse, summary="The triage page of a request")
    def triage_page(request: Request, request_id: int, stage: str | None = None) -> HTMLResponse:
        from prodops.web.render import render_template
        from prodops.web.requests import LIVE_INTERVAL_S, root_of

        data = _triage(request_id, stage)
        return HTMLResponse(render_template("triage.html", root=root_of(request), interval=LIVE_INTERVAL_S,
                                            updated_at=datetime.now(timezone.utc), **data))

    @router.get("/triage/attempts/{submission_id}/{proc_id}", response_class=HTMLResponse,
                summary="One failed attempt: verdict and log tails with the matching lines highlighted")
    def attempt_page(request: Request, submission_id: int, proc_id: int, lines: int = 50) -> HTMLResponse:
        from prodops.web.render import render_template
        from prodops.web.requests import root_of

        data = _attempt(submission_id, proc_id, lines)
        return HTMLResponse(render_template("triage_attempt.html", choices=LINE_CHOICES, root=root_of(request), **data))

    return router
