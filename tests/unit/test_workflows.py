"""Workflow templates: loading, errors, and per-job arguments."""

from __future__ import annotations

import pytest

from prodops.workflows import TemplateInvalid, load_templates


def test_demo_template_builds_one_argument_string_per_job_with_faults():
    demo = load_templates()["demo"]
    items = demo.job_arguments("run", 5, {"fail_exit": [1], "fail_signal": [2], "exceed_memory": [3],
                                          "records": 7, "sleep_s": 0}, request_memory_mb=100)
    assert len(items) == 5
    assert items[0] == '"--job 0 --records 7 --sleep 0"'
    assert items[1].endswith('--exit 3"') and items[2].endswith('--signal 9"')
    assert items[3].endswith('--memory 264"')
    assert demo.executable_path("run").endswith("include/jobs/demo_job.py")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", "field \\(top level\\): 'stages' is a required property"),
        ("name: x\nstages:\n  - name: a\n", "stage 'a', field \\(the stage\\): 'executable' is a required property"),
        ("name: x\nstages: []\n", "field stages: \\[\\] should be non-empty"),
        ("name: x\nstages:\n  - {name: a, executable: e, arguments: '', split: {files_per_job: 0}}\n",
         "stage 'a', field split.files_per_job: 0 is less than the minimum of 1"),
        ("name: x\nstages:\n  - {name: a, executable: e, arguments: '', memory: 3}\n",
         "stage 'a', field \\(the stage\\): Additional properties are not allowed \\('memory' was unexpected\\)"),
        ("name: x\nstages:\n  - {name: a, executable: e, arguments: '', split: {all_files: true}}\n",
         "stage 'a', field split: the first stage of a 'jobs' workflow"),
        ("name: x\nstages:\n  - {name: a, executable: e, arguments: ''}\n  - {name: b, executable: e, arguments: ''}\n",
         "stage 'b', field split: only the first stage can take jobs_from_request"),
        ("name: x\nstages:\n  - {name: a, executable: e, arguments: '', combine_with_next: true}\n",
         "stage 'a', field combine_with_next: the last stage has no next"),
        ("[unclosed", "not valid YAML"),
        # a submit block names the file, the stage and the field (issue 14 item 1)
        ("name: x\nsubmit: {commands: {executable: /bin/sh}}\nstages:\n  - {name: a, executable: e, arguments: ''}\n",
         r"bad.yaml: stage 'a': submit.commands.executable: 'executable' is not allowed here: prodops writes it"),
        ("name: x\nstages:\n  - {name: a, executable: e, arguments: '', submit: {commands: {hold_kill_sig: KILL}}}\n",
         r"bad.yaml: stage 'a': submit.commands.hold_kill_sig: 'hold_kill_sig' is not on the allow-list"),
        ("name: x\nsubmit: {sites: ['$(SITE)']}\nstages:\n  - {name: a, executable: e, arguments: ''}\n",
         r"bad.yaml: stage 'a': submit.sites: '\$\(SITE\)' is not a name.*; see docs/submit-descriptions.md"),
        ("name: x\nsubmit: {policy: {remove_held_after_hours: 0}}\nstages:\n  - {name: a, executable: e, arguments: ''}\n",
         r"bad.yaml: stage 'a': submit.policy.remove_held_after_hours: Input should be greater than or equal to 1"),
        ("name: x\nsubmit: [sites]\nstages:\n  - {name: a, executable: e, arguments: ''}\n",
         r"bad.yaml: field submit: \['sites'\] is not of type 'object'"),
    ],
)
def test_bad_template_names_the_problem(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(TemplateInvalid, match=message):
        load_templates(tmp_path)


def test_combined_stages_run_in_one_job(tmp_path):
    (tmp_path / "chain.yaml").write_text(
        "name: chain\nstages:\n"
        "  - {name: gen, executable: mc_stage.py, arguments: '--stage {stage} --job {job}', checks: gen}\n"
        "  - {name: g4, executable: mc_stage.py, arguments: '--stage {stage} --job {job} --inputs {inputs}',"
        " split: {files_per_job: 2}, combine_with_next: true, services: [dcache]}\n"
        "  - {name: reco, executable: mc_stage.py, arguments: '--stage {stage} --job {job} --inputs {inputs}',"
        " split: {files_per_job: 2}, services: [conditions], checks: transform}\n"
    )
    chain = load_templates(tmp_path)["chain"]
    assert [s.name for s in chain.stages] == ["gen", "g4_reco"]
    combined = chain.stage("g4_reco")
    assert combined.steps == ("g4", "reco") and combined.checks == "transform"
    assert chain.stage_services("g4_reco") == ("dcache", "conditions")
    items = chain.job_arguments("g4_reco", None, {}, 100, inputs=["/a", "/b", "/c"])
    assert items == ['"--stage g4,reco --job 0 --inputs /a,/b"', '"--stage g4,reco --job 1 --inputs /c"']


def test_merge_takes_every_file_in_one_job_or_n_per_job():
    keepup = load_templates()["keepup"]
    assert keepup.job_arguments("merge", None, {}, 100, inputs=["/a", "/b", "/c"]) == [
        '"--stage merge --job 0 --inputs /a,/b,/c"']
    assert len(load_templates()["mc_chain"].job_arguments("merge", None, {}, 100, inputs=[f"/f{i}" for i in range(25)])) == 3


@pytest.mark.parametrize("value", ["/data/a b.raw", "/data/it's.raw", '/data/"q".raw', "/data/a\\b", "/data/$HOME,x"])
def test_a_value_stays_one_argument_whatever_it_holds(value):
    """Inputs and options fill a template word each; spaces and quotes cannot split or end it."""
    from prodops.batch.submit import split_arguments

    keepup = load_templates()["keepup"]
    item = keepup.job_arguments("merge", None, {}, 100, inputs=[value])[0]
    assert split_arguments(item) == ["--stage", "merge", "--job", "0", "--inputs", value]


# ---- the templates' submit blocks (issue 14 item 1) ----------------------------------------

def test_a_combined_stage_names_its_outputs_after_its_last_step(tmp_path):
    (tmp_path / "chain.yaml").write_text(
        "name: chain\nsubmit: {output_files: ['{step}_{job}.dat'], sites: [FermiGrid], input_files: [helper.py]}\n"
        "stages:\n"
        "  - {name: gen, executable: e, arguments: '', combine_with_next: true, submit: {os: [EL9]}}\n"
        "  - {name: g4, executable: e, arguments: '', split: {files_per_job: 1}, submit: {sites: [US_Nebraska]}}\n"
    )
    stage = load_templates(tmp_path)["chain"].stage("gen_g4")
    placement = stage.placement()
    assert placement.output_files == ("g4_{job}.dat",)
    assert placement.sites == ("US_Nebraska",) and placement.os == ("EL9",)
    assert placement.input_files[0].endswith("include/jobs/helper.py")


def test_every_shipped_template_declares_its_placement():
    for template in load_templates().values():
        for stage in template.stages:
            placement = stage.placement()
            assert placement.container_image and placement.os == ("EL9",)
            assert any(path.endswith("include/jobs/demo_storage.py") for path in placement.input_files)


def test_each_stage_needs_the_workflows_services_and_its_own(tmp_path):
    """What a stage's preflight waits for and triage's outage join reads (issue 14 item 5)."""
    templates = load_templates()
    chain, keepup = templates["mc_chain"], templates["keepup"]
    assert [chain.stage_services(s.name) for s in chain.stages] == [(), (), ("dcache", "conditions-db"), ("dcache",)]
    assert [keepup.stage_services(s.name) for s in keepup.stages] == [("samweb", "dcache", "conditions-db"), ("dcache",)]
    assert templates["demo-grid"].stage_services("run") == ("dcache", "samweb")  # the workflow's, for every stage
    assert chain.needed_services() == ("dcache", "conditions-db")  # the board lists mc_chain under these
    path = tmp_path / "both.yaml"
    path.write_text("name: both\nservices: [batch-pool, dcache]\nstages:\n"
                    "  - {name: a, executable: e, arguments: '', services: [dcache, fts]}\n"
                    "  - {name: b, executable: e, arguments: '', split: {all_files: true}}\n")
    both = load_templates(tmp_path)["both"]
    assert both.stage_services("a") == ("batch-pool", "dcache", "fts") and both.stage_services("b") == ("batch-pool", "dcache")
    with pytest.raises(KeyError, match="workflow 'both' has no stage 'c'"):
        both.stage_services("c")
