"""A demo stage submitted to a scripted backend: a real submission row and its job token."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from prodops.constants import RequestState
from prodops.request import service as request_service
from prodops.request.decision import record_decision
from prodops.stage import stage_spec, submit_stage
from prodops.store import records
from prodops.store.db import connect
from prodops.workflows import load_templates
from tests.integration.fakes import ScriptedBackend

FORM = {
    "experiment": "nova", "campaign": "phases", "workflow": "demo", "n_jobs": 3, "request_memory_mb": 1000,
    "request_disk_mb": 100, "max_wall_time_min": 60, "priority": 40,
    "justification": "integration test of phase markers", "contact": "ops@example.org",
}


@dataclass
class Submitted:
    request_id: int
    submission_id: int
    token: str
    workdir: str
    backend: ScriptedBackend


def submit(db_url: str, tmp_path, run_id: str = "phases", attempt: int = 1, cluster_id: int = 700,
           job_indexes: tuple[int, ...] = ()) -> Submitted:
    made = request_service.record_request(db_url, dag_id="production_request", run_id=run_id, conf=FORM)
    rid = made["request_id"]
    record_decision(db_url, rid, state=RequestState.APPROVED, priority=50, decided_by="anna")
    with connect(db_url) as conn:
        request = records.get_request(conn, rid)
    spec = stage_spec(request_id=rid, request=request, template=load_templates()["demo"], stage="run", home=tmp_path,
                      attempt=attempt)
    backend = ScriptedBackend(cluster_id=cluster_id)
    sid = submit_stage(db_url=db_url, backend=backend, spec=spec)
    sent = backend.submits[0]
    return Submitted(rid, sid, sent.environment["PRODOPS_PHASE_TOKEN"], sent.workdir, backend)


@pytest.fixture
def submitted(db_url, tmp_path) -> Submitted:
    return submit(db_url, tmp_path)
