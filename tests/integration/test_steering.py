"""Site steering on real PostgreSQL: what is counted, the threshold, one row per episode, the
cooling-off, a person lifting it, and the next submission of the workflow carrying the clause."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from psycopg.types.json import Jsonb

from prodops.batch.base import Submission, SubmissionSpec
from prodops.batch.grid import JobPlacement
from prodops.stage import submit_stage
from prodops.steering import SteeringNotFound, SteeringSettings, decide_workflow, lift, steer_spec
from prodops.store.db import connect, q

pytestmark = pytest.mark.integration

SETTINGS = SteeringSettings(window_h=2, min_attempts=10, failure_rate=0.5, cooling_off_h=6)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
_runs = itertools.count()


def new_request(conn, workflow: str = "mc_chain") -> int:
    run = f"steering-{next(_runs)}"
    request_id = conn.execute(
        "INSERT INTO requests (dag_id, run_id, experiment, campaign, workflow, request_memory_mb, request_disk_mb,"
        " max_wall_time_min, requested_priority, justification, contact, form, created_at)"
        " VALUES ('production_request', %(run)s, 'nova', 'steer', %(workflow)s, 200, 100, 5, 50, 'test', 'ops@x',"
        " '{}', %(created)s) RETURNING id",
        {"run": run, "workflow": workflow, "created": NOW - timedelta(days=1)},
    ).fetchone()["id"]
    conn.execute("INSERT INTO stages (request_id, name, position) VALUES (%(r)s, 'gen', 0)", {"r": request_id})
    return int(request_id)


def add_attempts(conn, request_id: int, site: str, outcomes: list[str], ended: datetime) -> None:
    """One submission of ``len(outcomes)`` jobs at ``site``; each outcome is ``ok`` or a verdict
    ``category`` (``service/outage``: a service verdict from an outage overlap)."""
    attempt = conn.execute(
        "SELECT count(*) + 1 AS n FROM submissions WHERE request_id = %(r)s", {"r": request_id}
    ).fetchone()["n"]
    sub = conn.execute(
        "INSERT INTO submissions (request_id, stage, attempt, backend, cluster_id, num_jobs, workdir, spec, state)"
        " VALUES (%(r)s, 'gen', %(a)s, 'local', %(c)s, %(n)s, '/tmp/w', '{}', 'done') RETURNING id",
        {"r": request_id, "a": attempt, "c": 1000 + attempt, "n": len(outcomes)},
    ).fetchone()["id"]
    for proc, outcome in enumerate(outcomes):
        conn.execute(
            "INSERT INTO job_attempts (submission_id, proc_id, cluster_id, state, exit_code, completion_date, site,"
            " ad, ad_hash) VALUES (%(s)s, %(p)s, %(c)s, 'completed', %(exit)s, %(ended)s, %(site)s, %(ad)s, 'h')",
            {
                "s": sub,
                "p": proc,
                "c": 1000 + attempt,
                "exit": 0 if outcome == "ok" else 1,
                "ended": ended,
                "site": site,
                "ad": Jsonb({}),
            },
        )
        if outcome == "ok":
            continue
        category, _, source = outcome.partition("/")
        conn.execute(
            "INSERT INTO triage_verdicts (submission_id, proc_id, request_id, stage, attempt, job_index, cluster_id,"
            " category, rule, source, explain, retryable, confidence, action, action_reason, verdict_hash)"
            " VALUES (%(s)s, %(p)s, %(r)s, 'gen', %(a)s, %(p)s, %(c)s, %(category)s, 'rule', %(source)s, 'x',"
            " true, 0.9, 'retry', 'x', 'h')",
            {
                "s": sub,
                "p": proc,
                "r": request_id,
                "a": attempt,
                "c": 1000 + attempt,
                "category": category,
                "source": source or "pattern",
            },
        )


def decided(conn, workflow: str = "mc_chain", now: datetime = NOW) -> list[str]:
    return [r["site"] for r in decide_workflow(conn, workflow, now=now, settings=SETTINGS)]


def test_only_infrastructure_and_service_failures_of_the_workflow_count(db_url):
    with connect(db_url) as conn:
        request = new_request(conn)
        ended = NOW - timedelta(minutes=30)
        # 5 of 10: at the threshold
        add_attempts(conn, request, "US_Purdue", ["infrastructure"] * 3 + ["service"] * 2 + ["ok"] * 5, ended)
        # 4 of 10 site failures, 6 code failures: below (code failures are the workflow's, not the site's)
        add_attempts(conn, request, "US_Wisconsin", ["infrastructure"] * 4 + ["code"] * 6, ended)
        # 9 failures of 10, all from outage overlaps (a central service's outage) or unknown
        add_attempts(conn, request, "US_Nebraska", ["service/outage"] * 6 + ["unknown"] * 3 + ["ok"], ended)
        # 9 of 9: too few attempts
        add_attempts(conn, request, "FermiGrid", ["infrastructure"] * 9, ended)
        # 10 of 10, but more than window_h ago
        add_attempts(conn, request, "US_Caltech", ["infrastructure"] * 10, NOW - timedelta(hours=3))
        # another workflow's failures at a site do not steer this one
        add_attempts(conn, new_request(conn, "keepup"), "US_UCSD", ["infrastructure"] * 10, ended)
        assert decided(conn) == ["US_Purdue"]
        row = conn.execute("SELECT * FROM site_steering").fetchone()
        assert (
            row["workflow"],
            row["attempts"],
            row["failures"],
            row["failure_rate"],
            row["threshold"],
            row["until"] - row["since"],
        ) == ("mc_chain", 10, 5, 0.5, 0.5, timedelta(hours=6))
        assert decided(conn, "keepup") == ["US_UCSD"]


def test_deciding_twice_makes_one_row_and_cooling_off_ends_it(db_url):
    with connect(db_url) as conn:
        request = new_request(conn)
        add_attempts(conn, request, "US_Purdue", ["infrastructure"] * 8 + ["ok"] * 2, NOW - timedelta(minutes=10))
        assert decided(conn) == ["US_Purdue"]
        assert decided(conn, now=NOW + timedelta(minutes=5)) == ["US_Purdue"]
        assert conn.execute("SELECT count(*) AS n FROM site_steering").fetchone()["n"] == 1
        assert decided(conn, now=NOW + timedelta(hours=5, minutes=59)) == ["US_Purdue"]
        after = NOW + timedelta(hours=6)
        assert decided(conn, now=after) == []  # cooled off; the failures that decided it do not count again
        # the site keeps failing after the cooling-off: a new episode
        add_attempts(conn, request, "US_Purdue", ["service"] * 10, after + timedelta(minutes=20))
        assert decided(conn, now=after + timedelta(minutes=30)) == ["US_Purdue"]
        assert conn.execute("SELECT count(*) AS n FROM site_steering").fetchone()["n"] == 2


def test_a_person_lifts_it_and_the_failures_before_do_not_bring_it_back(db_url):
    with connect(db_url) as conn:
        add_attempts(conn, new_request(conn), "US_Purdue", ["infrastructure"] * 10, NOW - timedelta(minutes=10))
        (row,) = decide_workflow(conn, "mc_chain", now=NOW, settings=SETTINGS)
        lifted = lift(conn, row["id"], lifted_by="alice", note="site fixed its squid", now=NOW + timedelta(hours=1))
        assert (lifted["lifted_by"], lifted["lift_note"]) == ("alice", "site fixed its squid")
        assert decided(conn, now=NOW + timedelta(hours=1, minutes=1)) == []
        again = lift(conn, row["id"], lifted_by="bob", now=NOW + timedelta(hours=2))
        assert (again["lifted_by"], again["lifted_at"]) == ("alice", NOW + timedelta(hours=1))
        with pytest.raises(SteeringNotFound, match="no site avoidance 999999"):
            lift(conn, 999999, lifted_by="alice")
        with pytest.raises(ValueError, match="lifted_by"):
            lift(conn, row["id"], lifted_by=" ")


class CapturingBackend:
    name = "capture"

    def __init__(self) -> None:
        self.specs: list[SubmissionSpec] = []

    def submit(self, spec: SubmissionSpec) -> Submission:
        self.specs.append(spec)
        return Submission(
            backend=self.name,
            cluster_id=4242 + len(self.specs),
            num_jobs=len(spec.items),
            event_log="",
            workdir=spec.workdir,
            key=spec.key,
        )


def test_the_next_submission_of_the_workflow_avoids_the_site(db_url, tmp_path):
    now = datetime.now(timezone.utc)
    with connect(db_url) as conn:
        request = new_request(conn)
        add_attempts(conn, request, "US_Purdue", ["infrastructure"] * 10, now - timedelta(minutes=5))
        assert conn.execute("SELECT count(*) AS n FROM site_steering").fetchone()["n"] == 0  # decided at submit
        conn.commit()
    first = SubmissionSpec(
        request_id=request,
        stage="gen",
        attempt=9,
        executable=str(tmp_path / "job.sh"),
        items=["--job 0"],
        workdir=str(tmp_path / "w"),
        experiment="nova",
        placement=JobPlacement(requirements="TARGET.HAS_CVMFS == true"),
    )
    backend = CapturingBackend()
    submission_id = submit_stage(db_url=db_url, backend=backend, spec=first)
    (sent,) = backend.specs
    assert sent.placement.avoid_sites == ("US_Purdue",)
    assert sent.placement.requirements == "TARGET.HAS_CVMFS == true"
    with connect(db_url) as conn:
        stored = conn.execute("SELECT spec FROM submissions WHERE id = %(id)s", {"id": submission_id}).fetchone()
        assert stored["spec"]["placement"]["avoid_sites"] == ["US_Purdue"]
        # lifted: the next retry round (built from the first spec) runs anywhere again
        (row,) = conn.execute(
            q("steering_open_of_workflow"), {"workflow": "mc_chain", "now": datetime.now(timezone.utc)}
        ).fetchall()
        lift(conn, row["id"], lifted_by="alice")
        retry = steer_spec(conn, dataclasses.replace(sent, attempt=10), settings=SETTINGS)
        assert retry.placement.avoid_sites == ()


class User:
    def get_name(self) -> str:
        return "paola"


@pytest.fixture
def avoidance(db_url) -> int:
    """The id of an open avoidance of US_Purdue by mc_chain, decided now."""
    with connect(db_url) as conn:
        add_attempts(conn, new_request(conn), "US_Purdue", ["infrastructure"] * 10, datetime.now(timezone.utc))
        (row,) = decide_workflow(conn, "mc_chain", settings=SETTINGS)
        conn.commit()
    return int(row["id"])


@pytest.fixture
def client(db_url, monkeypatch):
    """The prodops app; ``client.cookies`` set means logged in to Airflow as paola."""
    from fastapi.testclient import TestClient

    from prodops.web.app import create_app, viewer

    async def fake_user(request):
        return User()

    monkeypatch.setattr("prodops.web.app.airflow_user", fake_user)
    app = create_app(db_url)
    app.dependency_overrides[viewer] = lambda: None
    with TestClient(app) as c:
        yield c


def test_a_person_lifts_it_through_the_api_with_their_airflow_login(client, avoidance):
    listed = client.get("/api/v1/site-steering").json()["avoided"]
    assert [(r["id"], r["site"], r["workflow"], r["open"]) for r in listed] == [
        (avoidance, "US_Purdue", "mc_chain", True)
    ]
    assert client.post(f"/api/v1/site-steering/{avoidance}/lift", json={}).status_code == 401  # no login
    client.cookies.set("_token", "a-session")
    bad = client.post(f"/api/v1/site-steering/{avoidance}/lift", json={"note": 5})
    assert bad.status_code == 422 and "note" in bad.text
    r = client.post(f"/api/v1/site-steering/{avoidance}/lift", json={"note": "squid fixed"})
    assert r.status_code == 200, r.text
    assert (r.json()["lifted_by"], r.json()["lift_note"]) == ("paola", "squid fixed")
    assert client.get("/api/v1/site-steering").json()["avoided"][0]["open"] is False
    missing = client.post("/api/v1/site-steering/999999/lift", json={})
    assert missing.status_code == 404 and "no site avoidance 999999" in missing.text


def test_the_command_line_lists_and_lifts(db_url, avoidance, capsys):
    import json

    from prodops.steering import main

    assert main(["--url", db_url, "list"]) == 0
    assert [r["site"] for r in json.loads(capsys.readouterr().out)] == ["US_Purdue"]
    assert main(["--url", db_url, "lift", str(avoidance), "--by", "alice", "--note", "back"]) == 0
    assert json.loads(capsys.readouterr().out)["lifted_by"] == "alice"
    assert main(["--url", db_url, "lift", "999999", "--by", "alice"]) == 1
    assert "no site avoidance 999999" in capsys.readouterr().err


def test_the_boards_site_section_shows_it_with_the_figures_and_a_lift_button(client, db_url, avoidance):
    with connect(db_url) as conn:
        hostile = '<script>alert("x")</script>'
        add_attempts(conn, new_request(conn), hostile, ["service"] * 10, datetime.now(timezone.utc))
        decide_workflow(conn, "mc_chain", settings=SETTINGS)
        conn.commit()
    data = client.get("/api/v1/board").json()["site_steering"]
    purdue = next(a for a in data if a["site"] == "US_Purdue")
    assert (purdue["id"], purdue["failures"], purdue["attempts"], purdue["open"]) == (avoidance, 10, 10, True)
    page = client.get("/").text
    assert f'data-steering="{avoidance}" data-open="true"' in page
    assert f'data-lift-steering="{avoidance}"' in page
    assert "10 of 10 attempts failed at the site (100 %, threshold 50 %)" in page
    assert hostile not in page and "&lt;script&gt;" in page
    client.cookies.set("_token", "a-session")
    assert client.post(f"/api/v1/site-steering/{avoidance}/lift", json={"note": "ok"}).status_code == 200
    page = client.get("/").text
    assert f'data-steering="{avoidance}" data-open="false"' in page and "lifted by paola: ok" in page


def test_the_request_page_shows_the_sites_its_workflow_avoided(client, db_url, avoidance):
    with connect(db_url) as conn:
        request = new_request(conn)
        other = new_request(conn, "keepup")
        conn.commit()
    detail = client.get(f"/api/v1/requests/{request}").json()
    assert [(a["id"], a["site"]) for a in detail["site_steering"]] == [(avoidance, "US_Purdue")]
    assert client.get(f"/api/v1/requests/{other}").json()["site_steering"] == []
    page = client.get(f"/requests/{request}").text
    assert f'data-steering="{avoidance}"' in page
    assert "workflow mc_chain: 10 of 10 attempts failed at the site (100 %, threshold 50 %)" in page


def test_on_the_local_pool_the_retry_of_a_job_failed_by_the_site_carries_the_clause(db_url, tmp_path, monkeypatch):
    """A real stage on the local pool (its site named US_Nebraska, one of the
    template's four), a storage failure triaged as
    ``service`` from the job's own log, and the retry round: its job ad names the avoided site."""
    import time

    from prodops.batch.local import LocalPoolBackend
    from prodops.constants import RequestState
    from prodops.request import service
    from prodops.request.decision import record_decision
    from prodops.tracking import SubmissionTracker
    from prodops.triage import retry, settings
    from prodops.triage.service import triage_stage

    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    monkeypatch.setenv("PRODOPS_LOCAL_SITE", "US_Nebraska")
    steering = SteeringSettings(window_h=2, min_attempts=3, failure_rate=0.3, cooling_off_h=6)
    monkeypatch.setattr(settings, "load_settings", lambda: settings.TriageSettings(steering=steering))
    backend = LocalPoolBackend(pool_dir=tmp_path / "pool")

    def track(submission_id: int) -> None:
        tracker = SubmissionTracker(backend=backend, db_url=db_url, submission_id=submission_id)
        deadline = time.monotonic() + 120
        while not tracker.cycle().done:
            assert time.monotonic() < deadline, f"submission {submission_id} did not finish in 120 s"
            time.sleep(0.3)

    flag = tmp_path / "dcache-down"
    flag.write_text("1\n")
    conf = {
        "experiment": "nova", "campaign": "steer", "workflow": "mc_chain", "n_jobs": 3, "request_memory_mb": 200,
        "request_disk_mb": 100, "max_wall_time_min": 5, "priority": 50, "justification": "site steering",
        "contact": "ops@example.org",
        "workflow_options": {"events_per_job": 10, "sleep_s": 0, "storage_down_flag": str(flag)},
    }  # fmt: skip
    request_id = service.record_request(db_url, dag_id="production_request", run_id="steer", conf=conf)["request_id"]
    record_decision(db_url, request_id, state=RequestState.APPROVED, priority=55)
    first = service.submit_workflow_stage(db_url, backend, request_id, "gen")
    track(first)
    summary = triage_stage(db_url, request_id, "gen")
    assert (summary["failed"], summary["by_category"]) == (1, {"service": 1})

    plan = retry.plan_round(db_url, request_id, "gen")
    assert plan is not None and plan.job_indexes == [1]
    flag.unlink()
    second = retry.submit_round(db_url, backend, plan)
    track(second)
    with connect(db_url) as conn:
        (avoided,) = conn.execute("SELECT * FROM site_steering").fetchall()
        assert (avoided["workflow"], avoided["site"], avoided["attempts"], avoided["failures"]) == (
            "mc_chain", "US_Nebraska", 3, 1)  # fmt: skip
        spec = conn.execute("SELECT spec FROM submissions WHERE id = %(s)s", {"s": second}).fetchone()["spec"]
        assert spec["placement"]["avoid_sites"] == ["US_Nebraska"]
        ad = conn.execute("SELECT ad FROM job_attempts WHERE submission_id = %(s)s", {"s": second}).fetchone()["ad"]
    assert ad["ProdopsAvoidSites"] == ["US_Nebraska"]
