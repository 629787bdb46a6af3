"""Building blocks of the inferred-outage tests: a demo-grid request whose stage ran, with failed and
succeeded attempts ending when the test says, and the board fed by a monitor that says all is up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prodops.batch.classads import map_ad
from prodops.batch.eventlog import EventLogWriter
from prodops.constants import RequestState
from prodops.request import service as request_service
from prodops.request.decision import record_decision
from prodops.stage import stage_spec, submit_stage
from prodops.status import records as status_records
from prodops.status.events import from_native
from prodops.status.registry import load_registry, sync_registry
from prodops.store import records
from prodops.store.db import connect
from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import PluginRunner
from prodops.workflows import load_templates
from tests.integration.fakes import ScriptedBackend, job_ad

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FORM = {
    "experiment": "nova", "campaign": "inferred", "workflow": "demo-grid", "n_jobs": 30, "request_memory_mb": 1000,
    "request_disk_mb": 100, "max_wall_time_min": 60, "priority": 40,
    "justification": "integration test of inferred outages", "contact": "ops@example.org",
}
XROOTD = "Error in <TNetXNGFile::Open>: [FATAL] Server responded with an error: [3011] No servers are available\n"
FAILED = 25
"""Jobs 0-24 of the first stage fail with XRootD's "no servers" within two minutes, ten minutes ago."""


def ts(t: datetime) -> int:
    return int(t.timestamp())


def first_failure() -> datetime:
    return NOW - timedelta(minutes=10)


def xrootd_failures(n: int = FAILED, *, start: datetime | None = None, ok: int = 5,
                    ok_at: datetime | None = None) -> dict[int, tuple[Mapping[str, object], str, str, datetime]]:
    """proc -> (ad attributes, stdout, stderr, end): ``n`` failures 5 s apart, then ``ok`` successes."""
    start = start or first_failure()
    jobs = {i: ({"ExitCode": 65}, "opening input\n", XROOTD, start + timedelta(seconds=5 * i)) for i in range(n)}
    for k in range(ok):
        jobs[n + k] = ({"ExitCode": 0}, "all good\n", "", ok_at or NOW - timedelta(minutes=40))
    return jobs


def successes(n: int, start: datetime) -> dict[int, tuple[Mapping[str, object], str, str, datetime]]:
    return {i: ({"ExitCode": 0}, "all good\n", "", start + timedelta(seconds=10 * i)) for i in range(n)}


def run_stage(db_url: str, tmp_path: Path, jobs: Mapping[int, tuple[Mapping[str, object], str, str, datetime]], *,
              run_id: str, cluster: int) -> tuple[int, int]:
    """A request of demo-grid, approved, its stage submitted and its attempts recorded; (request id, submission id)."""
    made = request_service.record_request(db_url, dag_id="production_request", run_id=run_id,
                                          conf={**FORM, "n_jobs": len(jobs)})
    rid = made["request_id"]
    record_decision(db_url, rid, state=RequestState.APPROVED, priority=50, decided_by="anna")
    with connect(db_url) as conn:
        request = records.get_request(conn, rid)
    spec = stage_spec(request_id=rid, request=request, template=load_templates()["demo-grid"], stage="run",
                      home=tmp_path / run_id)
    sid = submit_stage(db_url=db_url, backend=ScriptedBackend(cluster_id=cluster), spec=spec)
    workdir = Path(spec.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ads = []
    with EventLogWriter(workdir / "jobs.log", host="wn") as w:
        for proc, (attrs, out, err, ended) in jobs.items():
            (workdir / f"job.{proc}.out").write_text(out)
            (workdir / f"job.{proc}.err").write_text(err)
            began = ended - timedelta(minutes=20)
            w.submit(cluster, proc, when=ts(began))
            w.execute(cluster, proc, slot_name="slot1@wn", when=ts(began))
            ads.append(job_ad(cluster, proc, 4, QDate=ts(began), JobStartDate=ts(began),
                              JobCurrentStartDate=ts(began), CompletionDate=ts(ended), EnteredCurrentStatus=ts(ended),
                              RemoteWallClockTime=1200.0, RequestMemory=1000, **attrs))
    with connect(db_url) as conn:
        records.write_job_attempts(conn, sid, [map_ad(a) for a in ads])
        conn.commit()
    return rid, sid


def monitor_says_up(db_url: str, *, at: datetime | None = None, services: tuple[str, ...] = ("dcache", "samweb"),
                    state: str = "up") -> None:
    """The registry loaded and the monitoring feed reporting each service (fresh: stale_after is 15 min)."""
    at = at or NOW - timedelta(minutes=1)
    with connect(db_url) as conn:
        sync_registry(conn, load_registry())
        status_records.insert_events(conn, from_native({"events": [
            {"service": s, "state": state, "time": at.isoformat(), "id": f"{s}-{state}-{ts(at)}"} for s in services
        ]}, feed="icinga", now=NOW))
        conn.commit()


def classifier() -> Classifier:
    return Classifier(load_library(), PluginRunner([]))


def status_rows(db_url: str, source: str = "inferred") -> list[dict]:
    with connect(db_url) as conn:
        return conn.execute("SELECT id, service, state, observed_at, source, feed, stream, external_id, code, message,"
                            " details FROM status_events WHERE source = %s ORDER BY observed_at, id",
                            (source,)).fetchall()
