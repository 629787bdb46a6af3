"""The phase route through the app: token auth (missing, wrong, another submission's, expired),
named field errors, idempotent and order-free posts, and the body documented in OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from prodops.store.db import connect
from prodops.web.app import create_app
from tests.integration.phases.conftest import submit

pytestmark = pytest.mark.integration

BODY = {"job_index": 1, "phase": "copy-out", "state": "started", "time": "2026-12-02T10:00:00Z"}


@pytest.fixture
def client(db_url):
    with TestClient(create_app(db_url, sync_registry=False)) as c:
        yield c


def _post(client, submission_id, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/api/v1/submissions/{submission_id}/phases", json=body, headers=headers)


def _stored(db_url):
    with connect(db_url) as conn:
        return [tuple(r.values()) for r in conn.execute(
            "SELECT submission_id, job_index, phase, state, status_code, source FROM job_phases ORDER BY 1, 2, 3, 4")]


def test_a_job_posts_its_phase_with_its_token(client, db_url, submitted):
    answer = _post(client, submitted.submission_id, BODY, submitted.token)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"submission_id": submitted.submission_id, "job_index": 1, "phase": "copy-out",
                             "state": "started", "stored": True}
    assert _stored(db_url) == [(submitted.submission_id, 1, "copy-out", "started", None, "api")]


def test_repeated_and_out_of_order_posts_are_idempotent(client, db_url, submitted):
    finished = {**BODY, "state": "finished", "status": 0, "time": "2026-12-02T10:01:00Z"}
    assert _post(client, submitted.submission_id, finished, submitted.token).json()["stored"] is True
    assert _post(client, submitted.submission_id, BODY, submitted.token).json()["stored"] is True
    assert _post(client, submitted.submission_id, BODY, submitted.token).json()["stored"] is False
    assert _post(client, submitted.submission_id, finished, submitted.token).json()["stored"] is False
    sid = submitted.submission_id
    assert _stored(db_url) == [(sid, 1, "copy-out", "finished", 0, "api"), (sid, 1, "copy-out", "started", None, "api")]


@pytest.mark.parametrize(("token", "says"), [(None, "no job token"), ("pjt_not-issued", "unknown"),
                                             ("pdo_a-feeder-token", "not a job token")])
def test_no_token_or_a_wrong_one_is_401_and_stores_nothing(client, db_url, submitted, token, says):
    answer = _post(client, submitted.submission_id, BODY, token)
    assert answer.status_code == 401 and says in answer.json()["detail"]
    assert answer.headers["www-authenticate"] == "Bearer"
    assert _stored(db_url) == []


def test_no_token_is_401_even_with_a_bad_body(client, submitted):
    assert _post(client, submitted.submission_id, {"phase": "Bad Phase"}).status_code == 401


def test_a_body_is_read_only_after_the_token_and_within_the_limit(client, submitted, monkeypatch):
    """FastAPI parsed a declared body before the token check: a 5 MB post without a token was read first."""
    parsed = []
    monkeypatch.setattr("prodops.web.api.body.parse_json", lambda raw: parsed.append(raw))
    big = b'{"phase": "' + b"x" * 5_000_000 + b'"}'
    url = f"/api/v1/submissions/{submitted.submission_id}/phases"
    assert client.post(url, content=big, headers={"Content-Type": "application/json"}).status_code == 401
    assert parsed == []
    answer = client.post(url, content=big, headers={"Authorization": f"Bearer {submitted.token}"})
    assert answer.status_code == 413 and parsed == []


def test_another_submissions_token_is_403(client, db_url, submitted, tmp_path):
    other = submit(db_url, tmp_path / "other", run_id="other", cluster_id=701)
    answer = _post(client, submitted.submission_id, BODY, other.token)
    assert answer.status_code == 403 and "another submission" in answer.json()["detail"]
    assert _post(client, other.submission_id, BODY, other.token).status_code == 200
    assert _stored(db_url) == [(other.submission_id, 1, "copy-out", "started", None, "api")]


def test_a_job_index_outside_the_submission_is_403(client, db_url, submitted):
    answer = _post(client, submitted.submission_id, {**BODY, "job_index": 3}, submitted.token)
    assert answer.status_code == 403 and "job_index 3 is not a job of submission" in answer.json()["detail"]
    assert _stored(db_url) == []


def test_a_token_expired_with_its_submission_is_401(client, db_url, submitted, monkeypatch):
    monkeypatch.setenv("PRODOPS_PHASE_TOKEN_GRACE_S", "60")
    with connect(db_url) as conn:
        conn.execute("UPDATE submissions SET state = 'done', finished_at = now() - interval '61 seconds'"
                     " WHERE id = %s", (submitted.submission_id,))
        conn.commit()
    answer = _post(client, submitted.submission_id, BODY, submitted.token)
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    assert _stored(db_url) == []


def test_a_wrong_field_is_422_naming_it(client, db_url, submitted):
    answer = _post(client, submitted.submission_id, {**BODY, "state": "begun", "cpu": -1}, submitted.token)
    assert answer.status_code == 422
    fields = {tuple(e["loc"][-1:]) for e in answer.json()["detail"]}
    assert {("state",), ("cpu",)} <= fields
    assert _stored(db_url) == []


def test_the_openapi_documents_the_body_and_the_auth_answers(client):
    spec = client.get("/openapi.json").json()
    route = spec["paths"]["/api/v1/submissions/{submission_id}/phases"]["post"]
    assert {"401", "403", "422"} <= set(route["responses"])
    schema = spec["components"]["schemas"]["PhaseReport"]
    assert {"job_index", "phase", "state"} <= set(schema["required"])
    assert {"status", "cpu", "wall", "events", "time"} <= set(schema["properties"])
