"""Complete submit descriptions (issue 14 item 1): every shipped template in every pool mode.

Each description is built by the real ``htcondor2.Submit``; its expressions are parsed and
evaluated by classad2 against job and machine ads; it is submitted through the fake schedd
(the bindings' API) and expanded as the local pool expands it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import classad2
import htcondor2
import pytest

from prodops import config
from prodops.batch.base import SubmissionSpec
from prodops.batch.grid import JobPlacement, PolicyHoldSubcode, PoolSubmit
from prodops.batch.htcondor import HTCondorBackend
from prodops.batch.jobads import new_job_ad
from prodops.batch.submit import expand_jobs, render_submit, submit_file_text
from prodops.stage import stage_spec
from prodops.workflows import load_templates, parse_template
from tests.fakes.schedd import FakeSchedd

TEMPLATES = load_templates()
STAGES = [(name, stage.name) for name, template in sorted(TEMPLATES.items()) for stage in template.stages]
NOVA = {"accounting_group": "group_nova.prod", "accounting_group_user": "novapro",
        "token_file": "/etc/prodops/tokens/nova_production.token",
        "x509userproxy": "/etc/prodops/proxies/novapro.proxy",
        "oauth_permissions": "compute.create storage.create:/nova/scratch"}
CREDENTIALS = ("oauth", "token_file", "x509", "none")
FILESYSTEMS = ("transfer", "shared")
MODES = [("local", None, None)] + [("htcondor", fs, cred) for fs, cred in itertools.product(FILESYSTEMS, CREDENTIALS)]
SHIPPED_IMAGE = "/cvmfs/singularity.opensciencegrid.org/fermilab/fnal-wn-el9:latest"

FULL_TEMPLATE = {
    "name": "full",
    "submit": {
        "sites": ["FermiGrid", "US_Nebraska"],
        "os": ["EL9"],
        "requirements": "TARGET.HAS_CVMFS_nova_opensciencegrid_org == true",
        "container_image": SHIPPED_IMAGE,
        "input_files": ["demo_storage.py", "/etc/nova/setup.sh"],
        "output_files": ["{step}_{job}.dat", "manifest_{step}_{job}.json"],
        "output_remaps": {"{step}_{job}.dat": "outputs/{step}_{job}.dat"},
        "policy": {"release_transfer_holds": 2, "release_after_min": 5, "remove_wall_time_factor": 2,
                   "remove_held_after_hours": 24},
        "commands": {"+DESIRED_usage_model": '"OFFSITE"', "rank": "Mips / 2 + Memory", "request_gpus": 1,
                     "want_graceful_removal": "true"},
    },
    "stages": [{"name": "gen", "executable": "mc_stage.py", "arguments": "--job {job}",
                "combine_with_next": True},
               {"name": "g4", "executable": "mc_stage.py", "arguments": "--job {job} --inputs {inputs}",
                "split": {"files_per_job": 1}, "submit": {"os": ["EL8", "EL9"]}}],
}


def pool(filesystem: str, credentials: str, **extra) -> PoolSubmit:
    return PoolSubmit.model_validate({"experiments": {"nova": {"production": NOVA}}, "credentials": credentials,
                                      "filesystem": filesystem, **extra})


def request(template: str) -> dict:
    return {"experiment": "nova", "campaign": "mdc", "workflow": template, "n_jobs": 3, "request_memory_mb": 2000,
            "request_disk_mb": 4000, "max_wall_time_min": 60, "priority": 10, "workflow_options": {}}


def spec_of(template_name: str, stage: str, home: Path, template=None) -> SubmissionSpec:
    template = template or TEMPLATES[template_name]
    inputs = [] if template.previous(stage) is None and template.input == "jobs" else ["/data/a.raw", "/data/b.raw"]
    return stage_spec(request_id=42, request=request(template_name), template=template, stage=stage, inputs=inputs,
                      home=home)


def commands(submit: htcondor2.Submit) -> dict[str, str]:
    return {key: value for key, value in submit.items()}


def parses(expression: str) -> classad2.ExprTree:
    return classad2.ExprTree(expression)


def assert_pool_commands(got: dict[str, str], filesystem: str | None, credentials: str | None) -> None:
    if filesystem is None:  # the local pool: no accounting, credentials or file transfer
        for name in ("accounting_group", "use_oauth_services", "x509userproxy", "should_transfer_files",
                     "transfer_input_files", "when_to_transfer_output"):
            assert name not in got
        return
    assert got["accounting_group"] == "group_nova.prod"
    assert got["accounting_group_user"] == "novapro"
    environment = got.get("environment", "")
    if credentials == "oauth":
        assert got["use_oauth_services"] == "nova_production"
        assert got["nova_production_oauth_permissions"] == '"compute.create storage.create:/nova/scratch"'
        assert "BEARER_TOKEN_FILE=.condor_creds/nova_production.use" in environment
    else:
        assert "use_oauth_services" not in got
    if credentials == "x509":
        assert got["x509userproxy"] == "/etc/prodops/proxies/novapro.proxy"
    else:
        assert "x509userproxy" not in got
    if credentials == "token_file":
        token = "nova_production.token" if filesystem == "transfer" else "/etc/prodops/tokens/nova_production.token"
        assert f"BEARER_TOKEN_FILE={token}" in environment
    if credentials == "none":
        assert "BEARER_TOKEN_FILE" not in environment
    if filesystem == "shared":
        assert got["should_transfer_files"] == "NO"
        assert "transfer_input_files" not in got and "when_to_transfer_output" not in got
    else:
        assert got["should_transfer_files"] == "YES"
        assert got["when_to_transfer_output"] == "ON_EXIT_OR_EVICT"
        inputs = [name.strip() for name in got["transfer_input_files"].split(",")]
        assert str(config.JOBS_DIR / "demo_storage.py") in inputs
        assert ("/etc/prodops/tokens/nova_production.token" in inputs) == (credentials == "token_file")


def assert_policy(got: dict[str, str]) -> None:
    """The default resource-limit policy, evaluated on job ads as the schedd would."""
    running_over = classad2.ClassAd({"JobStatus": 2, "MemoryUsage": 2500, "RequestMemory": 2000,
                                     "DiskUsage": 10, "RequestDisk": 4096000})
    disk_over = classad2.ClassAd({"JobStatus": 2, "MemoryUsage": 100, "RequestMemory": 2000,
                                  "DiskUsage": 5000000, "RequestDisk": 4096000})
    fine = classad2.ClassAd({"JobStatus": 2, "MemoryUsage": 100, "RequestMemory": 2000, "DiskUsage": 10,
                             "RequestDisk": 4096000})
    assert parses(got["periodic_hold"]).eval(running_over) is True
    assert parses(got["periodic_hold"]).eval(fine) is False
    assert parses(got["periodic_hold_subcode"]).eval(running_over) == PolicyHoldSubcode.MEMORY
    assert parses(got["periodic_hold_subcode"]).eval(disk_over) == PolicyHoldSubcode.DISK
    assert parses(got["periodic_hold_reason"]).eval(running_over) == (
        "prodops policy: memory usage exceeded request_memory (2500 MB > 2000 MB)")
    assert "disk usage exceeded request_disk" in parses(got["periodic_hold_reason"]).eval(disk_over)
    long_run = classad2.ClassAd({"JobStatus": 1, "RemoteWallClockTime": 11000, "AllowedExecuteDuration": 3600})
    assert parses(got["periodic_remove"]).eval(long_run) is True
    assert parses(got["periodic_remove"]).eval(fine) is False


@pytest.mark.parametrize("backend,filesystem,credentials", MODES, ids=lambda v: str(v))
@pytest.mark.parametrize("template_name,stage", STAGES)
def test_every_template_renders_a_complete_description(template_name, stage, backend, filesystem, credentials,
                                                       tmp_path):
    spec = spec_of(template_name, stage, tmp_path)
    submit = render_submit(spec, None if backend == "local" else pool(filesystem, credentials))
    assert isinstance(submit, htcondor2.Submit)
    got = commands(submit)
    assert got["universe"] == "vanilla" and got["executable"].endswith(".py")
    assert got["request_memory"] == "2000" and got["allowed_execute_duration"] == "3600"
    assert_pool_commands(got, filesystem, credentials)
    placement = TEMPLATES[template_name].stage(stage).placement()
    assert got["MY.DesiredOS"] == '"EL9"'
    assert got["MY.SingularityImage"] == f'"{SHIPPED_IMAGE}"'
    if placement.sites:
        assert got["MY.DESIRED_Sites"] == '"' + ",".join(placement.sites) + '"'
        assert "stringListIMember(TARGET.GLIDEIN_Site, MY.DESIRED_Sites)" in got["requirements"]
    else:
        assert "MY.DESIRED_Sites" not in got
    assert "stringListsIntersect(toUpper(MY.DesiredOS), TARGET.IFOS_installed)" in got["requirements"]
    parses(got["requirements"])
    assert_policy(got)
    for name, value in placement.commands.items():
        key = "MY." + name[1:] if name.startswith("+") else name
        assert got[key] == value
    text = submit_file_text(submit)
    assert text.count("\nqueue ") == 1 and "$(ENV" not in text and "$$(" not in text


def test_mc_chain_merge_takes_its_own_lease_over_the_workflows(tmp_path):
    got = commands(render_submit(spec_of("mc_chain", "merge", tmp_path)))
    assert got["job_lease_duration"] == "7200"
    assert commands(render_submit(spec_of("mc_chain", "gen", tmp_path)))["job_lease_duration"] == "3600"
    assert "JobStatus == 5 && member(HoldReasonCode, {12, 13}) && NumHolds <= 2" in got["periodic_release"]


def full_spec(tmp_path: Path) -> SubmissionSpec:
    template = parse_template(Path("full.yaml"), FULL_TEMPLATE)
    return spec_of("full", "gen_g4", tmp_path, template=template)


def test_the_full_block_renders_every_command(tmp_path):
    got = commands(render_submit(full_spec(tmp_path), pool("transfer", "oauth")))
    assert got["MY.DESIRED_Sites"] == '"FermiGrid,US_Nebraska"'
    assert got["MY.DesiredOS"] == '"EL8,EL9"'  # the stage's os over the workflow's
    assert got["requirements"].endswith("&& (TARGET.HAS_CVMFS_nova_opensciencegrid_org == true)")
    assert got["transfer_input_files"] == f"{config.JOBS_DIR}/demo_storage.py, /etc/nova/setup.sh"
    assert got["transfer_output_files"] == "g4_$(ProcId).dat, manifest_g4_$(ProcId).json"
    assert got["transfer_output_remaps"] == '"g4_$(ProcId).dat = outputs/g4_$(ProcId).dat"'
    assert got["periodic_release"] == ("JobStatus == 5 && member(HoldReasonCode, {12, 13}) && NumHolds <= 2"
                                       " && time() - EnteredCurrentStatus > 300")
    assert "2 * AllowedExecuteDuration" in got["periodic_remove"] and "> 86400" in got["periodic_remove"]
    assert got["MY.DESIRED_usage_model"] == '"OFFSITE"' and got["rank"] == "Mips / 2 + Memory"
    assert got["request_gpus"] == "1" and got["want_graceful_removal"] == "true"
    machine = classad2.ClassAd({"GLIDEIN_Site": "US_Nebraska", "IFOS_installed": "EL9",
                                "HAS_CVMFS_nova_opensciencegrid_org": True, "Requirements": True})
    job = classad2.ClassAd({"DESIRED_Sites": "FermiGrid,US_Nebraska", "DesiredOS": "EL8,EL9"})
    job["Requirements"] = parses(got["requirements"])
    assert machine.matches(job)  # the job's Requirements, in the machine's context
    machine["GLIDEIN_Site"] = "US_Wisconsin"
    assert not machine.matches(job)
    held = classad2.ClassAd({"JobStatus": 5, "HoldReasonCode": 13, "NumHolds": 1, "EnteredCurrentStatus": 0})
    assert parses(got["periodic_release"]).eval(held) is True
    held["HoldReasonCode"] = 34
    assert parses(got["periodic_release"]).eval(held) is False


def test_a_retry_names_its_outputs_by_job_index_not_proc(tmp_path):
    spec = full_spec(tmp_path)
    retry = SubmissionSpec(**{**spec.__dict__, "attempt": 2, "items": spec.items[:1], "job_indexes": [1],
                              "job_resources": [{"request_memory_mb": 4000}]})
    got = commands(render_submit(retry, pool("transfer", "none")))
    assert got["transfer_output_files"] == "g4_$(prodops_job_index).dat, manifest_g4_$(prodops_job_index).json"
    job = expand_jobs(render_submit(retry, pool("transfer", "none")), 9)[0]
    assert job.request_memory_mb == 4000 and job.custom["ProdopsJobIndex"] == "1"


def test_container_universe_when_the_pool_asks_for_it(tmp_path):
    got = commands(render_submit(full_spec(tmp_path), pool("transfer", "none", container="container_universe")))
    assert got["universe"] == "container" and got["container_image"] == SHIPPED_IMAGE
    assert "MY.SingularityImage" not in got


def test_a_pool_without_accounting_settings_writes_no_accounting_group(tmp_path):
    got = commands(render_submit(full_spec(tmp_path), PoolSubmit()))
    assert "accounting_group" not in got and got["should_transfer_files"] == "YES"


def test_the_placement_survives_the_submission_row(tmp_path):
    spec = full_spec(tmp_path)
    again = SubmissionSpec.from_dict(spec.to_dict())
    assert again.placement == spec.placement and again.experiment == "nova"
    assert isinstance(again.placement, JobPlacement)
    assert commands(render_submit(again, pool("shared", "x509"))) == commands(render_submit(spec, pool("shared", "x509")))


@pytest.mark.parametrize("credentials", CREDENTIALS)
@pytest.mark.parametrize("filesystem", FILESYSTEMS)
def test_submitted_through_the_fake_schedd(filesystem, credentials, tmp_path):
    schedd = FakeSchedd(first_cluster=700)
    try:
        backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5,
                                  pool_submit=pool(filesystem, credentials))
        spec = full_spec(tmp_path)
        submission = backend.submit(spec)
        assert submission.num_jobs == len(spec.items)
        ad = schedd.ad(700, 0)
        assert ad["DESIRED_Sites"] == "FermiGrid,US_Nebraska" and ad["SingularityImage"] == SHIPPED_IMAGE
        assert ad["DESIRED_usage_model"] == "OFFSITE" and ad["ProdopsSubmission"] == spec.key
        submitted = [args for name, args in schedd.calls if name == "submit"]
        assert len(submitted) == 1
    finally:
        schedd.close()


@pytest.mark.parametrize("template_name,stage", STAGES)
def test_the_local_pool_expands_the_same_description(template_name, stage, tmp_path):
    """The local pool takes the same Submit: the new commands must not break its expansion or ads."""
    spec = spec_of(template_name, stage, tmp_path)
    jobs = expand_jobs(render_submit(spec), 3)
    assert len(jobs) == len(spec.items)
    ad = new_job_ad(jobs[0], qdate=1, submit_host="h")
    assert ad["SingularityImage"] == SHIPPED_IMAGE and ad["RequestMemory"] == 2000
    assert jobs[0].argv[0] == spec.executable


def test_the_policys_hold_reasons_read_as_resource_limits_to_triage():
    """The wording is chosen for the pattern library: a policy hold gets the retry with more memory or disk."""
    import re

    import yaml

    patterns = {p["id"]: p for p in yaml.safe_load((config.INCLUDE_DIR / "triage" / "patterns" / "limits.yaml")
                                                   .read_text())["patterns"]}
    got = commands(render_submit(full_spec(Path("/tmp/w"))))
    reason = parses(got["periodic_hold_reason"])
    memory = reason.eval(classad2.ClassAd({"MemoryUsage": 2500, "RequestMemory": 2000}))
    disk = reason.eval(classad2.ClassAd({"MemoryUsage": 1, "RequestMemory": 2000, "DiskUsage": 9, "RequestDisk": 8}))
    assert re.search(patterns["memory-limit"]["regex"], memory) and patterns["memory-limit"]["resource"] == "memory"
    disk_patterns = [p for p in patterns.values() if p.get("resource") == "disk"]
    assert any(re.search(p["regex"], disk) for p in disk_patterns)


@pytest.mark.parametrize("backend,filesystem,credentials", MODES[1:], ids=lambda v: str(v))
@pytest.mark.parametrize("template_name,stage", STAGES)
def test_every_template_goes_through_the_fake_schedds_submit(template_name, stage, backend, filesystem, credentials,
                                                             tmp_path):
    schedd = FakeSchedd(first_cluster=900)
    try:
        htcondor = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5,
                                   pool_submit=pool(filesystem, credentials))
        spec = spec_of(template_name, stage, tmp_path)
        submission = htcondor.submit(spec)
        assert submission.num_jobs == len(spec.items) and submission.cluster_id == 900
        ads = [schedd.ad(900, proc) for proc in range(len(spec.items))]
        assert [ad["ProdopsJobIndex"] for ad in ads] == list(range(len(spec.items)))
        assert all(ad["SingularityImage"] == SHIPPED_IMAGE and ad["DesiredOS"] == "EL9" for ad in ads)
    finally:
        schedd.close()


def test_a_spec_built_from_its_stored_dict_renders_alike(tmp_path):
    spec = full_spec(tmp_path)
    rebuilt = SubmissionSpec(**spec.to_dict())
    assert isinstance(rebuilt.placement, JobPlacement)
    assert commands(render_submit(rebuilt, pool("transfer", "oauth"))) == commands(
        render_submit(spec, pool("transfer", "oauth")))
