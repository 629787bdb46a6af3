"""The submit settings of templates and pools: what is refused, naming the field and the fix."""

from __future__ import annotations

import pytest

from prodops.batch.base import SubmissionSpec
from prodops.batch.grid import (
    EXTRA_COMMANDS,
    OWNED_COMMANDS,
    JobPlacement,
    PoolSubmit,
    SubmitConfigInvalid,
    merged_blocks,
    parse_placement,
)
from prodops.batch.submit import render_submit
from prodops.exceptions import SubmitFailed

SPEC = SubmissionSpec(request_id=1, stage="reco", attempt=1, executable="/bin/true", items=["a"], workdir="/tmp/w",
                      experiment="nova")
NOVA_POOL = {"experiments": {"nova": {"production": {"accounting_group": "group_nova.prod"}}}}


@pytest.mark.parametrize("command,fix", [
    ("executable", "prodops writes it from the stage"),
    ("Requirements", "use submit.requirements"),
    ("+DESIRED_Sites", "use submit.sites"),
    ("+SingularityImage", "use submit.container_image"),
    ("accounting_group", "extra.experiments"),
    ("use_oauth_services", "extra.credentials"),
    ("x509userproxy", "extra.credentials"),
    ("transfer_input_files", "use submit.input_files"),
    ("periodic_hold", "use submit.policy"),
    ("request_memory", "resources"),
    ("MY.ProdopsStage", "+Prodops* attributes"),
    ("+ProdopsRequest", "+Prodops* attributes"),
    ("queue", "prodops writes it"),
])
def test_a_command_prodops_writes_is_refused_with_where_to_say_it(command, fix):
    with pytest.raises(SubmitConfigInvalid) as err:
        parse_placement({"commands": {command: "1"}}, "t.yaml: stage 'reco'")
    assert f"submit.commands.{command}" in str(err.value) and repr(command) in str(err.value)
    assert fix in str(err.value) and str(err.value).startswith("t.yaml: stage 'reco'")


def test_a_command_off_the_allow_list_is_refused_naming_the_list():
    with pytest.raises(SubmitConfigInvalid, match=r"'hold_kill_sig' is not on the allow-list of submit.commands "
                                                  r"\(.*rank.*\+DESIRED_\*\); remove it, or add it to "
                                                  r"prodops.batch.grid.EXTRA_COMMANDS"):
        parse_placement({"commands": {"hold_kill_sig": "SIGKILL"}}, "t.yaml")


def test_every_allowed_command_is_renderable_and_none_is_owned():
    assert not set(EXTRA_COMMANDS) & set(OWNED_COMMANDS)
    values = {"expression": "true", "text": "nova_db:2", "integer": "2", "boolean": "false"}
    placement = parse_placement({"commands": {name: values[kind] for name, kind in EXTRA_COMMANDS.items()}}, "t")
    got = {k: v for k, v in render_submit(SubmissionSpec(**{**SPEC.__dict__, "placement": placement})).items()}
    for name, kind in EXTRA_COMMANDS.items():
        assert got["MY." + name[1:] if name.startswith("+") else name] == values[kind]


@pytest.mark.parametrize("block,field,message", [
    ({"commands": {"job_lease_duration": "soon"}}, "submit.commands", "must be a whole number"),
    ({"commands": {"rank": "Mips +"}}, "submit.commands", "is not a ClassAd expression"),
    ({"commands": {"rank": "$ENV(HOME)"}}, "submit.commands", "macro syntax"),
    ({"commands": {"+DESIRED_usage_model": '"OFFSITE"\nexecutable = /bin/sh'}}, "submit.commands",
     "control character"),
    ({"commands": {"transfer_container": "maybe"}}, "submit.commands", "must be true or false"),
    ({"sites": ["FNAL", "$(Site)"]}, "submit.sites", "is not a name"),
    ({"os": ["EL9 || true"]}, "submit.os", "is not a name"),
    ({"requirements": "TARGET.Memory >"}, "submit.requirements", "is not a ClassAd expression"),
    ({"requirements": "$$(GLIDEIN_Site) == 1"}, "submit.requirements", "macro syntax"),
    ({"container_image": "/cvmfs/x.sif\n+A = 1"}, "submit.container_image", "is not an image"),
    ({"input_files": ["a.py, /etc/shadow"]}, "submit.input_files", "no comma"),
    ({"input_files": ["../../secrets"]}, "submit.input_files", "no '..'"),
    ({"output_files": ["out_{proc}.dat"]}, "submit.output_files", "only {job} and {step}"),
    ({"output_remaps": {"a.dat": "b.dat; c = d"}}, "submit.output_remaps", "no comma, space, ';' or '='"),
    ({"policy": {"release_transfer_holds": 99}}, "submit.policy.release_transfer_holds", "less than or equal"),
    ({"policy": {"hold_on_cpu": True}}, "submit.policy.hold_on_cpu", "is not a known setting"),
    ({"site": ["FNAL"]}, "submit.site", "is not a known setting"),
])
def test_bad_template_settings_name_the_field(block, field, message):
    with pytest.raises(SubmitConfigInvalid) as err:
        parse_placement(block, "t.yaml: stage 'reco'")
    assert field in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("extra,field,message", [
    ({"credentials": "kerberos"}, "extra.credentials", "must be 'oauth', 'token_file', 'x509' or 'none'"),
    ({"filesystem": "nfs"}, "extra.filesystem", "must be 'transfer' or 'shared'"),
    ({"container": "docker"}, "extra.container", "must be 'singularity_image' or 'container_universe'"),
    ({"experiments": {"nova": {"production": {"accounting_group": "group nova"}}}},
     "extra.experiments.nova.production.accounting_group", "is not a name"),
    ({"experiments": {"nova": {"production": {"acounting_group": "group_nova"}}}},
     "extra.experiments.nova.production.acounting_group", "is not a known setting"),
    ({"experiments": {"nova": {"production": {"x509userproxy": "proxy.pem"}}}},
     "extra.experiments.nova.production.x509userproxy", "is not an absolute path"),
    ({"experiments": {"nova": {"production": {"oauth_permissions": "read:/$(HOME)"}}}},
     "extra.experiments.nova.production.oauth_permissions", "macro syntax"),
    ({"experiments": "{not json"}, "extra.experiments", "is not JSON"),
])
def test_bad_pool_settings_name_the_field(extra, field, message):
    with pytest.raises(SubmitConfigInvalid) as err:
        PoolSubmit.from_extra(extra, "HTCondor connection 'htcondor_default'")
    assert field in str(err.value) and message in str(err.value)


def test_experiments_given_as_json_text_in_a_connection_uri():
    pool = PoolSubmit.from_extra({"experiments": '{"nova": {"production": {"accounting_group": "group_nova.prod"}}}'},
                                 "c")
    assert pool.role("nova", "production").accounting_group == "group_nova.prod"


@pytest.mark.parametrize("pool,message", [
    ({**NOVA_POOL}, None),
    ({"experiments": {"dune": {"production": {"accounting_group": "group_dune.prod"}}}},
     "the pool connection has no accounting group for experiment 'nova', role 'production'; add "
     'extra.experiments.nova.production = {"accounting_group": "group_nova.prod", "accounting_group_user": '
     '"novapro"}'),
    ({**NOVA_POOL, "credentials": "token_file"}, "no token file for experiment 'nova', role 'production'"),
    ({**NOVA_POOL, "credentials": "x509"}, "no X.509 proxy for experiment 'nova', role 'production'"),
])
def test_an_experiment_the_pool_does_not_know_is_refused_naming_the_setting(pool, message):
    settings = PoolSubmit.model_validate(pool)
    if message is None:
        assert render_submit(SPEC, settings)["accounting_group"] == "group_nova.prod"
        return
    with pytest.raises(SubmitFailed, match="submission 1/reco/1: ") as err:
        render_submit(SPEC, settings)
    assert message in str(err.value)


def test_stage_blocks_override_the_workflows_key_by_key():
    merged = merged_blocks({"sites": ["A"], "policy": {"hold_over_disk": False}, "commands": {"rank": "1"}},
                           {"sites": ["B"], "policy": {"release_transfer_holds": 1}, "commands": {"request_gpus": 1}})
    assert merged == {"sites": ["B"], "policy": {"hold_over_disk": False, "release_transfer_holds": 1},
                      "commands": {"rank": "1", "request_gpus": 1}}


def test_a_policy_turned_off_writes_no_policy_commands():
    placement = JobPlacement.model_validate({"policy": {"hold_over_memory": False, "hold_over_disk": False,
                                                        "remove_wall_time_factor": None,
                                                        "remove_held_after_hours": None}})
    got = dict(render_submit(SubmissionSpec(**{**SPEC.__dict__, "placement": placement})).items())
    assert not [name for name in got if name.startswith("periodic_")]


def test_memory_only_policy_has_a_plain_reason_and_subcode():
    placement = JobPlacement.model_validate({"policy": {"hold_over_disk": False}})
    got = dict(render_submit(SubmissionSpec(**{**SPEC.__dict__, "placement": placement})).items())
    assert got["periodic_hold_subcode"] == "1" and got["periodic_hold_reason"].startswith("strcat(")


def test_a_my_attribute_is_the_plus_command_of_the_same_name():
    placement = parse_placement({"commands": {"MY.DESIRED_usage_model": '"OFFSITE"', "My.JOB_EXPECTED_MAX_LIFETIME": "3600"}},
                                "t")
    assert dict(placement.commands) == {"+DESIRED_usage_model": '"OFFSITE"', "+JOB_EXPECTED_MAX_LIFETIME": "3600"}
    with pytest.raises(SubmitConfigInvalid, match="submit.commands.MY.DESIRED_Sites: 'MY.DESIRED_Sites' is not allowed "
                                                  "here: use submit.sites"):
        parse_placement({"commands": {"MY.DESIRED_Sites": '"FermiGrid"'}}, "t")
