"""Accounting on a real PostgreSQL: every figure of a hand-computed fixture, incremental and
idempotent runs, and the SQL definition of a waste cause held to its Python mirror."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest

from prodops.accounting.definitions import WasteCause, waste_cause
from prodops.accounting.rollup import roll_up
from prodops.constants import Outcome
from prodops.store.db import connect, q

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 11, 30, tzinfo=timezone.utc)
DAY2 = datetime(2026, 12, 1, tzinfo=timezone.utc)
WISC = {"site": "Wisconsin", "cpu_model": "AMD EPYC 7763", "cpu_vendor": "AMD", "time_window": "night"}
PURDUE = {"site": "Purdue", "cpu_model": "Intel Xeon Gold 6248", "cpu_vendor": "Intel", "time_window": "lunch"}
FNAL = {"site": "FNAL", "cpu_model": None, "cpu_vendor": None, "time_window": "evening"}


def add_request(conn, run_id: str, experiment: str, campaign: str, stage: str) -> int:
    rid = conn.execute(
        "INSERT INTO requests (dag_id, run_id, experiment, campaign, workflow, request_memory_mb, request_disk_mb,"
        " max_wall_time_min, requested_priority, justification, contact, form)"
        " VALUES ('production_request', %s, %s, %s, 'mc', 2000, 2000, 60, 1, 'test', 'a@b', '{}') RETURNING id",
        (run_id, experiment, campaign),
    ).fetchone()["id"]
    conn.execute("INSERT INTO stages (request_id, name, position) VALUES (%s, %s, 0)", (rid, stage))
    return rid


def add_submission(conn, rid: int, stage: str, attempt: int, spec: dict) -> int:
    return conn.execute(
        "INSERT INTO submissions (request_id, stage, attempt, backend, num_jobs, workdir, spec, cluster_id)"
        " VALUES (%s, %s, %s, 'local', 1, '/tmp', %s, %s) RETURNING id",
        (rid, stage, attempt, json.dumps(spec), 100 + attempt),
    ).fetchone()["id"]


def add_attempt(
    conn,
    sid: int,
    proc: int,
    *,
    state="completed",
    exit_code=0,
    signal=None,
    wall=0.0,
    cpu=0.0,
    where=WISC,
    ip=None,
    end=DAY1,
    mem=None,
    disk=None,
    files_in=(0, 0),
    files_out=(0, 0),
    ad=None,
) -> None:
    conn.execute(
        "INSERT INTO job_attempts (submission_id, proc_id, cluster_id, state, exit_code, exit_by_signal, exit_signal,"
        " completion_date, entered_current_status, worker_ip, site, cpu_model, cpu_vendor, time_window,"
        " remote_wall_clock_time, remote_user_cpu, remote_sys_cpu, memory_usage_mb, request_memory_mb,"
        " disk_usage_kb, request_disk_kb, files_in_count, files_in_bytes, files_out_count, files_out_bytes,"
        " ad, ad_hash)"
        " VALUES (%s, %s, 100, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " %s, %s, %s, %s, %s, 'x')",
        (
            sid,
            proc,
            state,
            exit_code,
            signal is not None,
            signal,
            end if state == "completed" else None,
            end,
            ip,
            where["site"],
            where["cpu_model"],
            where["cpu_vendor"],
            where["time_window"],
            wall,
            cpu * 0.9,
            cpu * 0.1,
            *(mem or (None, None)),
            *(disk or (None, None)),
            *files_in,
            *files_out,
            json.dumps(ad or {}),
        ),
    )


def first_submission(conn) -> tuple[int, int]:
    """Request A (nova/c1), stage reco, attempt 1: four jobs."""
    rid = add_request(conn, "a", "nova", "c1", "reco")
    sid = add_submission(conn, rid, "reco", 1, {})
    # job 0: succeeded; its last run 600 s of 1000 s wall: 400 s lost to eviction before it
    add_attempt(
        conn,
        sid,
        0,
        wall=1000,
        cpu=800,
        ip="10.1.2.3",
        mem=(1500, 2000),
        disk=(1000, 2000),
        files_in=(2, 2_000_000),
        files_out=(1, 1_000_000),
        ad={"LastRemoteWallClockTime": 600},
    )
    # job 1: failed (exit 65) at Purdue, over its memory request
    add_attempt(
        conn,
        sid,
        1,
        exit_code=65,
        wall=500,
        cpu=100,
        where=PURDUE,
        ip="10.9.8.7",
        mem=(2500, 2000),
        end=DAY1 + timedelta(hours=12),
    )
    # job 2: held at Purdue (ended by entering the held state)
    add_attempt(
        conn,
        sid,
        2,
        state="held",
        exit_code=None,
        wall=300,
        cpu=30,
        where=PURDUE,
        ip="10.9.8.8",
        end=DAY1 + timedelta(hours=12, minutes=30),
    )
    # job 3: succeeded (CommittedTime = all its wall time: no badput)
    add_attempt(conn, sid, 3, wall=200, cpu=190, ip="10.1.2.4", ad={"CommittedTime": 200})
    return rid, sid


def retry_and_debug(conn, rid: int) -> None:
    """Attempt 2 reruns jobs 1 and 3 (both succeed: job 3's first success is retried away);
    attempt 3 is a debug rerun of job 1 (fails; never production)."""
    s2 = add_submission(conn, rid, "reco", 2, {"job_indexes": [1, 3]})
    add_attempt(conn, s2, 0, wall=400, cpu=380, ip="10.1.2.5")
    add_attempt(conn, s2, 1, wall=100, cpu=90, ip="10.1.2.6")
    s3 = add_submission(conn, rid, "reco", 3, {"job_indexes": [1], "debug": {"log_level": "debug"}})
    add_attempt(conn, s3, 0, exit_code=1, wall=50, cpu=5, ip="10.1.2.7")


def other_request(conn) -> int:
    """Request B (dune/c2), stage gen, on day 2: killed, removed, and one still running."""
    rid = add_request(conn, "b", "dune", "c2", "gen")
    sid = add_submission(conn, rid, "gen", 1, {})
    add_attempt(conn, sid, 0, exit_code=None, signal=9, wall=60, cpu=6, where=FNAL, ip="not-an-ip", end=DAY2)
    add_attempt(conn, sid, 1, state="removed", exit_code=None, wall=0, cpu=0, where=FNAL, end=DAY2)
    add_attempt(conn, sid, 2, state="running", exit_code=None, wall=0, cpu=0, where=FNAL, end=DAY2)
    return sid


def tables(conn) -> dict[str, list[dict]]:
    return {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4, 5, 6, 7").fetchall()  # noqa: S608 - fixed names
        for t in ("accounting_attempts", "accounting_rollup", "accounting_daily")
    }


def by(conn, table: str, column: str) -> dict[str, dict]:
    rows = conn.execute(
        f"SELECT {column} AS k, sum(attempts) AS attempts, sum(succeeded) AS succeeded, sum(failed) AS failed,"  # noqa: S608
        " sum(killed) AS killed, sum(held) AS held, sum(removed) AS removed, sum(wall_s) AS wall,"
        " sum(cpu_s) AS cpu, sum(wasted_failed_s) AS failed_s, sum(wasted_killed_s) AS killed_s,"
        " sum(wasted_held_s) AS held_s, sum(wasted_removed_s) AS removed_s,"
        " sum(wasted_retried_away_s) AS retried_s, sum(wasted_debug_rerun_s) AS debug_s,"
        " sum(wasted_evicted_s) AS evicted_s, sum(memory_measured) AS mem_n, sum(memory_used_mb) AS mem_used,"
        " sum(memory_requested_mb) AS mem_req, sum(memory_over) AS mem_over, sum(disk_used_kb) AS disk_used,"
        " sum(disk_requested_kb) AS disk_req, sum(files_in) AS files_in, sum(bytes_in) AS bytes_in,"
        f" sum(files_out) AS files_out, sum(bytes_out) AS bytes_out FROM {table} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {r.pop("k"): {k: (float(v) if v is not None else None) for k, v in r.items()} for r in rows}


@pytest.fixture
def accounted(db_url):
    with connect(db_url) as conn:
        rid, _ = first_submission(conn)
        conn.commit()
        retry_and_debug(conn, rid)
        other_request(conn)
        conn.commit()
        run = roll_up(conn)
        yield conn, run


def test_every_figure_by_site_as_computed_by_hand(accounted):
    conn, run = accounted
    assert run.changed_attempts == 10 and run.accounted_attempts == 9  # the running attempt waits
    sites = by(conn, "accounting_rollup", "site")
    assert set(sites) == {"Wisconsin", "Purdue", "FNAL"}
    wisc = sites["Wisconsin"]
    # attempts: job 0, job 3 (attempt 1), jobs 1 and 3 (attempt 2), the debug rerun of job 1
    assert (wisc["attempts"], wisc["succeeded"], wisc["failed"]) == (5, 4, 1)
    assert wisc["wall"] == 1000 + 200 + 400 + 100 + 50
    assert wisc["cpu"] == pytest.approx(800 + 190 + 380 + 90 + 5)
    assert (wisc["evicted_s"], wisc["retried_s"], wisc["debug_s"], wisc["failed_s"]) == (400, 200, 50, 0)
    assert (wisc["mem_n"], wisc["mem_used"], wisc["mem_req"], wisc["mem_over"]) == (1, 1500, 2000, 0)
    assert (wisc["disk_used"], wisc["disk_req"]) == (1000, 2000)
    assert (wisc["files_in"], wisc["bytes_in"], wisc["files_out"], wisc["bytes_out"]) == (2, 2e6, 1, 1e6)
    purdue = sites["Purdue"]
    assert (purdue["attempts"], purdue["succeeded"], purdue["failed"], purdue["held"]) == (2, 0, 1, 1)
    assert (purdue["wall"], purdue["failed_s"], purdue["held_s"], purdue["evicted_s"]) == (800, 500, 300, 0)
    assert (purdue["mem_n"], purdue["mem_used"], purdue["mem_req"], purdue["mem_over"]) == (1, 2500, 2000, 1)
    fnal = sites["FNAL"]
    assert (fnal["attempts"], fnal["killed"], fnal["removed"], fnal["succeeded"]) == (2, 1, 1, 0)
    assert (fnal["wall"], fnal["killed_s"], fnal["removed_s"]) == (60, 60, 0)


def test_keys_cpu_model_subnet_window_day_and_the_daily_table_agree(accounted):
    conn, _ = accounted
    assert {k: v["attempts"] for k, v in by(conn, "accounting_rollup", "subnet").items()} == {
        "10.1.2.0/24": 5,
        "10.9.8.0/24": 2,
        "unknown": 2,
    }
    assert {k: v["attempts"] for k, v in by(conn, "accounting_rollup", "cpu_model").items()} == {
        "AMD EPYC 7763": 5,
        "Intel Xeon Gold 6248": 2,
        "unknown": 2,
    }
    daily = {d: f"accounting_daily WHERE dimension = '{d}'" for d in ("site", "cpu_model", "time_window", "stage")}
    assert {k: v["attempts"] for k, v in by(conn, daily["time_window"], "value").items()} == {
        "night": 5,
        "lunch": 2,
        "evening": 2,
    }
    assert {str(k): v["attempts"] for k, v in by(conn, daily["stage"], "day").items()} == {
        "2026-11-30": 7,
        "2026-12-01": 2,
    }
    assert {k: v["attempts"] for k, v in by(conn, daily["stage"], "campaign").items()} == {"c1": 7, "c2": 2}
    assert by(conn, "accounting_rollup", "stage") == by(conn, daily["stage"], "value")
    assert by(conn, "accounting_rollup", "site") == by(conn, daily["site"], "value")
    assert by(conn, "accounting_rollup", "cpu_model") == by(conn, daily["cpu_model"], "value")
    total = by(conn, daily["stage"], "'all'")["all"]
    assert all(by(conn, table, "'all'")["all"] == total for table in daily.values())  # each dimension: every attempt
    wasted = sum(total[k] for k in ("failed_s", "killed_s", "held_s", "removed_s", "retried_s", "debug_s", "evicted_s"))
    assert wasted == 400 + 500 + 300 + 200 + 50 + 60


def test_a_rerun_changes_nothing_and_an_overlap_changes_nothing(accounted):
    conn, _ = accounted
    before = tables(conn)
    again = roll_up(conn, overlap=timedelta(0))
    assert again.changed_attempts == 0 and tables(conn) == before
    overlapping = roll_up(conn, overlap=timedelta(days=365))
    assert overlapping.changed_attempts == 10 and tables(conn) == before


def test_only_attempts_written_since_the_last_run_are_read_and_a_retry_moves_hours(db_url):
    with connect(db_url) as conn:
        rid, sid = first_submission(conn)
        conn.commit()
        first = roll_up(conn, overlap=timedelta(0))
        assert (first.since, first.changed_attempts, first.accounted_attempts) == (None, 4, 4)
        wisc = by(conn, "accounting_rollup", "site")["Wisconsin"]
        assert (wisc["succeeded"], wisc["retried_s"], wisc["evicted_s"]) == (2, 0, 400)

        retry_and_debug(conn, rid)
        conn.commit()
        second = roll_up(conn, overlap=timedelta(0))
        # 3 new attempts; jobs 1 and 3's earlier attempts are accounted again beside them
        assert second.since == first.cursor and second.changed_attempts == 3 and second.accounted_attempts == 5
        wisc = by(conn, "accounting_rollup", "site")["Wisconsin"]
        assert (wisc["attempts"], wisc["succeeded"], wisc["retried_s"], wisc["debug_s"]) == (5, 4, 200, 50)

        # the held attempt is released and succeeds: it moves from held to succeeded
        conn.execute(
            "UPDATE job_attempts SET state = 'completed', exit_code = 0, remote_wall_clock_time = 350,"
            " updated_at = now() WHERE submission_id = %s AND proc_id = 2",
            (sid,),
        )
        conn.commit()
        third = roll_up(conn, overlap=timedelta(0))
        assert third.changed_attempts == 1
        purdue = by(conn, "accounting_rollup", "site")["Purdue"]
        assert (purdue["attempts"], purdue["held"], purdue["succeeded"], purdue["held_s"], purdue["wall"]) == (
            2,
            0,
            1,
            0,
            850,
        )


def test_an_attempt_is_accounted_once_it_ends(db_url):
    with connect(db_url) as conn:
        sid = other_request(conn)
        conn.commit()
        roll_up(conn, overlap=timedelta(0))
        assert by(conn, "accounting_rollup", "site")["FNAL"]["attempts"] == 2
        conn.execute(
            "UPDATE job_attempts SET state = 'completed', exit_code = 0, remote_wall_clock_time = 90,"
            " updated_at = now() WHERE submission_id = %s AND proc_id = 2",
            (sid,),
        )
        conn.commit()
        roll_up(conn, overlap=timedelta(0))
        fnal = by(conn, "accounting_rollup", "site")["FNAL"]
        assert (fnal["attempts"], fnal["succeeded"], fnal["wall"]) == (3, 1, 150)


def test_the_sql_waste_cause_is_the_python_one_for_every_combination(db_url):
    with connect(db_url) as conn:
        for outcome, latest, debug in itertools.product(Outcome, (True, False), (True, False)):
            sql = conn.execute(
                q("accounting_waste_cause"), {"outcome": outcome.value, "latest": latest, "debug": debug}
            ).fetchone()["cause"]
            python = waste_cause(outcome, latest=latest, debug=debug)
            assert sql == (python.value if python else None), (outcome, latest, debug)
        assert {c.value for c in WasteCause} - {"evicted"} == {
            r["c"]
            for r in conn.execute(
                "SELECT DISTINCT accounting_waste_cause(o, l, d) AS c FROM unnest(%s::text[]) o,"
                " unnest(ARRAY[true, false]) l, unnest(ARRAY[true, false]) d",
                ([o.value for o in Outcome],),
            )
            if r["c"]
        }


@pytest.mark.parametrize(
    ("ip", "subnet"),
    [
        ("10.1.2.3", "10.1.2.0/24"),
        ("192.168.255.1", "192.168.255.0/24"),
        ("2001:db8:1:2:3::4", "2001:db8:1:2::/64"),
        ("999.1.1.1", "unknown"),
        ("::::", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
        ("host.example", "unknown"),
    ],
)
def test_worker_subnet(db_url, ip, subnet):
    with connect(db_url) as conn:
        assert conn.execute("SELECT accounting_subnet(%s) AS s", (ip,)).fetchone()["s"] == subnet
