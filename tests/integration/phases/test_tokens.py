"""Job tokens: issued at submission into the jobs' environment, stored as a hash, scoped and ending."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from prodops.phases import tokens
from prodops.stage import submit_stage
from prodops.store.db import connect
from tests.integration.fakes import ScriptedBackend
from tests.integration.phases.conftest import submit

pytestmark = pytest.mark.integration


def _scope(db_url, authorization, submission_id, now=None):
    with connect(db_url) as conn:
        return tokens.scope(conn, authorization, submission_id, now=now)


def _refused(db_url, authorization, submission_id, now=None) -> tokens.TokenRefused:
    with pytest.raises(tokens.TokenRefused) as caught:
        _scope(db_url, authorization, submission_id, now)
    return caught.value


def test_the_jobs_get_a_token_the_api_url_and_their_submission_but_only_the_hash_is_stored(db_url, tmp_path,
                                                                                            monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__PORT", "28080")
    monkeypatch.setenv("AIRFLOW__API__HOST", "0.0.0.0")
    submitted = submit(db_url, tmp_path)
    env = submitted.backend.submits[0].environment
    assert env["PRODOPS_SUBMISSION_ID"] == str(submitted.submission_id)
    assert env["PRODOPS_API_URL"] == "http://localhost:28080/prodops"
    assert submitted.token.startswith(tokens.TOKEN_PREFIX)
    with connect(db_url) as conn:
        stored = conn.execute("SELECT token_hash FROM job_tokens").fetchall()
        spec = conn.execute("SELECT spec::text AS spec FROM submissions").fetchone()["spec"]
    assert stored == [{"token_hash": tokens.hash_token(submitted.token)}]
    assert submitted.token not in spec  # the stored spec never holds it


def test_without_a_known_api_the_jobs_get_no_url_and_print_markers(submitted):
    assert "PRODOPS_API_URL" not in submitted.backend.submits[0].environment


def test_a_valid_token_scopes_the_submissions_own_jobs(db_url, submitted):
    scope = _scope(db_url, f"Bearer {submitted.token}", submitted.submission_id)
    assert scope == tokens.JobScope(submission_id=submitted.submission_id, job_indexes=(0, 1, 2))
    scope.check_job(2)
    with pytest.raises(tokens.TokenRefused) as caught:
        scope.check_job(3)
    assert caught.value.status == 403 and "job_index 3 is not a job of submission" in str(caught.value)


@pytest.mark.parametrize(("authorization", "says"), [
    (None, "no job token"),
    ("", "no job token"),
    ("Basic dXNlcjpwdw==", "no job token"),
    ("Bearer ", "no job token"),
    ("Bearer pdo_feedertoken", "not a job token"),
    ("Bearer pjt_wrong", "unknown"),
])
def test_a_missing_or_wrong_token_is_401(db_url, submitted, authorization, says):
    refused = _refused(db_url, authorization, submitted.submission_id)
    assert refused.status == 401 and says in str(refused)


def test_another_submissions_token_is_403(db_url, submitted, tmp_path):
    other = submit(db_url, tmp_path / "other", run_id="other", cluster_id=701)
    refused = _refused(db_url, f"Bearer {other.token}", submitted.submission_id)
    assert refused.status == 403 and "another submission" in str(refused)
    assert _scope(db_url, f"Bearer {other.token}", other.submission_id).submission_id == other.submission_id


def test_a_token_ends_with_its_submission_after_the_grace_period(db_url, submitted, monkeypatch):
    monkeypatch.setenv("PRODOPS_PHASE_TOKEN_GRACE_S", "600")
    with connect(db_url) as conn:
        conn.execute("UPDATE submissions SET state = 'done', finished_at = %s WHERE id = %s",
                     (datetime(2026, 12, 2, 10, tzinfo=timezone.utc), submitted.submission_id))
        conn.commit()
    bearer = f"Bearer {submitted.token}"
    inside = datetime(2026, 12, 2, 10, 9, tzinfo=timezone.utc)
    assert _scope(db_url, bearer, submitted.submission_id, now=inside).submission_id == submitted.submission_id
    refused = _refused(db_url, bearer, submitted.submission_id, now=inside + timedelta(minutes=1))
    assert refused.status == 401 and "expired" in str(refused)


def test_a_token_expires_at_its_latest_even_while_the_submission_runs(db_url, submitted):
    with connect(db_url) as conn:
        expires = conn.execute("SELECT expires_at FROM job_tokens").fetchone()["expires_at"]
    refused = _refused(db_url, f"Bearer {submitted.token}", submitted.submission_id, now=expires)
    assert refused.status == 401 and "expired" in str(refused)


def test_a_retry_submission_scopes_the_job_indexes_it_reruns(db_url, submitted):
    with connect(db_url) as conn:
        conn.execute("UPDATE submissions SET spec = jsonb_set(spec, '{job_indexes}', '[4, 7]') WHERE id = %s",
                     (submitted.submission_id,))
        conn.commit()
    scope = _scope(db_url, f"Bearer {submitted.token}", submitted.submission_id)
    assert scope.job_indexes == (4, 7)


def test_submitting_again_issues_no_new_token(db_url, submitted):
    spec = submitted.backend.submits[0]
    again = ScriptedBackend(cluster_id=700)
    assert submit_stage(db_url=db_url, backend=again, spec=spec) == submitted.submission_id
    assert again.submits == []
    assert _scope(db_url, f"Bearer {submitted.token}", submitted.submission_id).submission_id == submitted.submission_id


class CrashAfterSubmit(ScriptedBackend):
    """The schedd takes the jobs, then the worker dies before prodops records the cluster."""

    def submit(self, spec):
        super().submit(spec)
        raise SystemExit("worker killed after the schedd took the jobs")


def test_a_submit_run_again_after_a_crash_keeps_the_first_tries_token_valid(db_url, tmp_path):
    """The retry finds the cluster the first try made (prodops' job attributes); those jobs carry
    the first try's token, so it must still write their phases beside the retry's own."""
    from prodops.constants import RequestState
    from prodops.request import service as request_service
    from prodops.request.decision import record_decision
    from prodops.stage import stage_spec
    from prodops.store import records
    from prodops.workflows import load_templates
    from tests.integration.phases.conftest import FORM

    made = request_service.record_request(db_url, dag_id="production_request", run_id="crashed", conf=FORM)
    record_decision(db_url, made["request_id"], state=RequestState.APPROVED, priority=50)
    with connect(db_url) as conn:
        spec = stage_spec(request_id=made["request_id"], request=records.get_request(conn, made["request_id"]),
                          template=load_templates()["demo"], stage="run", home=tmp_path)
    crashed = CrashAfterSubmit(cluster_id=710)
    with pytest.raises(SystemExit):
        submit_stage(db_url=db_url, backend=crashed, spec=spec)
    again = ScriptedBackend(cluster_id=710)  # finds the cluster: the same jobs, no new ones
    submission_id = submit_stage(db_url=db_url, backend=again, spec=spec)
    first, second = (b.submits[0].environment["PRODOPS_PHASE_TOKEN"] for b in (crashed, again))
    assert first != second
    for token in (first, second):
        assert _scope(db_url, f"Bearer {token}", submission_id).submission_id == submission_id
    with connect(db_url) as conn:
        stored = conn.execute("SELECT count(*) AS n FROM job_tokens WHERE submission_id = %s", (submission_id,))
        assert stored.fetchone()["n"] == 2
