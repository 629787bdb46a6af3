"""What a framework's exception category means for triage: include/triage/framework_categories.yaml.

:func:`categorize` reads a :class:`~prodops.triage.parsers.model.FrameworkError`'s chain
innermost first and returns the first rule that decides (a category other than unknown). A
``wrapper`` rule (EventProcessorFailure, urllib3's MaxRetryError ...) counts only as the
innermost link. Crash reports are read with the signal facts (include/triage/facts/signals.yaml).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prodops import config
from prodops.constants import Category
from prodops.exceptions import ProdopsError
from prodops.triage.parsers.cxx import normalize_type
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

log = logging.getLogger(__name__)

CATEGORIES_FILE = config.INCLUDE_DIR / "triage" / "framework_categories.yaml"

SECTIONS = ("art", "fhicl", "cmssw", "geant4_codes", "geant4_issuers", "geant4_severities",
            "python", "http_status", "cxx", "root")
"""The tables of the file (geant4 and python have sub-tables)."""

_BY_FRAMEWORK: Mapping[Framework, tuple[str, ...]] = {
    Framework.ART: ("art", "fhicl"),
    Framework.CMSSW: ("cmssw",),
    Framework.CXX: ("cxx",),
}


class CategoriesInvalid(ProdopsError):
    """framework_categories.yaml does not have the documented shape."""


@dataclass(frozen=True, kw_only=True)
class CategoryRule:
    """One framework category (or code, issuer, type, location) and what triage concludes from it."""

    table: str
    """Which table of framework_categories.yaml (``art``, ``cmssw``, ``python``, ``http_status``,
    ``geant4_codes`` ...) or ``signals`` for a crash read with signals.yaml."""
    key: str
    """The name or prefix that matched."""
    category: Category
    retryable: bool
    reason: str
    source: str
    """URL of the source that names the category."""
    service: str | None = None
    resource: str | None = None
    confidence: float = 0.6
    wrapper: bool = False

    @property
    def decides(self) -> bool:
        return self.category is not Category.UNKNOWN


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    prefix: str | None = None
    category: Category
    service: str | None = None
    resource: Literal["memory", "disk", "time"] | None = None
    retryable: bool = False
    confidence: float = Field(default=0.6, gt=0, le=1)
    wrapper: bool = False
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_key(self) -> _Rule:
        if (self.name is None) == (self.prefix is None):
            raise ValueError("give exactly one of name (exact match) or prefix")
        if "\n" in self.reason.strip():
            raise ValueError("reason must be one line for on-call")
        return self


class _Geant4(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    codes: list[_Rule]
    issuers: list[_Rule]
    severities: list[_Rule]


class _Python(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    exceptions: list[_Rule]
    http_status: list[_Rule]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: dict[str, str]
    art: list[_Rule]
    fhicl: list[_Rule]
    cmssw: list[_Rule]
    geant4: _Geant4
    python: _Python
    cxx: list[_Rule]
    root: list[_Rule]

    def tables(self) -> dict[str, list[_Rule]]:
        return {"art": self.art, "fhicl": self.fhicl, "cmssw": self.cmssw, "geant4_codes": self.geant4.codes,
                "geant4_issuers": self.geant4.issuers, "geant4_severities": self.geant4.severities,
                "python": self.python.exceptions, "http_status": self.python.http_status, "cxx": self.cxx,
                "root": self.root}


_MAX_FOUND = 10_000


@dataclass(frozen=True)
class CategoryTable:
    """The rules of framework_categories.yaml, by table: exact names and prefixes (longest first)."""

    names: Mapping[str, Mapping[str, CategoryRule]]
    prefixes: Mapping[str, tuple[CategoryRule, ...]]
    sources: Mapping[str, str]
    short_names: Mapping[str, CategoryRule]
    """Python rules by the class name without its module (``NewConnectionError``), as messages wrap them."""
    _found: dict[tuple[str, str], CategoryRule | None] = field(default_factory=dict, compare=False, repr=False)
    """Answers of :meth:`lookup`: thousands of jobs ask about the same few categories."""

    def lookup(self, table: str, key: str | None) -> CategoryRule | None:
        if not key:
            return None
        try:
            return self._found[table, key]
        except KeyError:
            pass
        rule = self.names.get(table, {}).get(key)
        if rule is None:
            rule = next((r for r in self.prefixes.get(table, ()) if key.startswith(r.key)), None)
        if len(self._found) >= _MAX_FOUND:
            self._found.clear()
        self._found[table, key] = rule
        return rule

    def python(self, name: str | None) -> CategoryRule | None:
        """A Python exception by its dotted name, its bare name, or the bare name of a listed class."""
        if not name:
            return None
        bare = name.rsplit(".", 1)[-1]
        return self.lookup("python", name) or self.lookup("python", bare) or self.short_names.get(bare)

    def first(self, tables: Iterable[str], key: str | None) -> CategoryRule | None:
        for table in tables:
            rule = self.lookup(table, key)
            if rule is not None:
                return rule
        return None


def parse_categories(raw: object, source: str) -> CategoryTable:
    """The table from the file's parsed YAML; CategoriesInvalid names the field and the fix."""
    try:
        spec = _File.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CategoriesInvalid(f"{source}: {where}: {first['msg']} (input {first.get('input')!r});"
                                " fix the entry to the shape the file's header describes") from None
    names: dict[str, dict[str, CategoryRule]] = {}
    prefixes: dict[str, list[CategoryRule]] = {}
    for table, rules in spec.tables().items():
        names[table], prefixes[table] = {}, []
        for r in rules:
            if r.source not in spec.sources:
                raise CategoriesInvalid(f"{source}: {table}: {r.name or r.prefix!r} has source {r.source!r},"
                                        f" which is not a key of sources; add it there with its URL")
            key = r.name if r.name is not None else r.prefix
            assert key is not None
            rule = CategoryRule(table=table, key=key, category=r.category, retryable=r.retryable, reason=r.reason.strip(),
                                source=spec.sources[r.source], service=r.service, resource=r.resource,
                                confidence=r.confidence, wrapper=r.wrapper)
            if r.name is not None:
                if key in names[table]:
                    raise CategoriesInvalid(f"{source}: {table}: {key!r} is listed twice; keep one")
                names[table][key] = rule
            else:
                prefixes[table].append(rule)
    short: dict[str, CategoryRule] = {}
    for key, rule in names["python"].items():
        short.setdefault(key.rsplit(".", 1)[-1], rule)
    return CategoryTable(
        names=names, prefixes={t: tuple(sorted(rs, key=lambda r: -len(r.key))) for t, rs in prefixes.items()},
        sources=dict(spec.sources), short_names=short,
    )


@functools.cache
def load_categories(path: Path | None = None) -> CategoryTable:
    """framework_categories.yaml, validated once per process."""
    path = path or CATEGORIES_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CategoriesInvalid(f"{path}: not valid YAML ({err}); fix the syntax") from None
    table = parse_categories(raw, str(path))
    log.debug("Loaded %d framework category rules from %s",
              sum(len(v) for v in table.names.values()) + sum(len(v) for v in table.prefixes.values()), path)
    return table


def _first_deciding(candidates: Iterable[tuple[CategoryRule | None, bool]]) -> CategoryRule | None:
    """The first rule that decides; a wrapper counts only where it is the innermost link."""
    for rule, innermost in candidates:
        if rule is None or (rule.wrapper and not innermost):
            continue
        if rule.decides:
            return rule
    return None


def _root_location(link: ChainLink) -> str | None:
    for text in link.message:
        if text.startswith("Fatal Root Error:"):
            rest = text[len("Fatal Root Error:"):].strip()
            rest = rest[len("@SUB="):] if rest.startswith("@SUB=") else rest
            return rest.split()[0] if rest else None
    return None


def _framework_chain(err: FrameworkError, table: CategoryTable) -> CategoryRule | None:
    tables = _BY_FRAMEWORK[err.framework]

    def candidates() -> Iterable[tuple[CategoryRule | None, bool]]:
        for depth, link in enumerate(reversed(err.chain)):
            innermost = depth == 0
            if link.category == "FatalRootError":
                yield table.lookup("root", _root_location(link)), innermost
            key = normalize_type(link.category) if err.framework is Framework.CXX else link.category
            yield table.first(tables, key), innermost

    return _first_deciding(candidates())


def _python(err: FrameworkError, table: CategoryTable) -> CategoryRule | None:
    def candidates() -> Iterable[tuple[CategoryRule | None, bool]]:
        for depth, link in enumerate(reversed(err.chain)):
            innermost = depth == 0
            if link.code:
                yield table.lookup("http_status", link.code), innermost
            yield table.python(link.category), innermost

    return _first_deciding(candidates())


def _geant4(err: FrameworkError, table: CategoryTable) -> CategoryRule | None:
    return _first_deciding([
        (table.lookup("geant4_codes", err.code), True),
        (table.lookup("geant4_issuers", err.module), True),
        (table.lookup("geant4_severities", err.severity), True),
    ])


def _crash(err: FrameworkError) -> CategoryRule | None:
    from prodops.triage import facts  # facts reads these categories for exit codes: import here

    signal = facts.signal_by_report_name(err.category)
    if signal is None or signal.reading is None or signal.reading.category is Category.UNKNOWN:
        return None
    reading = signal.reading
    return CategoryRule(table="signals", key=signal.name, category=reading.category, retryable=reading.retryable,
                        reason=reading.explain, source=facts.load_facts().sources["signal_7"], service=reading.service,
                        resource=reading.resource, confidence=reading.confidence)


def categorize(err: FrameworkError, table: CategoryTable | None = None) -> CategoryRule | None:
    """The rule that decides this error's category, innermost exception first; None when none does."""
    table = table or load_categories()
    if err.framework is Framework.PYTHON:
        return _python(err, table)
    if err.framework is Framework.GEANT4:
        return _geant4(err, table)
    if err.framework is Framework.CRASH:
        return _crash(err)
    if err.framework is Framework.ROOT:
        return _first_deciding([(table.lookup("root", err.module), True)])
    return _framework_chain(err, table)
