"""Approvers from include/approvers.yaml become the approval gate's HITL assigned users."""

from __future__ import annotations

import pytest
import yaml

from prodops.request import approvers
from prodops.request.approvers import Approvers, ApproversInvalid, RoleNotListed, assigned_users, members_of, parse

RULES = {
    "default": Approvers(role="admin"),
    "dune": Approvers(users=("anna", "ben")),
    "mu2e": Approvers(users=("carla",), role="approver"),
}
USERS = ["admin:admin", "operator:op", "dora:Approver", "carla:approver", "team:approver:t1|t2"]


def members(role: str) -> list[str]:
    return members_of(role, USERS)


def ids(users):
    return None if users is None else [u["id"] for u in users]


def test_the_shipped_file_gives_every_experiment_the_admins():
    rules = approvers.load()
    assert ids(assigned_users("nova", rules, members)) == ["admin"]


def test_users_of_an_experiment_then_its_role_once_each():
    assert assigned_users("dune", RULES, members) == [{"id": "anna", "name": "anna"}, {"id": "ben", "name": "ben"}]
    assert ids(assigned_users("mu2e", RULES, members)) == ["carla", "dora", "team"]
    assert ids(assigned_users("nova", RULES, members)) == ["admin"]  # default


def test_no_rule_leaves_the_gate_to_airflow_s_permissions():
    assert assigned_users("nova", {"dune": RULES["dune"]}, members) is None


def test_a_role_without_users_is_refused_rather_than_a_gate_nobody_can_answer():
    with pytest.raises(RoleNotListed, match="'ghost' of experiment 'nova' has no users"):
        assigned_users("nova", {"default": Approvers(role="ghost")}, members)


def test_a_role_needs_an_auth_manager_that_lists_its_users(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    )
    with pytest.raises(RoleNotListed, match="list the approvers by id"):
        approvers.role_members("approver")


def test_a_role_of_the_simple_auth_manager_is_its_configured_users(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,operator:op,eve:ADMIN")
    assert approvers.role_members("admin") == ["admin", "eve"]


def test_every_problem_of_the_file_is_named_with_its_fix(tmp_path):
    path = tmp_path / "approvers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dune": {"users": "anna"},
                "mu2e": {"role": ""},
                "nova": {"approvers": ["x"]},
                "lbne": {"users": ["ok", "no spaces"]},
            }
        )
    )
    with pytest.raises(ApproversInvalid) as err:
        approvers.load(path)
    assert set(err.value.errors) == {"dune.users", "mu2e.role", "nova", "lbne.users"}
    assert "e.g. [anna, ben]" in err.value.errors["dune.users"]
    with pytest.raises(ApproversInvalid, match="must map an experiment"):
        parse(["anna"])
    path.write_text("users: [unclosed")
    with pytest.raises(ApproversInvalid, match="cannot be read as YAML"):
        approvers.load(path)
    assert approvers.load(tmp_path / "absent.yaml") == {} and parse(None) == {}
