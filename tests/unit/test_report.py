"""The stage report: counts, exit codes, holds, cpu/wall and efficiency."""

from __future__ import annotations

from prodops.report import build_report, format_report


def job(state="completed", exit_code=0, signal=None, wall=100.0, cpu=80.0, hold=None, site="local", mem=50):
    return {
        "state": state, "exit_code": exit_code, "exit_by_signal": signal is not None, "exit_signal": signal,
        "hold_reason_code": 34 if hold else None, "hold_reason_subcode": 0 if hold else None, "hold_reason": hold,
        "remote_wall_clock_time": wall, "remote_user_cpu": cpu, "remote_sys_cpu": 0.0, "site": site,
        "memory_usage_mb": mem, "cluster_id": 1, "proc_id": 0, "last_remote_host": "slot1@localhost",
    }


def test_report_counts_and_efficiency():
    rows = [job(), job(), job(exit_code=3, wall=50, cpu=10), job(exit_code=None, signal=9, wall=50, cpu=0),
            job(state="held", exit_code=None, hold="over memory", wall=0, cpu=0, mem=700)]
    report = build_report(rows)
    assert report["jobs"] == 5
    assert report["outcomes"] == {"failed": 1, "held": 1, "killed": 1, "succeeded": 2}
    assert report["exit_codes"] == {"0": 2, "3": 1}
    assert report["signals"] == {"9": 1}
    assert report["hold_reasons"] == {"34/0: over memory": 1}
    assert report["wall_time_s"]["total"] == 300 and report["cpu_time_s"]["total"] == 170
    assert abs(report["cpu_efficiency"] - 170 / 300) < 1e-9
    assert report["wasted_wall_time_s"] == 100
    assert report["max_memory_mb"] == 700
    assert [j["outcome"] for j in report["unsuccessful_jobs"]] == ["failed", "killed", "held"]
    text = format_report("run", report)
    assert "Jobs that did not succeed" in text and "over memory" in text.split("did not succeed")[1]
    assert "succeeded=2" in text and "CPU efficiency: 57%" in text and "34/0: over memory" in text


def test_empty_stage_has_no_efficiency():
    report = build_report([])
    assert report["jobs"] == 0 and report["cpu_efficiency"] is None
    assert "n/a" in format_report("run", report)


def test_a_job_is_judged_by_its_latest_attempt_and_every_attempt_costs_time():
    rows = [
        {**job(exit_code=1, wall=40, cpu=5), "job_index": 0, "attempt": 1, "latest": False},
        {**job(wall=100, cpu=90), "job_index": 0, "attempt": 2, "latest": True, "proc_id": 0, "cluster_id": 2},
        {**job(exit_code=65, wall=30, cpu=20), "job_index": 1, "attempt": 1, "latest": True, "proc_id": 1},
        {**job(signal=9, exit_code=None, wall=10, cpu=1), "job_index": 2, "attempt": 1, "latest": False},
        {**job(signal=9, exit_code=None, wall=10, cpu=1), "job_index": 2, "attempt": 2, "latest": True},
    ]
    triage = [{"category": "service", "action": "retry", "action_state": "done", "n": 1},
              {"category": "code", "action": "debug_rerun", "action_state": "planned", "n": 1},
              {"category": "infrastructure", "action": "retry", "action_state": "done", "n": 1},
              {"category": "infrastructure", "action": "leave", "action_state": "planned", "n": 1}]
    report = build_report(rows, triage)
    assert (report["jobs"], report["attempts"], report["retried_jobs"], report["recovered_jobs"]) == (3, 5, 2, 1)
    assert report["outcomes"] == {"failed": 1, "killed": 1, "succeeded": 1}
    assert report["wall_time_s"]["total"] == 190 and report["wasted_wall_time_s"] == 90
    assert [(j["job_index"], j["attempt"]) for j in report["unsuccessful_jobs"]] == [(1, 1), (2, 2)]
    assert report["triage"] == {
        "failed_attempts": 4, "by_category": {"infrastructure": 2, "service": 1, "code": 1},
        "by_action": {"retry (done)": 2, "debug_rerun (planned)": 1, "leave (planned)": 1},
    }
    text = format_report("run", report)
    assert "Attempts:      5; jobs retried 2, recovered by a retry 1" in text
    assert "Triage:        4 failed attempts: infrastructure=2, service=1, code=1" in text
