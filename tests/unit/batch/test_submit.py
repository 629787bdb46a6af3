"""Rendering a SubmissionSpec with the real htcondor2.Submit, and expanding it per job."""

from __future__ import annotations

import dataclasses
import re

import htcondor2
import pytest

from prodops.batch.base import SubmissionSpec
from prodops.batch.submit import (
    expand_jobs,
    format_environment,
    item_values,
    parse_environment,
    render_submit,
    split_arguments,
    submit_file_text,
)
from prodops.exceptions import SubmitFailed

ITEMS = ["--job 0 --records 10", "--job 1 --records 10 --exit 2", "--job 2 --memory 800"]
SPEC = SubmissionSpec(
    request_id=42,
    stage="reco",
    attempt=2,
    executable="/opt/exp/bin/reco.sh",
    items=ITEMS,
    workdir="/data/prodops/requests/42/reco/attempt-2",
    request_memory_mb=2000,
    request_disk_mb=3000,
    max_wall_time_s=7200,
    priority=5,
    environment={"EXPERIMENT": "mu2e", "NOTE": "two words", "QUOTE": "it's \"x\""},
    batch_name="mu2e-mdc2025-42-reco",
)
WORKDIR = SPEC.workdir


def test_render_is_a_real_submit_with_every_command():
    submit = render_submit(SPEC)
    assert isinstance(submit, htcondor2.Submit)
    assert submit["executable"] == "/opt/exp/bin/reco.sh"
    assert submit["arguments"] == "$(args)"
    assert submit["initialdir"] == WORKDIR
    assert submit["log"] == f"{WORKDIR}/jobs.log"
    assert submit["output"] == f"{WORKDIR}/job.$(ProcId).out"
    assert submit["error"] == f"{WORKDIR}/job.$(ProcId).err"
    assert submit["request_memory"] == "2000"
    assert submit["request_disk"] == str(3000 * 1024)
    assert submit["request_cpus"] == "1"
    assert submit["allowed_execute_duration"] == "7200"
    assert submit["priority"] == "5"
    assert submit["batch_name"] == "mu2e-mdc2025-42-reco"
    assert submit["MY.ProdopsRequest"] == "42"
    assert submit["MY.ProdopsStage"] == '"reco"'
    assert submit["MY.ProdopsAttempt"] == "2"
    assert submit["MY.ProdopsSubmission"] == '"42/reco/2"'
    assert submit.getQArgs().startswith("args from")
    assert [item["args"] for item in submit.itemdata()] == ITEMS


def test_default_batch_name_and_no_environment():
    submit = render_submit(dataclasses.replace(SPEC, batch_name="", environment={}))
    assert submit["batch_name"] == "prodops-42-reco-2"
    assert "environment" not in submit


def test_submit_file_text_keeps_the_items_and_parses_back():
    submit = render_submit(SPEC)
    text = submit_file_text(submit)
    assert text.rstrip().endswith(")")
    again = htcondor2.Submit(text)
    assert dict(again) == dict(submit)
    assert item_values(again) == ITEMS


def test_expand_jobs_gives_each_job_its_item_and_proc_id():
    jobs = expand_jobs(render_submit(SPEC), cluster_id=77)
    assert [(j.cluster_id, j.proc_id) for j in jobs] == [(77, 0), (77, 1), (77, 2)]
    second = jobs[1]
    assert second.arguments == "--job 1 --records 10 --exit 2"
    assert second.argv == ["/opt/exp/bin/reco.sh", "--job", "1", "--records", "10", "--exit", "2"]
    assert second.output == f"{WORKDIR}/job.1.out"
    assert second.error == f"{WORKDIR}/job.1.err"
    assert second.user_log == f"{WORKDIR}/jobs.log"
    assert second.iwd == WORKDIR
    assert (second.request_memory_mb, second.request_disk_kb, second.request_cpus) == (2000, 3000 * 1024, 1)
    assert second.allowed_execute_duration == 7200
    assert second.priority == 5
    assert second.environment == SPEC.environment
    assert second.custom == {
        "ProdopsRequest": "42",
        "ProdopsStage": '"reco"',
        "ProdopsAttempt": "2",
        "ProdopsSubmission": '"42/reco/2"',
        "ProdopsJobIndex": "1",
    }


def test_expansion_does_not_touch_the_rendered_submit():
    submit = render_submit(SPEC)
    before = dict(submit)
    expand_jobs(submit, cluster_id=1)
    assert dict(submit) == before


def test_relative_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = dataclasses.replace(SPEC, executable="bin/job.sh", workdir="work")
    job = expand_jobs(render_submit(spec), cluster_id=1)[0]
    assert job.executable == str(tmp_path / "bin" / "job.sh")
    assert job.iwd == str(tmp_path / "work")
    assert job.output == str(tmp_path / "work" / "job.0.out")


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("--job 3 --records 100", ["--job", "3", "--records", "100"]),
        ("  a   b  ", ["a", "b"]),
        ('one \\"two\\"', ["one", '"two"']),
        ("\"--name 'two words' --x\"", ["--name", "two words", "--x"]),
        ("\"'it''s' \"\"q\"\"\"", ["it's", '"q"']),
        ('""', []),
    ],
)
def test_split_arguments_old_and_new_syntax(text, argv):
    assert split_arguments(text) == argv


def test_environment_round_trip_through_submit():
    env = {"A": "1", "B": "two words", "C": "it's", "D": 'say "hi"', "E": ""}
    text = format_environment(env)
    assert parse_environment(text) == env
    submit = render_submit(dataclasses.replace(SPEC, environment=env))
    assert expand_jobs(submit, 1)[0].environment == env


def test_old_environment_syntax_is_read():
    assert parse_environment("A=1;B=x") == {"A": "1", "B": "x"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items": []}, "items must be a non-empty list"),
        ({"items": "--job 1"}, "items must be a non-empty list"),
        ({"items": ["--job 0", "  "]}, "items[1]"),
        ({"items": ["--job 0\n--job 1"]}, "control character '\\n'"),
        ({"items": [")"]}, "would end the item list"),
        ({"request_memory_mb": 0}, "request_memory_mb = 0 must be positive"),
        ({"max_wall_time_s": -5}, "max_wall_time_s = -5 must be positive"),
        ({"executable": ""}, "executable is empty"),
        ({"stage": ""}, "stage ''"),
        ({"environment": {"BAD-NAME": "x"}}, "environment name 'BAD-NAME'"),
        ({"environment": {"X": "a\nb"}}, "control character '\\n'"),
    ],
)
def test_invalid_specs_name_the_field(change, message):
    with pytest.raises(SubmitFailed) as info:
        render_submit(dataclasses.replace(SPEC, **change))
    assert message in str(info.value)
    assert "submission '42/" in str(info.value)


RETRY = dataclasses.replace(
    SPEC, attempt=3, items=[ITEMS[1], ITEMS[2]], job_indexes=[1, 2],
    job_resources=[{}, {"request_memory_mb": 3000, "max_wall_time_s": 10800}],
)


def test_a_retry_submits_chosen_jobs_with_their_own_index_and_requests():
    submit = render_submit(RETRY)
    assert submit.getQArgs().startswith("prodops_job_index, prodops_memory_mb, prodops_disk_kb, prodops_wall_s, args from")
    jobs = expand_jobs(submit, cluster_id=9)
    assert [job.proc_id for job in jobs] == [0, 1]
    assert [job.arguments for job in jobs] == [ITEMS[1], ITEMS[2]]
    assert [job.custom["ProdopsJobIndex"] for job in jobs] == ["1", "2"]
    assert [job.request_memory_mb for job in jobs] == [2000, 3000]
    assert [job.request_disk_kb for job in jobs] == [3000 * 1024] * 2
    assert [job.allowed_execute_duration for job in jobs] == [7200, 10800]
    text = submit_file_text(submit)
    assert "2 3000 3072000 10800 --job 2 --memory 800" in text


def test_a_first_submission_tags_each_job_with_its_proc_as_job_index():
    jobs = expand_jobs(render_submit(SPEC), cluster_id=9)
    assert [job.custom["ProdopsJobIndex"] for job in jobs] == ["0", "1", "2"]
    assert {job.request_memory_mb for job in jobs} == {2000}


@pytest.mark.parametrize(("change", "message"), [
    ({"job_indexes": [1]}, "job_indexes has 1 entries for 2 items"),
    ({"job_indexes": [1, 1]}, "job_indexes repeats a job"),
    ({"job_indexes": [1, -2]}, "are not job indexes"),
    ({"job_resources": [{}, {"memory": 5}]}, "'memory' is not one of request_memory_mb"),
    ({"job_resources": [{}, {"request_memory_mb": 0}]}, "job_resources[1].request_memory_mb = 0 must be a positive"),
])
def test_bad_per_job_fields_are_refused_naming_them(change, message):
    with pytest.raises(SubmitFailed, match=re.escape(message)):
        render_submit(dataclasses.replace(RETRY, **change))
