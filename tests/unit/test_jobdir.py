"""The job directory check every worker and triggerer runs at start (prodops.jobdir), without a database."""

from __future__ import annotations

import json
import os

import pytest

from prodops import jobdir
from prodops.jobdir import MARKER_NAME, JobDirNotShared, problems, read_marker, write_marker

DB = "7714637383622625598/prodops"
OTHER_DB = "1111111111111111111/prodops"


def test_a_marked_directory_with_the_running_workdirs_is_shared(tmp_path):
    write_marker(tmp_path, DB)
    (tmp_path / "requests" / "1" / "gen" / "attempt-1").mkdir(parents=True)
    assert problems(tmp_path, DB, [(7, str(tmp_path / "requests" / "1" / "gen" / "attempt-1"))]) == []


def test_a_missing_directory_is_named(tmp_path):
    found = problems(tmp_path / "absent", DB, [])
    assert found == [f"{tmp_path / 'absent'} does not exist on this host (or is not a directory)"]


def test_an_unmarked_directory_says_this_host_does_not_see_the_shared_one(tmp_path):
    (found,) = problems(tmp_path, DB, [])
    assert MARKER_NAME in found and "does not see the directory" in found and "per-host volume" in found


def test_a_directory_of_another_database_is_refused_naming_both(tmp_path):
    write_marker(tmp_path, OTHER_DB)
    (found,) = problems(tmp_path, DB, [])
    assert OTHER_DB in found and DB in found


def test_running_submissions_whose_workdirs_are_missing_are_listed(tmp_path):
    """The marker can be copied or an init run on each host: the running submissions' workdirs
    (recorded in the shared database) tell whether this host sees what the others wrote."""
    write_marker(tmp_path, DB)
    present = tmp_path / "requests" / "1" / "gen" / "attempt-1"
    present.mkdir(parents=True)
    gone = [(8, str(tmp_path / "requests" / "2" / "gen" / "attempt-1")), (9, str(tmp_path / "requests" / "3"))]
    (found,) = problems(tmp_path, DB, [(7, str(present)), *gone])
    assert found.startswith("2 running submission(s) have no workdir here")
    assert f"submission 8: {gone[0][1]}" in found and "submission 7" not in found


def test_running_submissions_recorded_under_another_path_say_the_mount_path_must_match(tmp_path):
    write_marker(tmp_path, DB)
    (found,) = problems(tmp_path, DB, [(8, "/srv/prodops-home/requests/2/gen/attempt-1")])
    assert found.startswith(f"1 running submission(s) have their workdir outside {tmp_path}")
    assert "submission 8: /srv/prodops-home/requests/2/gen/attempt-1" in found and "same path on every host" in found


def test_a_read_only_directory_is_named(tmp_path, monkeypatch):
    write_marker(tmp_path, DB)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anywhere: ask as another uid would
    (found,) = problems(tmp_path, DB, [])
    assert found == f"{tmp_path} is not writable by uid {os.getuid()}: jobs' workdirs are created there"


def test_writing_the_marker_again_keeps_it_and_another_database_is_refused(tmp_path):
    first = write_marker(tmp_path, DB)
    assert write_marker(tmp_path, DB) == first == read_marker(tmp_path)
    assert json.loads((tmp_path / MARKER_NAME).read_text())["database"] == DB
    with pytest.raises(JobDirNotShared, match="already the job directory of database"):
        write_marker(tmp_path, OTHER_DB)
    assert read_marker(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [MARKER_NAME]  # no temporary file left


def test_a_garbled_marker_names_the_file_and_the_fix(tmp_path):
    (tmp_path / MARKER_NAME).write_text("{not json")
    (found,) = problems(tmp_path, DB, [])
    assert str(tmp_path / MARKER_NAME) in found and "prodops.jobdir init" in found


def test_the_error_names_the_host_the_path_every_problem_and_the_fix(tmp_path):
    err = JobDirNotShared(tmp_path, ["first problem", "second problem"])
    text = str(err)
    assert f"PRODOPS_HOME={tmp_path}" in text and "  - first problem\n  - second problem" in text
    assert "Fix: mount the deployment's shared job directory" in text


def _facts(identity, live=()):
    return lambda url: (identity, list(live))


def test_run_refuses_to_start_the_component_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jobdir, "database_facts", _facts(DB))
    monkeypatch.setattr(os, "execvp", lambda *a: pytest.fail(f"the component was started: {a}"))
    rc = jobdir.main(["--url", "postgresql://db/prodops", "--home", str(tmp_path), "run", "--", "airflow", "triggerer"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "prodops: error: prodops job directory check failed" in err and MARKER_NAME in err


def test_run_starts_the_component_once_the_directory_is_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(jobdir, "database_facts", _facts(DB))
    started = []
    monkeypatch.setattr(os, "execvp", lambda prog, argv: started.append((prog, argv)))
    assert jobdir.main(["--url", "u", "--home", str(tmp_path), "init"]) == 0
    assert jobdir.main(["--url", "u", "--home", str(tmp_path), "run", "--", "airflow", "celery", "worker"]) == 0
    assert started == [("airflow", ["airflow", "celery", "worker"])]


def test_an_unreachable_database_is_a_clear_refusal(tmp_path, monkeypatch, capsys):
    def down(url):
        raise OSError("connection refused")

    monkeypatch.setattr(jobdir, "database_facts", down)
    assert jobdir.main(["--url", "u", "--home", str(tmp_path), "check"]) == 1
    assert (
        "the prodops database could not be read to check the directory (connection refused)" in capsys.readouterr().err
    )
