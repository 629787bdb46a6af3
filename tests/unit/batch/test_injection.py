"""Untrusted values reach HTCondor only as data: through the real htcondor2.Submit, the fake
schedd (the bindings' API) and the local pool, each hostile value is either refused naming its
field or reaches the job byte for byte."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import classad2
import pytest

from prodops.batch import quoting
from prodops.batch.base import SubmissionSpec
from prodops.batch.htcondor import HTCondorBackend
from prodops.batch.local import LocalPoolBackend
from prodops.batch.submit import expand_jobs, render_submit, split_arguments
from prodops.exceptions import SubmitFailed
from tests.fakes.schedd import FakeSchedd

LITERAL = [
    'say "hi"',                 # double quotes
    "it's",                     # single quote
    "C:\\dir\\file",            # backslashes
    'both \' and " and \\',     # all of them
    "a, b c",                   # the itemdata separators: comma and space
    ")",                        # ends an inline item list on a line of its own
    "# not a comment",
    "$HOME and 5$",             # a $ that is not a macro stays a $
    "x = y",                    # looks like a submit command
    "queue 1000",
    "ünïcödé ✓",
]
"""Values that reach the job as they are."""

REFUSED = {
    "newline": "poc\nexecutable = /usr/bin/touch",
    "carriage return": "a\rb",
    "NUL": "a\x00b",
    "unit separator": "a\x1fb",     # what htcondor2 joins itemdata fields with
    "C1 control": "a\x85b",
    "tab": "a\tb",
    "$ENV": "$ENV(HOME)",
    "$(macro)": "$(ProcId)",
    "$$ at match time": "$$(Memory)",
    "$$([expr])": "$$([1+1])",
    "$RANDOM_CHOICE": "$RANDOM_CHOICE(a,b)",
    "$INT": "$INT(ProcId)",
}


def spec_for(tmp_path: Path, executable: str, values: list[str], **extra) -> SubmissionSpec:
    return SubmissionSpec(
        request_id=9, stage="run", attempt=1, executable=executable, workdir=str(tmp_path / "attempt-1"),
        items=[quoting.arguments(["--value", value]) for value in values], request_memory_mb=64,
        request_disk_mb=10, max_wall_time_s=60, batch_name="nova-poc-9-run", **extra,
    )


@pytest.mark.parametrize("value", LITERAL)
def test_argument_reaches_the_job_byte_for_byte_through_the_real_submit(tmp_path, value):
    spec = spec_for(tmp_path, "/bin/echo", [value], environment={"PROBE": value})
    (job,) = expand_jobs(render_submit(spec), cluster_id=1)
    assert job.argv[1:] == ["--value", value]
    assert job.environment["PROBE"] == value


def test_per_job_items_of_a_retry_cannot_forge_the_other_queue_variables(tmp_path):
    spec = dataclasses.replace(spec_for(tmp_path, "/bin/echo", LITERAL), job_indexes=list(range(len(LITERAL))),
                               job_resources=[{"request_memory_mb": 100 + i} for i in range(len(LITERAL))])
    jobs = expand_jobs(render_submit(spec), cluster_id=1)
    assert [j.argv[1:] for j in jobs] == [["--value", v] for v in LITERAL]
    assert [j.request_memory_mb for j in jobs] == [100 + i for i in range(len(LITERAL))]
    assert [j.custom["ProdopsJobIndex"] for j in jobs] == [str(i) for i in range(len(LITERAL))]


@pytest.mark.parametrize("value", LITERAL)
def test_stage_reaches_the_ad_as_a_classad_string(tmp_path, value):
    spec = dataclasses.replace(spec_for(tmp_path, "/bin/echo", ["x"]), stage=value)
    (job,) = expand_jobs(render_submit(spec), cluster_id=1)
    assert classad2.ExprTree(job.custom["ProdopsStage"]).eval() == value
    assert classad2.ExprTree(job.custom["ProdopsSubmission"]).eval() == f"9/{value}/1"


@pytest.mark.parametrize("value", LITERAL)
def test_argument_reaches_the_schedd_as_data(tmp_path, value):
    schedd = FakeSchedd(first_cluster=700)
    try:
        backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)
        submission = backend.submit(spec_for(tmp_path, "/bin/echo", [value], environment={"PROBE": value}))
        (ad,) = schedd.query(f"ClusterId == {submission.cluster_id}", ["Arguments", "Environment", "JobBatchName"])
        assert split_arguments('"' + ad["Arguments"] + '"') == ["--value", value]
        assert ad["JobBatchName"] == "nova-poc-9-run"
    finally:
        schedd.close()


@pytest.mark.parametrize(("kind", "value"), REFUSED.items(), ids=list(REFUSED))
def test_hostile_argument_is_refused_naming_it(kind, value):
    with pytest.raises(SubmitFailed) as info:
        quoting.arguments(["--value", value])
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(("kind", "value"), REFUSED.items(), ids=list(REFUSED))
@pytest.mark.parametrize("field", ["items", "environment", "stage", "workdir", "executable"])
def test_hostile_value_in_any_field_of_a_spec_is_refused_before_htcondor_sees_it(tmp_path, kind, value, field):
    spec = spec_for(tmp_path, "/bin/echo", ["ok"])
    change = {
        "items": {"items": [f'"--value {value}"']},
        "environment": {"environment": {"PROBE": value}},
        "stage": {"stage": value},
        "workdir": {"workdir": str(tmp_path / value)},
        "executable": {"executable": f"/bin/{value}"},
    }[field]
    with pytest.raises(SubmitFailed) as info:
        render_submit(dataclasses.replace(spec, **change))
    message = str(info.value)
    assert field.rstrip("s") in message or "environment" in message
    assert "control character" in message or "macro syntax" in message


@pytest.mark.parametrize("name", ["poc\nexecutable = /usr/bin/touch", 'a"b', "x y", "$(Cluster)"])
def test_batch_name_holds_only_identifier_characters(tmp_path, name):
    with pytest.raises(SubmitFailed, match="batch_name"):
        render_submit(dataclasses.replace(spec_for(tmp_path, "/bin/echo", ["x"]), batch_name=name))


ECHO_JOB = """\
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "probe": os.environ.get("PROBE")}))
"""


def test_through_the_local_pool_each_job_gets_its_value_byte_for_byte(tmp_path, monkeypatch, wait_final, stop_pool):
    monkeypatch.setenv("PRODOPS_HOME", str(tmp_path))
    job = tmp_path / "echo_job.py"
    job.write_text(f"#!{sys.executable}\n" + ECHO_JOB)
    job.chmod(0o755)
    backend = LocalPoolBackend(slots=4)
    spec = spec_for(tmp_path, str(job), LITERAL, environment={"PROBE": LITERAL[3]})
    submission = backend.submit(spec)
    try:
        result, _ = wait_final(backend, submission)
    finally:
        stop_pool(tmp_path)
    assert sorted(int(ad["ExitCode"]) for ad in result.ads) == [0] * len(LITERAL)
    seen = [json.loads((Path(spec.workdir) / f"job.{proc}.out").read_text()) for proc in range(len(LITERAL))]
    assert [s["argv"] for s in seen] == [["--value", v] for v in LITERAL]
    assert {s["probe"] for s in seen} == {LITERAL[3]}


# ---- the template's submit block and the pool's submit settings (issue 14 item 1) ----------

PLACEMENT_FIELDS = {
    "sites": lambda v: {"sites": ["FermiGrid", v]},
    "os": lambda v: {"os": [v]},
    "requirements": lambda v: {"requirements": f'TARGET.Name == "{v}"'},
    "container_image": lambda v: {"container_image": v},
    "input_files": lambda v: {"input_files": [v]},
    "output_files": lambda v: {"output_files": [v]},
    "output_remaps": lambda v: {"output_remaps": {"a.dat": v}},
    "commands (expression)": lambda v: {"commands": {"+DESIRED_usage_model": f'"{v}"'}},
    "commands (text)": lambda v: {"commands": {"concurrency_limits": v}},
    "commands (name)": lambda v: {"commands": {v: "1"}},
}
POOL_FIELDS = {
    "accounting_group": lambda v: {"accounting_group": v},
    "accounting_group_user": lambda v: {"accounting_group": "g", "accounting_group_user": v},
    "oauth_service": lambda v: {"oauth_service": v},
    "oauth_permissions": lambda v: {"oauth_permissions": v},
    "token_file": lambda v: {"token_file": v},
    "x509userproxy": lambda v: {"x509userproxy": v},
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
@pytest.mark.parametrize("field", sorted(PLACEMENT_FIELDS))
def test_a_hostile_value_in_the_submit_block_is_refused_naming_the_field(field, kind):
    from prodops.batch.grid import SubmitConfigInvalid, parse_placement

    block = PLACEMENT_FIELDS[field](REFUSED[kind])
    with pytest.raises(SubmitConfigInvalid) as err:
        parse_placement(block, "t.yaml: stage 'run'")
    assert f"submit.{next(iter(block))}" in str(err.value)


@pytest.mark.parametrize("kind", sorted(REFUSED))
@pytest.mark.parametrize("field", sorted(POOL_FIELDS))
def test_a_hostile_value_in_the_pool_settings_is_refused_naming_the_field(field, kind):
    from prodops.batch.grid import PoolSubmit, SubmitConfigInvalid

    extra = {"experiments": {"nova": {"production": POOL_FIELDS[field](REFUSED[kind])}}}
    with pytest.raises(SubmitConfigInvalid) as err:
        PoolSubmit.from_extra(extra, "HTCondor connection 'c'")
    assert f"extra.experiments.nova.production.{field}" in str(err.value)
