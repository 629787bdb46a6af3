"""Sections of include/ YAML files read into frozen dataclasses, all checked the same way.

A section's dataclass declares each setting once: its type (``bool``, ``int`` for a whole number,
``float``), its default, and its bounds with :func:`number` or :func:`fraction`. :func:`checked`
turns a mapping into the dataclass or raises ValueError naming the section, the key, the bad value
and what it must be, so triage's policy, inferred outages and site steering speak alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, fields
from typing import Any, TypeVar

Section = TypeVar("Section")


def number(default: float, *, above: float | None = None, at_least: float | None = None, why: str = "") -> Any:
    """A numeric setting: more than ``above`` or at least ``at_least``; ``why`` follows the bound."""
    return field(default=default, metadata={"above": above, "at_least": at_least, "why": why})


def fraction(default: float, *, of: str) -> Any:
    """A share of something (``of``): more than 0 and at most 1."""
    return field(default=default, metadata={"fraction_of": of, "example": f"{default:g} is {default * 100:g} %"})


def _problem(kind: str, value: Any, meta: Mapping[str, Any]) -> str | None:
    """What is wrong with ``value`` for a setting of type ``kind``, as the end of a sentence."""
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    whole = kind == "int"
    word = "whole number" if whole else "number"
    of = meta.get("fraction_of")
    if of:
        bound = f"a fraction of {of}, more than 0 and at most 1 ({meta['example']})"
    elif meta.get("above") is not None:
        bound = f"a {word} more than {meta['above']:g}"
    elif meta.get("at_least") is not None:
        bound = f"a {word} at least {meta['at_least']:g}" if meta["at_least"] else f"a {word} >= 0"
    else:
        bound = f"a {word}"
    if meta.get("why"):
        bound += f" ({meta['why']})"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not float(value).is_integer()):
        return f"must be {bound}"
    if of and not 0 < value <= 1:
        return f"must be {bound}"
    if meta.get("above") is not None and not value > meta["above"]:
        return f"must be {bound}"
    if meta.get("at_least") is not None and not value >= meta["at_least"]:
        return f"must be {bound}"
    return None


def checked(cls: type[Section], raw: Any, source: str, *, what: str, example: str) -> Section:
    """``raw`` as ``cls``; ValueError naming ``source``, the key and the fix (``what``: "a steering setting")."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: must be a mapping, e.g. {example}")
    declared = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        raise ValueError(f"{source}: {unknown[0]!r} is not {what}; use {', '.join(sorted(declared))}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        kind = str(declared[name].type)
        problem = _problem(kind, value, declared[name].metadata)
        if problem:
            raise ValueError(f"{source}: {name} = {value!r} {problem}")
        values[name] = value if kind == "bool" else int(value) if kind == "int" else float(value)
    return cls(**values)
