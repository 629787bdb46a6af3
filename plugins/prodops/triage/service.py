"""Triage of one stage: every failed attempt gets a verdict, its evidence, its outages and an action.

This is what the ``triage_failures`` task of the workflow DAGs runs (after
``track_stage``): :func:`triage_stage` reads the failed attempts and their logs, classifies
them (plugins, patterns, HTCondor facts, fallback), joins them with the service board's
outages, decides each action by policy, stores it all in one batch, and returns a summary
that :func:`format_summary` turns into the text on-call reads in the task log.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from prodops.exceptions import ProdopsError
from prodops.phases.triage import apply_phase_hints
from prodops.status.inferred import infer_outages
from prodops.store import records
from prodops.store.db import connect
from prodops.triage import outages as outage_join
from prodops.triage import store
from prodops.triage.classify import Classifier
from prodops.triage.plugins import PluginRunner, discover
from prodops.triage.policy import Action, Decision, History, decide
from prodops.triage.settings import TriageSettings, load_settings
from prodops.triage.verdict import JobFacts, Verdict
from prodops.triage.workers import read_and_classify

log = logging.getLogger(__name__)

MAX_GROUPS = 20
MAX_LISTED = 50


def _workflow_services(workflow: str, stage: str) -> tuple[str, ...]:
    from prodops.workflows import load_templates

    template = load_templates().get(workflow)
    if template is None:
        return ()
    try:
        return tuple(template.stage_services(stage))
    except KeyError:
        return tuple(template.services)


class _Histories:
    """Each job's retries in earlier attempts, per budget: stored ones plus those decided in this batch.

    Rows of attempts in this batch are left out of the stored ones (they are decided again), so
    re-running triage counts nothing twice.
    """

    def __init__(self, stored: Sequence[Mapping[str, Any]], batch: Sequence[JobFacts]) -> None:
        mine = {(f.submission_id, f.proc_id) for f in batch}
        self.by_job: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for r in stored:
            if (int(r["submission_id"]), int(r["proc_id"])) not in mine:
                self.by_job[int(r["job_index"])].append((int(r["attempt"]), r["action_budget"]))

    @staticmethod
    def _job(f: JobFacts) -> int:
        return f.job_index if f.job_index is not None else f.proc_id

    def of(self, f: JobFacts) -> History:
        used = Counter(b for attempt, b in self.by_job.get(self._job(f), ()) if attempt < f.attempt)
        return History(service=used["service"], resource=used["resource"], experiment=used["experiment"])

    def add(self, f: JobFacts, d: Decision) -> None:
        if d.budget is not None and d.action in (Action.RETRY, Action.RETRY_MORE_RESOURCES):
            self.by_job[self._job(f)].append((f.attempt, d.budget.value))


def default_classifier(settings: TriageSettings | None = None) -> Classifier:
    """The whole library and the installed plugins, each bound by the settings' plugin timeout."""
    settings = settings or load_settings()
    return Classifier(runner=PluginRunner(discover(), timeout_s=settings.plugin_timeout_s))


def triage_stage(db_url: str, request_id: int, stage: str, *, submission_id: int | None = None,
                 now: datetime | None = None, classifier: Classifier | None = None,
                 settings: TriageSettings | None = None, only_new: bool = False) -> dict[str, Any]:
    """Triage every failed attempt of a stage (or of one submission of it); store and summarise the verdicts.

    ``only_new``: only the attempts without a verdict (triage streaming while the stage runs)."""
    # Millions of short-lived line strings and thousands of containers: the cyclic collector
    # would rescan them again and again (a third of the time) and finds no cycles here.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _triage_stage(db_url, request_id, stage, submission_id=submission_id, now=now,
                             classifier=classifier, settings=settings, only_new=only_new)
    finally:
        if enabled:
            gc.enable()


def _triage_stage(db_url: str, request_id: int, stage: str, *, submission_id: int | None,
                  now: datetime | None, classifier: Classifier | None,
                  settings: TriageSettings | None, only_new: bool = False) -> dict[str, Any]:
    settings = settings or load_settings()
    now = now or datetime.now(timezone.utc)
    started = time.perf_counter()
    with connect(db_url) as conn:
        request = records.require_request(conn, request_id)
        rows = store.failed_attempts(conn, request_id, stage, submission_id, only_new=only_new)
        retries = store.retries_of_stage(conn, request_id, stage)
    timings = {"read_attempts": time.perf_counter() - started}
    experiment, workflow = request["experiment"], request["workflow"]
    facts = [JobFacts.from_row(r, experiment=experiment, workflow=workflow, stage=stage) for r in rows]
    mark = time.perf_counter()
    classifier = classifier or default_classifier(settings)
    # streaming triage runs in the triggerer's threads: it stays in its process (and its batches are small)
    outcome = read_and_classify(rows, facts, lines=settings.tail_lines, classifier=classifier,
                                workers=1 if only_new else settings.worker_count())
    verdicts, tails = outcome.verdicts, outcome.tails
    elapsed, mark = time.perf_counter() - mark, time.perf_counter()
    timings["read_tails"], timings["plugins"] = outcome.read_seconds, outcome.plugin_seconds
    timings["classify"] = max(0.0, elapsed - outcome.read_seconds - outcome.plugin_seconds)
    timings["of_which_matching"] = outcome.match_seconds
    apply_phase_hints(db_url, facts, tails, verdicts)  # weak verdicts of jobs stopped in copy-out: storage
    needed = set(_workflow_services(workflow, stage))
    margin = timedelta(seconds=settings.outage_margin_s)
    limits = {k: request.get(k) for k in ("request_memory_mb", "request_disk_mb", "max_wall_time_min")}
    decisions: list[Decision] = []
    with connect(db_url) as conn:
        wanted = needed | {s for v in verdicts for s in settings.board_services(v.service)}
        when = outage_join.span(facts, margin, now)
        intervals = outage_join.load_intervals(conn, wanted, *when) if when and wanted else []
        histories = _Histories(retries, facts)
        for f, v in zip(facts, verdicts):  # in attempt order: earlier attempts' retries count for later ones
            services = needed | set(settings.board_services(v.service))
            outage_join.apply(v, outage_join.overlapping(f, intervals, services, margin, now), settings)
            decision = decide(v, f, histories.of(f), settings.policy, limits)
            histories.add(f, decision)
            decisions.append(decision)
        timings["outages_and_policy"], mark = time.perf_counter() - mark, time.perf_counter()
        store.write_verdicts(conn, request_id, stage, zip(facts, verdicts, decisions))
        conn.commit()
        timings["write_verdicts"], mark = time.perf_counter() - mark, time.perf_counter()
    inferred = _infer_outages(db_url, now, settings)
    timings["inferred_outages"] = time.perf_counter() - mark
    summary = summarize(request_id, stage, facts, verdicts, decisions)
    summary["inferred_outages"] = inferred
    runner = classifier.runner
    summary["plugins"] = {"errors": dict(runner.errors), "timed_out": list(runner.timed_out)}
    summary["workers"] = outcome.workers
    summary["seconds"] = round(time.perf_counter() - started, 3)
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    log.info("Triaged %d failed attempts of request %d stage %s in %.2f s", len(facts), request_id, stage,
             summary["seconds"])
    return summary


def _infer_outages(db_url: str, now: datetime, settings: TriageSettings) -> dict[str, Any]:
    """Post or clear inferred outages from the verdicts just written (every request's, not only these).

    The verdicts are committed already: a failure here is logged and reported in the summary,
    never a reason to triage again.
    """
    try:
        return infer_outages(db_url, now=now, settings=settings).to_dict()
    except (psycopg.Error, ProdopsError) as err:
        log.error("Inferred outages not checked: %s", err)
        return {"error": f"{type(err).__name__}: {err}"}


def summarize(request_id: int, stage: str, facts: Sequence[JobFacts], verdicts: Sequence[Verdict],
              decisions: Sequence[Decision]) -> dict[str, Any]:
    """Counts and groups (category, rule, service) with sites, exit codes, sample jobs and an evidence line."""
    groups: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    described: dict[tuple[Any, ...], str] = {}
    for f, v, d in zip(facts, verdicts, decisions):
        key = (v.category.value, v.rule, v.service)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"category": key[0], "rule": key[1], "service": key[2], "explain": v.explain,
                               "count": 0, "sites": Counter(), "exit_codes": Counter(), "actions": Counter(),
                               "jobs": [], "example": None, "outages": [], "possibly_service": 0}
        g["count"] += 1
        g["sites"][f.site or "unknown"] += 1
        g["exit_codes"][_exit(f)] += 1
        g["actions"][d.action.value] += 1
        g["possibly_service"] += int(v.possibly_service)
        if len(g["jobs"]) < 5:
            g["jobs"].append(f.job)
        if g["example"] is None and v.evidence:
            g["example"] = {"job": f.job, **v.evidence[0]}
        for o in v.outages:
            if len(g["outages"]) >= 3:
                break
            outage = (o["service"], o["kind"], o["start"], o["end"])
            text = described.get(outage)
            if text is None:
                text = described[outage] = outage_join.Interval(**{
                    **o, "start": datetime.fromisoformat(o["start"]),
                    "end": datetime.fromisoformat(o["end"]) if o["end"] else None}).describe()
            if text not in g["outages"]:
                g["outages"].append(text)
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["category"], g["rule"]))
    for g in ordered:
        for k in ("sites", "exit_codes", "actions"):
            g[k] = dict(g[k].most_common())
    return {
        "request_id": request_id,
        "stage": stage,
        "failed": len(facts),
        "by_category": dict(Counter(v.category.value for v in verdicts).most_common()),
        "by_action": dict(Counter(d.action.value for d in decisions).most_common()),
        "possibly_service": [f.job for f, v in zip(facts, verdicts) if v.possibly_service][:MAX_LISTED],
        "to_retry": sum(d.action in (Action.RETRY, Action.RETRY_MORE_RESOURCES) for d in decisions),
        "debug_rerun": [f.job for f, d in zip(facts, decisions) if d.action is Action.DEBUG_RERUN][:MAX_LISTED],
        "groups": ordered[:MAX_GROUPS],
        "more_groups": max(0, len(ordered) - MAX_GROUPS),
    }


def _exit(f: JobFacts) -> str:
    if f.state == "held":
        return f"held {f.hold_reason_code}"
    if f.state == "removed":
        return "removed"
    if f.exit_by_signal:
        return f"signal {f.exit_signal}"
    return str(f.exit_code)


def _pairs(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items()) or "-"


def _inferred_lines(inferred: Mapping[str, Any]) -> list[str]:
    if inferred.get("error"):
        return ["", f"Inferred outages not checked: {inferred['error']}"]
    lines = [f"Inferred outage posted to the service board: {o['service']} degraded, {o['message']}"
             for o in inferred.get("opened") or []]
    lines += [f"Inferred outage of {c['service']} {c['message']}" for c in inferred.get("cleared") or []]
    return ["", *lines] if lines else []


def format_summary(summary: Mapping[str, Any]) -> str:
    """The triage block of the task log: what failed, why, the lines that say so, and what was done."""
    lines = [
        f"=== Triage of stage {summary['stage']} (request {summary['request_id']}):"
        f" {summary['failed']} failed attempts ===",
    ]
    if not summary["failed"]:
        lines.append("Nothing to triage: every job succeeded.")
        return "\n".join(lines)
    lines += [
        "By category:   " + _pairs(summary["by_category"]),
        "Actions:       " + _pairs(summary["by_action"]),
        f"To retry:      {summary['to_retry']} (service / infrastructure / resource retries, after preflight)",
    ]
    if summary["possibly_service"]:
        lines.append(f"Possibly service (code verdict while a needed service was down; look at them):"
                     f" {', '.join(summary['possibly_service'][:10])}")
    lines.append("")
    for g in summary["groups"]:
        service = f" [{g['service']}]" if g["service"] else ""
        lines.append(f"{g['count']:>6} x {g['category'].upper():<14} {g['rule']}{service}")
        lines.append(f"         {g['explain']}")
        lines.append(f"         actions: {_pairs(g['actions'])}; sites: {_pairs(g['sites'])};"
                     f" exit: {_pairs(g['exit_codes'])}; jobs: {', '.join(g['jobs'])}")
        ex = g["example"]
        if ex:
            if ex["stream"] == "reason":
                where = "(HoldReason / RemoveReason)"
            elif ex.get("line"):
                where = f"line {ex['line']}"
            else:
                where = f"line {ex.get('from_end')} from the end"
            lines.append(f"         job {ex['job']} {ex['stream']} {where}: {ex['text'][:200]}")
        for o in g["outages"]:
            lines.append(f"         overlapping: {o}")
    if summary.get("more_groups"):
        lines.append(f"... and {summary['more_groups']} smaller groups (see the triage page)")
    lines += _inferred_lines(summary.get("inferred_outages") or {})
    if summary["debug_rerun"]:
        lines.append("")
        lines.append(f"For a debug rerun (code failures, not retried): {', '.join(summary['debug_rerun'][:20])}"
                     + (" ..." if len(summary["debug_rerun"]) > 20 else ""))
    plugins = summary.get("plugins") or {}
    for pid, n in (plugins.get("errors") or {}).items():
        lines.append(f"Classifier plugin {pid} failed on {n} jobs (skipped for them; see the log above)")
    for pid in plugins.get("timed_out") or []:
        lines.append(f"Classifier plugin {pid} timed out and was skipped (see the log above)")
    return "\n".join(lines)


def triage_new_failures(db_url: str, submission_id: int, *, classifier: Classifier | None = None,
                        now: datetime | None = None) -> dict[str, Any]:
    """Verdicts for a submission's failed or held attempts that have none yet: tracking calls it
    while the stage runs, so on-call sees a failure within a cycle of its end, not at the stage's."""
    with connect(db_url) as conn:
        submission = records.get_submission(conn, submission_id)
    if submission is None:
        raise LookupError(f"submission {submission_id} is not in the prodops database; check the id")
    return triage_stage(db_url, int(submission["request_id"]), submission["stage"], submission_id=submission_id,
                        only_new=True, classifier=classifier, now=now)
