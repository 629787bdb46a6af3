"""Phase rows: repeated and out-of-order reports are idempotent, and API beats stdout in either order."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from prodops.phases.harvest import harvest_stage
from prodops.phases.markers import PhaseFields, PhaseSource, PhaseState
from prodops.phases.store import phases_of, record_phases, unfinished
from prodops.store.db import connect

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)
STARTED = PhaseFields(phase="copy-out", state=PhaseState.STARTED, time=T0)
FINISHED = PhaseFields(phase="copy-out", state=PhaseState.FINISHED, status=0, wall=3.0, time=T0.replace(minute=1))
FROM_API = PhaseFields(phase="process", state=PhaseState.FINISHED, status=0, cpu=10.0, events=100, time=T0)
FROM_STDOUT = PhaseFields(phase="process", state=PhaseState.FINISHED, status=1, cpu=99.0, time=T0.replace(second=5))


def _rows(db_url, submission_id, job_index=0):
    with connect(db_url) as conn:
        return phases_of(conn, [(submission_id, job_index)])[(submission_id, job_index)]


def _record(db_url, submission_id, events, source):
    with connect(db_url) as conn:
        written = record_phases(conn, submission_id, events, source)
        conn.commit()
    return written


def test_finished_before_started_lands_both_in_the_jobs_order(db_url, submitted):
    assert _record(db_url, submitted.submission_id, [(0, FINISHED)], PhaseSource.API) == 1
    assert _record(db_url, submitted.submission_id, [(0, STARTED)], PhaseSource.API) == 1
    rows = _rows(db_url, submitted.submission_id)
    assert [(r.phase, r.state, r.status_code) for r in rows] == [("copy-out", PhaseState.STARTED, None),
                                                                 ("copy-out", PhaseState.FINISHED, 0)]
    assert unfinished(rows) == []


def test_a_repeated_report_writes_nothing(db_url, submitted):
    assert _record(db_url, submitted.submission_id, [(0, STARTED), (0, STARTED)], PhaseSource.API) == 1
    assert _record(db_url, submitted.submission_id, [(0, STARTED)], PhaseSource.API) == 0
    assert len(_rows(db_url, submitted.submission_id)) == 1


@pytest.mark.parametrize("order", list(itertools.permutations(["api", "stdout"])))
def test_the_api_report_is_kept_over_the_stdout_marker_whichever_came_first(db_url, submitted, order):
    for source in order:
        event = FROM_API if source == "api" else FROM_STDOUT
        _record(db_url, submitted.submission_id, [(1, event)], PhaseSource(source))
    (row,) = _rows(db_url, submitted.submission_id, 1)
    assert (row.source, row.status_code, row.cpu_s, row.events) == (PhaseSource.API, 0, 10.0, 100)


def test_within_one_source_the_latest_reported_is_kept_in_any_order(db_url, submitted):
    early = PhaseFields(phase="process", state=PhaseState.FINISHED, status=1, time=T0)
    late = PhaseFields(phase="process", state=PhaseState.FINISHED, status=0, time=T0.replace(minute=5))
    _record(db_url, submitted.submission_id, [(0, late)], PhaseSource.API)
    assert _record(db_url, submitted.submission_id, [(0, early)], PhaseSource.API) == 0
    _record(db_url, submitted.submission_id, [(2, early), (2, late)], PhaseSource.API)
    assert [r.status_code for r in _rows(db_url, submitted.submission_id, 0)] == [0]
    assert [r.status_code for r in _rows(db_url, submitted.submission_id, 2)] == [0]


def test_unfinished_names_the_phase_a_job_stopped_in(db_url, submitted):
    process_done = PhaseFields(phase="process", state=PhaseState.FINISHED, status=0, time=T0)
    _record(db_url, submitted.submission_id, [(0, process_done), (0, STARTED)], PhaseSource.API)
    assert [(r.phase, r.state) for r in unfinished(_rows(db_url, submitted.submission_id))] == [
        ("copy-out", PhaseState.STARTED)]


def _write_stdout(workdir, proc, text):
    from pathlib import Path

    Path(workdir).mkdir(parents=True, exist_ok=True)
    (Path(workdir) / f"job.{proc}.out").write_text(text)


def test_harvest_records_the_stdout_markers_once_and_never_over_a_post(db_url, submitted, caplog):
    _write_stdout(submitted.workdir, 0, "demo job 0\n"
                  "@@prodops phase=process state=started time=2026-12-02T10:00:00Z\n"
                  "@@prodops phase=process state=finished status=1 cpu=99 time=2026-12-02T10:00:05Z\n"
                  "@@prodops phase=copy-out state=begun\n")
    _write_stdout(submitted.workdir, 2, "@@prodops phase=copy-out state=started\n")
    _record(db_url, submitted.submission_id, [(0, FROM_API)], PhaseSource.API)
    first = harvest_stage(db_url, submitted.request_id, "run")
    assert (first.jobs, first.markers, first.written) == (3, 3, 2)
    assert [(p.line_number, "state='begun'" in p.error) for _, p in first.problems] == [(4, True)]
    assert "Malformed phase marker" in caplog.text and "job.0.out line 4" in caplog.text
    again = harvest_stage(db_url, submitted.request_id, "run")
    assert (again.markers, again.written) == (3, 0)
    job0 = _rows(db_url, submitted.submission_id, 0)
    assert [(r.phase, r.state, r.source, r.status_code) for r in job0] == [
        ("process", PhaseState.STARTED, PhaseSource.STDOUT, None),
        ("process", PhaseState.FINISHED, PhaseSource.API, 0)]
    assert [(r.phase, r.source) for r in _rows(db_url, submitted.submission_id, 2)] == [
        ("copy-out", PhaseSource.STDOUT)]


def test_a_symlinked_stdout_is_not_read(db_url, submitted, tmp_path):
    import os

    secret = tmp_path / "elsewhere.txt"
    secret.write_text("@@prodops phase=copy-out state=started\n")
    os.makedirs(submitted.workdir, exist_ok=True)
    os.symlink(secret, os.path.join(submitted.workdir, "job.0.out"))
    assert harvest_stage(db_url, submitted.request_id, "run").markers == 0


def test_harvest_of_a_retry_records_the_stage_job_index_of_each_job(db_url, submitted):
    with connect(db_url) as conn:
        conn.execute("UPDATE submissions SET spec = jsonb_set(spec, '{job_indexes}', '[4, 7, 9]') WHERE id = %s",
                     (submitted.submission_id,))
        conn.commit()
    _write_stdout(submitted.workdir, 1, "@@prodops phase=copy-out state=started\n")
    assert harvest_stage(db_url, submitted.request_id, "run").written == 1
    assert [r.phase for r in _rows(db_url, submitted.submission_id, 7)] == ["copy-out"]
