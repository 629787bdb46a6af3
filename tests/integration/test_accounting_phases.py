"""Accounting by phase on a real PostgreSQL: the phases jobs reported, summed per stage and phase
on a hand-computed fixture, a retry's phases found by its job index, a late phase accounted by
the next run, and reruns that change nothing."""

from __future__ import annotations

from datetime import date

import pytest

from prodops.accounting.rollup import roll_up
from prodops.accounting.stats import PhaseFigures, StatsFilter, stats
from prodops.store.db import connect
from tests.integration.test_accounting import DAY1, PURDUE, add_attempt, add_request, add_submission

pytestmark = pytest.mark.integration


def phase(conn, sid: int, job: int, name: str, state: str, *, status=None, cpu=None, wall=None, events=None):
    conn.execute(
        "INSERT INTO job_phases (submission_id, job_index, phase, state, status_code, cpu_s, wall_s, events, source)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'api')",
        (sid, job, name, state, status, cpu, wall, events),
    )


def both(conn, sid: int, job: int, name: str, **finished):
    phase(conn, sid, job, name, "started")
    phase(conn, sid, job, name, "finished", **finished)


def fixture(conn) -> int:
    """Attempt 1 of stage reco: job 0 succeeded through copy-in, reco, copy-out; job 1 failed with
    reco's status 65; job 2 was held inside reco; job 3 still runs. Attempt 2 reruns job 1 (proc 0)."""
    rid = add_request(conn, "p", "nova", "c1", "reco")
    s1 = add_submission(conn, rid, "reco", 1, {})
    add_attempt(conn, s1, 0, wall=900, cpu=750)
    add_attempt(conn, s1, 1, exit_code=65, wall=450, cpu=100, where=PURDUE)
    add_attempt(conn, s1, 2, state="held", exit_code=None, wall=300, cpu=30, where=PURDUE)
    add_attempt(conn, s1, 3, state="running", exit_code=None, wall=0, cpu=0)
    both(conn, s1, 0, "copy-in", cpu=5, wall=20)
    both(conn, s1, 0, "reco", status=0, cpu=700, wall=800, events=500)
    both(conn, s1, 0, "copy-out", status=0, cpu=2, wall=30)
    both(conn, s1, 1, "copy-in", cpu=3, wall=10)
    both(conn, s1, 1, "reco", status=65, cpu=90, wall=400, events=100)
    both(conn, s1, 2, "copy-in", cpu=1, wall=5)
    phase(conn, s1, 2, "reco", "started")
    phase(conn, s1, 3, "reco", "started")
    s2 = add_submission(conn, rid, "reco", 2, {"job_indexes": [1]})
    add_attempt(conn, s2, 0, wall=130, cpu=105)
    both(conn, s2, 1, "reco", status=0, cpu=100, wall=120, events=100)
    return s2


def figures(conn) -> dict[str, PhaseFigures]:
    found = stats(conn, StatsFilter(date(2026, 11, 1), date(2026, 12, 31), experiment="nova")).phases
    assert {p.stage for p in found} == {"reco"}
    return {p.phase: p for p in found}


def test_each_phase_figure_as_computed_by_hand(db_url):
    with connect(db_url) as conn:
        fixture(conn)
        conn.commit()
        run = roll_up(conn)
        assert run.accounted_attempts == 4 and run.phase_rows == 8  # 3 + 2 + 2 + 1; job 3 runs: not accounted
        got = figures(conn)
    assert got["copy-in"] == PhaseFigures("reco", "copy-in", attempts=3, finished=3, cpu_s=9, wall_s=35)
    assert got["reco"] == PhaseFigures("reco", "reco", attempts=4, finished=3, failed=1, unfinished=1,
                                       cpu_s=890, wall_s=1320, events=700)
    assert got["copy-out"] == PhaseFigures("reco", "copy-out", attempts=1, finished=1, cpu_s=2, wall_s=30)
    assert round(got["reco"].cpu_efficiency, 4) == round(890 / 1320, 4)
    assert list(got) == ["reco", "copy-in", "copy-out"]  # where the stage's hours went first


def test_a_phase_reported_after_its_attempt_was_accounted_counts_at_the_next_run(db_url):
    with connect(db_url) as conn:
        s2 = fixture(conn)
        conn.commit()
        roll_up(conn)
        before = conn.execute("SELECT * FROM accounting_phase_daily ORDER BY phase").fetchall()
        assert roll_up(conn).phase_rows == 8
        assert conn.execute("SELECT * FROM accounting_phase_daily ORDER BY phase").fetchall() == before

        both(conn, s2, 1, "copy-out", status=0, cpu=1, wall=15)  # harvested from its stdout at the stage's end
        conn.commit()
        run = roll_up(conn)
        assert run.changed_attempts >= 0 and run.phase_rows >= 1
        got = figures(conn)
    assert got["copy-out"] == PhaseFigures("reco", "copy-out", attempts=2, finished=2, cpu_s=3, wall_s=45)
    assert got["reco"].attempts == 4 and got["reco"].wall_s == 1320  # nothing counted twice


def test_the_stats_answer_lists_the_phases(db_url):
    with connect(db_url) as conn:
        fixture(conn)
        conn.commit()
        roll_up(conn)
        answer = stats(conn, StatsFilter(DAY1.date(), DAY1.date())).to_dict()
    reco = next(p for p in answer["by_phase"] if p["phase"] == "reco")
    assert (reco["stage"], reco["failed"], reco["unfinished"], reco["wall_hours"]) == ("reco", 1, 1, 1320 / 3600)
