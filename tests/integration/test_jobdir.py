"""The job directory check against a real prodops database (prodops.jobdir)."""

from __future__ import annotations

import pytest

from prodops.jobdir import JobDirNotShared, check, database_facts, write_marker
from prodops.store import records
from prodops.store.db import connect

from .test_request_flow import FORM

pytestmark = pytest.mark.integration


def _running_submission(db_url: str, workdir: str) -> int:
    with connect(db_url) as conn:
        request_id = records.upsert_request(conn, dag_id="production_request", run_id="manual__jobdir", form=FORM)
        records.upsert_stages(conn, request_id, ["gen"])
        row = conn.execute(
            "INSERT INTO submissions (request_id, stage, backend, num_jobs, workdir, spec, state)"
            " VALUES (%s, 'gen', 'local', 1, %s, '{}', 'running') RETURNING id",
            (request_id, workdir),
        ).fetchone()
        conn.commit()
    return int(row["id"])


def test_the_identity_is_the_same_from_every_connection_and_names_the_database(db_url):
    identity, live = database_facts(db_url)
    assert identity == database_facts(db_url)[0]
    system_id, name = identity.split("/")
    assert system_id.isdigit() and name == db_url.rsplit("/", 1)[1].split("?")[0]
    assert live == []


def test_a_host_that_lacks_a_running_submissions_workdir_is_refused(db_url, tmp_path):
    shared, per_host = tmp_path / "shared", tmp_path / "per-host"
    identity, _ = database_facts(db_url)
    write_marker(shared, identity)
    write_marker(per_host, identity)  # an init run on each host marks both alike
    workdir = shared / "requests" / "1" / "gen" / "attempt-1"
    workdir.mkdir(parents=True)
    submission_id = _running_submission(db_url, str(workdir))
    check(shared, db_url)
    with pytest.raises(JobDirNotShared, match=f"outside {per_host} \\(submission {submission_id}: {workdir}\\)"):
        check(per_host, db_url)
    workdir.rmdir()  # the shared directory lost it (a mount that went away under a running stage)
    with pytest.raises(JobDirNotShared, match=f"have no workdir here \\(submission {submission_id}: {workdir}\\)"):
        check(shared, db_url)


def test_a_directory_marked_for_another_database_is_refused(db_url, tmp_path):
    write_marker(tmp_path, "1/another")
    with pytest.raises(JobDirNotShared, match="is the job directory of database 1/another"):
        check(tmp_path, db_url)
