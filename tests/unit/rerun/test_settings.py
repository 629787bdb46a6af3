"""Debug settings checked against the template's debug block, and rendered by the real htcondor2.Submit."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodops.batch.base import SubmissionSpec
from prodops.batch.submit import expand_jobs, render_submit, submit_file_text
from prodops.exceptions import SubmitFailed
from prodops.rerun.select import RerunTarget
from prodops.rerun.settings import DebugSettingsInvalid, check_settings
from prodops.rerun.submit import rerun_spec, write_config_snippet
from prodops.stage import stage_spec
from prodops.workflows import TemplateInvalid, load_templates, parse_template

TEMPLATES = load_templates()
DEMO = TEMPLATES["demo"]
REQUEST = {"request_memory_mb": 128, "request_disk_mb": 100, "max_wall_time_min": 10, "n_jobs": 3, "priority": 40,
           "experiment": "nova", "campaign": "debug", "workflow_options": {"fail_code": [2]}}


def errors_of(raw: dict, template=DEMO, memory: int = 128) -> dict[str, str]:
    with pytest.raises(DebugSettingsInvalid) as err:
        check_settings(template, raw, memory)
    return err.value.errors


def test_a_level_reaches_the_job_as_the_template_declares():
    applied = check_settings(DEMO, {"level": "trace"}, 128)
    assert applied.environment == {"PRODOPS_DEBUG_LEVEL": "trace", "PRODOPS_DEBUG_KEEP_FILES": "1",
                                   "DEMO_LOG_LEVEL": "trace"}
    assert applied.arguments == ("--debug", "trace", "--debug-config", "demo_debug.cfg")
    assert (applied.config_file, applied.config_text) == ("demo_debug.cfg", "log_level = trace\n")


def test_overrides_reach_the_job_by_argument_environment_or_config_line():
    applied = check_settings(DEMO, {"level": "debug", "keep_intermediate": False,
                                    "overrides": {"records": 5, "note": "looking for rb::Track"}}, 128)
    assert applied.arguments[-2:] == ("--records", "5")
    assert applied.config_text == "log_level = debug\nnote = looking for rb::Track\n"
    assert "PRODOPS_DEBUG_KEEP_FILES" not in applied.environment
    chain = check_settings(TEMPLATES["mc_chain"], {"level": "debug", "overrides": {"verbose_module": "G4Step"}}, 128)
    assert chain.environment["MC_VERBOSE_MODULE"] == "G4Step" and chain.arguments == ()


def test_an_undeclared_level_or_override_is_refused_naming_the_field_and_what_is_accepted():
    errors = errors_of({"level": "verbose", "overrides": {"records_": 5, "sleep_s": -1}})
    assert "'verbose' is not a level" in errors["debug.level"] and "['debug', 'trace']" in errors["debug.level"]
    assert "not an override" in errors["debug.overrides.records_"] and "records" in errors["debug.overrides.records_"]
    assert "minimum" in errors["debug.overrides.sleep_s"]


def test_a_wrong_type_or_an_unknown_setting_is_refused_naming_the_field():
    errors = errors_of({"level": "debug", "request_memory_mb": 0, "env": {"A": "1"}})
    assert "greater than or equal to 1" in errors["debug.request_memory_mb"] and "debug.env" in errors
    assert "not of type 'integer'" in errors_of({"level": "debug", "overrides": {"records": "five"}})[
        "debug.overrides.records"]


def test_less_memory_than_the_attempt_had_is_refused():
    assert "less than the 500 MB" in errors_of({"level": "debug", "request_memory_mb": 256}, memory=500)[
        "debug.request_memory_mb"]


@pytest.mark.parametrize("value", ["$(HOME)", "$ENV(SECRET)", "a\nqueue 10", "$$(Memory)"])
def test_macro_syntax_and_control_characters_never_reach_htcondor(value):
    message = errors_of({"level": "debug", "overrides": {"note": value}})["debug.overrides.note"]
    assert "macro syntax" in message or "control character" in message


def test_a_workflow_without_a_debug_block_is_refused_naming_the_fix():
    assert "declares no debug block" in errors_of({"level": "debug"}, template=TEMPLATES["keepup"])["workflow"]


def test_the_schema_checks_the_debug_block_like_the_rest_of_the_template():
    raw = {"name": "bad", "stages": [{"name": "run", "executable": "x", "arguments": ""}],
           "debug": {"levels": ["debug"], "overrides": {"records": {"argument": "--records {value}"}}}}
    with pytest.raises(TemplateInvalid, match=r"bad.yaml: field debug.overrides.records: 'schema' is a required"):
        parse_template(Path("bad.yaml"), raw)


def first_submission(tmp_path) -> dict:
    spec = stage_spec(request_id=7, request=REQUEST, template=DEMO, stage="run", home=tmp_path)
    return {"id": 70, "attempt": 1, "spec": spec.to_dict()}


def test_the_rerun_description_carries_the_debug_environment_arguments_memory_and_job_index(tmp_path):
    applied = check_settings(DEMO, {"level": "trace", "request_memory_mb": 512, "overrides": {"records": 5}}, 128)
    target = RerunTarget(stage="run", job_index=2, submission_id=70, proc_id=2, attempt=1, request_memory_mb=128,
                         action="debug_rerun", action_state="planned")
    spec = rerun_spec([first_submission(tmp_path)], [target], applied, attempt=2, run_id="manual__x", priority=40)
    assert spec.debug["run_id"] == "manual__x" and spec.debug["settings"]["level"] == "trace"
    assert spec.workdir.endswith("attempt-2-debug") and list(spec.job_indexes) == [2]
    submit = render_submit(spec)
    text = submit_file_text(submit)
    assert "DEMO_LOG_LEVEL=trace" in submit["environment"] and "PRODOPS_DEBUG_LEVEL=trace" in submit["environment"]
    [job] = expand_jobs(submit, cluster_id=9)
    assert job.argv[1:3] == ["--job", "2"] and "--art-error" in job.argv
    assert job.argv[-6:] == ["--debug", "trace", "--debug-config", "demo_debug.cfg", "--records", "5"]
    assert job.request_memory_mb == 512 and job.custom["ProdopsJobIndex"] == "2"
    assert job.environment["DEMO_LOG_LEVEL"] == "trace" and "queue prodops_job_index" in text
    write_config_snippet(spec, applied)
    assert (Path(spec.workdir) / "demo_debug.cfg").read_text() == "log_level = trace\n"


def test_the_config_snippet_is_sent_with_the_job_where_the_pool_transfers_files(tmp_path):
    from prodops.batch.grid import PoolSubmit

    applied = check_settings(DEMO, {"level": "debug"}, 128)
    target = RerunTarget(stage="run", job_index=0, submission_id=70, proc_id=0, attempt=1, request_memory_mb=128,
                         action=None, action_state=None)
    spec = rerun_spec([first_submission(tmp_path)], [target], applied, attempt=3, run_id="r", priority=40)
    submit = render_submit(spec, PoolSubmit())
    assert submit["transfer_input_files"].endswith("attempt-3-debug/demo_debug.cfg")


def test_a_stored_debug_spec_reads_back_whole(tmp_path):
    applied = check_settings(DEMO, {"level": "debug"}, 128)
    target = RerunTarget(stage="run", job_index=1, submission_id=70, proc_id=1, attempt=1, request_memory_mb=128,
                         action=None, action_state=None)
    spec = rerun_spec([first_submission(tmp_path)], [target], applied, attempt=2, run_id="r", priority=40)
    assert SubmissionSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(SubmitFailed, match=r"items\[0\]"):
        render_submit(SubmissionSpec.from_dict({**spec.to_dict(), "items": ['"--job $(Cluster)"']}))
