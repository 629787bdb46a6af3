"""Who may answer a request's approval gate: include/approvers.yaml, per experiment.

The approvers become the HITL task's ``assigned_users``, so Airflow itself refuses anyone
else's answer (403 from ``PATCH .../hitlDetails``, its ``is_authorized_hitl_task``). A role is
turned into its users where the auth manager lists them in configuration (the simple auth
manager's ``[core] simple_auth_manager_users``); elsewhere the users are listed by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.exceptions import FileInvalid, ProdopsError

APPROVERS_FILE = config.INCLUDE_DIR / "approvers.yaml"
SIMPLE_AUTH_MANAGER = "SimpleAuthManager"
_NAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,256}$")


class ApproversInvalid(FileInvalid):
    """include/approvers.yaml is malformed; ``errors`` maps field -> message."""


class RoleNotListed(ProdopsError):
    """An approver role whose users this Airflow's auth manager does not list in configuration."""


@dataclass(frozen=True)
class Approvers:
    """One experiment's approvers: named users and the users of a role."""

    users: tuple[str, ...] = ()
    role: str | None = None


def _names(value: Any, where: str, errors: dict[str, str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
        errors[where] = "must be a list of Airflow user ids (letters, digits, _ . @ + -), e.g. [anna, ben]"
        return ()
    return tuple(value)


def parse(data: Any, path: Path | str = APPROVERS_FILE) -> dict[str, Approvers]:
    """Experiment (or ``default``) -> approvers; every problem named at once."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ApproversInvalid(path, {"file": "must map an experiment (or `default`) to {users: [...], role: name}"})
    errors: dict[str, str] = {}
    out: dict[str, Approvers] = {}
    for experiment, entry in data.items():
        where = str(experiment)
        if not isinstance(entry, Mapping) or not entry or set(entry) - {"users", "role"}:
            errors[where] = "must be {users: [user ids]} and/or {role: an Airflow role name}"
            continue
        users = _names(entry["users"], f"{where}.users", errors) if "users" in entry else ()
        role = entry.get("role")
        if "role" in entry and not (isinstance(role, str) and _NAME.match(role)):
            errors[f"{where}.role"] = f"{role!r} is not a role name; give one, e.g. role: approver"
            role = None
        out[where] = Approvers(users=users, role=role)
    if errors:
        raise ApproversInvalid(path, errors)
    return out


def load(path: Path | str = APPROVERS_FILE) -> dict[str, Approvers]:
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ApproversInvalid(path, {"file": f"cannot be read as YAML: {err}"}) from err
    return parse(data, path)


def approvers_of(experiment: str, rules: Mapping[str, Approvers]) -> Approvers | None:
    return rules.get(experiment) or rules.get("default")


def assigned_users(
    experiment: str,
    rules: Mapping[str, Approvers] | None = None,
    members: Callable[[str], list[str]] | None = None,
) -> list[dict[str, str]] | None:
    """The gate's HITL ``assigned_users`` for a request of ``experiment``; None: no approvers
    configured (Airflow's own permission on the DAG decides). A role that has no users is an error:
    nobody could approve."""
    rule = approvers_of(experiment, load() if rules is None else rules)
    if rule is None:
        return None
    ids = list(rule.users)
    if rule.role is not None:
        found = (members or role_members)(rule.role)
        if not found and not ids:
            raise RoleNotListed(
                f"approver role {rule.role!r} of experiment {experiment!r} has no users: nobody could approve;"
                f" give it users, or list `users:` in {APPROVERS_FILE}"
            )
        ids += [user for user in found if user not in ids]
    return [{"id": user, "name": user} for user in ids]


def role_members(role: str) -> list[str]:
    """The users of ``role`` as the simple auth manager's configuration lists them (``user:role``)."""
    from airflow.configuration import conf

    manager = conf.get("core", "auth_manager", fallback="") or ""
    if not manager.endswith(SIMPLE_AUTH_MANAGER):
        raise RoleNotListed(
            f"approver role {role!r}: the auth manager {manager or '(none)'} does not list its users in"
            f" configuration; list the approvers by id (`users:`) in {APPROVERS_FILE}"
        )
    return members_of(role, conf.getlist("core", "simple_auth_manager_users", fallback=""))


def members_of(role: str, users: list[str]) -> list[str]:
    """Users of ``role`` among ``user:role[:teams]`` entries (roles compared without case, as Airflow does)."""
    found = []
    for entry in users:
        parts = [part.strip() for part in entry.split(":")]
        if len(parts) >= 2 and parts[0] and parts[1].lower() == role.lower():
            found.append(parts[0])
    return found
