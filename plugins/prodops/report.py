"""The end-of-stage report: what on-call reads first, in the task log and in the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from statistics import mean
from typing import Any

from prodops.accounting.definitions import cpu_efficiency, wasted_wall_s
from prodops.batch.classads import outcome
from prodops.constants import Outcome


MAX_LISTED_JOBS = 50


def _f(value: Any) -> float:
    return float(value or 0.0)


def build_report(attempts: Iterable[Mapping[str, Any]],
                 triage: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Counts by outcome, exit codes, signals, hold reasons, cpu/wall totals and efficiency.

    A job's outcome is its latest attempt's (rows marked ``latest``; a row without the mark is
    a job's only attempt); cpu and wall time count every attempt, and so does the wasted wall
    time (prodops.accounting.definitions, docs/accounting.md). ``triage``: the stage's verdict
    counts (category, action, action_state, n).
    """
    every = [(r, outcome(r)) for r in attempts]
    judged = [(r, o) for r, o in every if r.get("latest", True)]
    rows = [r for r, _ in judged]
    outcomes = Counter(o.value for _, o in judged)
    exit_codes = Counter(str(r["exit_code"]) for r, o in judged if o in (Outcome.SUCCEEDED, Outcome.FAILED))
    signals = Counter(str(r["exit_signal"]) for r, o in judged if o is Outcome.KILLED)
    holds = Counter(
        f"{r['hold_reason_code']}/{r['hold_reason_subcode'] or 0}: {r['hold_reason']}"
        for r, o in judged
        if o is Outcome.HELD
    )
    sites = Counter(r["site"] or "unknown" for r in rows)
    wall = [_f(r["remote_wall_clock_time"]) for r, _ in every]
    cpu = [_f(r["remote_user_cpu"]) + _f(r["remote_sys_cpu"]) for r, _ in every]
    ran = [(w, c) for w, c in zip(wall, cpu) if w > 0]
    total_wall, total_cpu = sum(wall), sum(cpu)
    unsuccessful = [(r, o) for r, o in judged if o is not Outcome.SUCCEEDED]
    retried = [(r, o) for r, o in judged if int(r.get("attempt") or 1) > 1]
    return {
        "jobs": len(rows),
        "attempts": len(every),
        "retried_jobs": len(retried),
        "recovered_jobs": sum(o is Outcome.SUCCEEDED for _, o in retried),
        "outcomes": dict(sorted(outcomes.items())),
        "exit_codes": dict(sorted(exit_codes.items())),
        "signals": dict(sorted(signals.items())),
        "hold_reasons": dict(sorted(holds.items())),
        "sites": dict(sorted(sites.items())),
        "wall_time_s": {"total": total_wall, "mean": mean(w for w, _ in ran) if ran else 0.0,
                        "max": max(wall, default=0.0)},
        "cpu_time_s": {"total": total_cpu, "mean": mean(c for _, c in ran) if ran else 0.0,
                       "max": max(cpu, default=0.0)},
        "cpu_efficiency": cpu_efficiency(total_cpu, total_wall),
        "wasted_wall_time_s": sum(wasted_wall_s(o, latest=r.get("latest", True), debug=bool(r.get("debug")), wall_s=w)
                                  for (r, o), w in zip(every, wall)),
        "max_memory_mb": max((int(r["memory_usage_mb"] or 0) for r, _ in every), default=0),
        "unsuccessful_jobs": [_job_line(r, o) for r, o in unsuccessful[:MAX_LISTED_JOBS]],
        "triage": _triage_counts(triage),
    }


def _triage_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    by_category: Counter[str] = Counter()
    by_action: Counter[str] = Counter()
    for r in rows:
        by_category[r["category"]] += r["n"]
        by_action[f"{r['action']} ({r['action_state']})"] += r["n"]
    return {"failed_attempts": sum(by_category.values()),
            "by_category": dict(by_category.most_common()), "by_action": dict(by_action.most_common())}


def _job_line(row: Mapping[str, Any], judged: Outcome) -> dict[str, Any]:
    return {
        "job": f"{row.get('cluster_id')}.{row.get('proc_id')}",
        "job_index": row.get("job_index", row.get("proc_id")),
        "attempt": row.get("attempt", 1),
        "outcome": judged.value,
        "exit_code": row["exit_code"],
        "signal": row["exit_signal"],
        "hold": f"{row['hold_reason_code']}: {row['hold_reason']}" if row["hold_reason_code"] is not None else None,
        "site": row["site"],
        "host": row.get("last_remote_host"),
        "wall_s": _f(row["remote_wall_clock_time"]),
        "cpu_s": _f(row["remote_user_cpu"]) + _f(row["remote_sys_cpu"]),
    }


def format_report(stage: str, report: Mapping[str, Any]) -> str:
    """A plain-text block that reads well in an Airflow task log."""
    eff = report["cpu_efficiency"]
    lines = [
        f"=== Stage {stage}: {report['jobs']} jobs ===",
        "Outcomes:      " + _pairs(report["outcomes"]) + "  (each job's latest attempt)",
        f"Attempts:      {report['attempts']}; jobs retried {report['retried_jobs']},"
        f" recovered by a retry {report['recovered_jobs']}",
        "Exit codes:    " + _pairs(report["exit_codes"]),
        "Signals:       " + _pairs(report["signals"]),
        "Sites:         " + _pairs(report["sites"]),
        f"Wall time:     total {report['wall_time_s']['total']:.0f} s, mean {report['wall_time_s']['mean']:.1f} s,"
        f" max {report['wall_time_s']['max']:.0f} s",
        f"CPU time:      total {report['cpu_time_s']['total']:.1f} s, mean {report['cpu_time_s']['mean']:.2f} s",
        f"CPU efficiency: {eff:.0%}" if eff is not None else "CPU efficiency: n/a (no wall time)",
        f"Wasted wall time (work not kept): {report['wasted_wall_time_s']:.0f} s",
        f"Peak memory:   {report['max_memory_mb']} MB",
    ]
    triage = report.get("triage") or {}
    if triage.get("failed_attempts"):
        lines.append(f"Triage:        {triage['failed_attempts']} failed attempts: " + _pairs(triage["by_category"]))
        lines.append("Actions:       " + _pairs(triage["by_action"]))
    if report["hold_reasons"]:
        lines.append("Hold reasons:")
        lines += [f"  {n:>5} x {reason}" for reason, n in report["hold_reasons"].items()]
    if report["unsuccessful_jobs"]:
        lines.append(f"Jobs that did not succeed (first {MAX_LISTED_JOBS}):")
        lines.append(f"  {'job':<12} {'outcome':<10} {'exit':>5} {'signal':>6} {'wall s':>8} {'cpu s':>8}  site / host / hold")
        for job in report["unsuccessful_jobs"]:
            where = " / ".join(str(x) for x in (job["site"], job["host"], job["hold"]) if x)
            lines.append(
                f"  {job['job']:<12} {job['outcome']:<10} {_blank(job['exit_code']):>5} {_blank(job['signal']):>6}"
                f" {job['wall_s']:>8.0f} {job['cpu_s']:>8.1f}  {where}"
            )
    return "\n".join(lines)


def _blank(value: Any) -> str:
    return "-" if value is None else str(value)


def _pairs(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items()) or "-"
