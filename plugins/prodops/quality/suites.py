"""Data-quality suites from include/checks, run with Great Expectations on DataFrames.

GX Core is called directly (ephemeral context, pandas data source): the Airflow GX provider
cannot be installed beside Airflow 3.3.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from prodops import config
from prodops.exceptions import ProdopsError

log = logging.getLogger(__name__)

TABLES = ("outputs", "inputs", "jobs")
SEVERITIES = ("critical", "warning")
_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class SuiteInvalid(ProdopsError):
    """A data-quality suite file is malformed."""


@dataclass(frozen=True)
class Check:
    id: str
    table: str
    type: str
    kwargs: Mapping[str, Any]
    severity: str


@dataclass(frozen=True)
class CheckResult:
    id: str
    type: str
    table: str
    severity: str
    success: bool
    observed: Any
    details: dict[str, Any]

    @property
    def message(self) -> str:
        return (f"{self.severity} expectation {self.id} ({self.type} on {self.table}) "
                f"{'passed' if self.success else 'FAILED'}: observed {self.observed!r}")


def _expectation_class(type_name: str) -> type:
    import great_expectations as gx

    class_name = "".join(part.title() for part in type_name.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        raise SuiteInvalid(f"{type_name!r} is not a Great Expectations expectation; see gx.expectations")
    return cls


def parse_suite(path: Path, raw: Any) -> tuple[Check, ...]:
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise SuiteInvalid(f"{path}: a suite is a mapping with a list of expectations")
    checks, seen = [], set()
    for n, item in enumerate(raw["expectations"]):
        where = f"{path}: expectations[{n}]"
        if not isinstance(item, dict):
            raise SuiteInvalid(f"{where} must be a mapping with id, table, type, kwargs, severity")
        for key in ("id", "table", "type"):
            if not isinstance(item.get(key), str):
                raise SuiteInvalid(f"{where}: field {key} is missing; add it")
        if item["table"] not in TABLES:
            raise SuiteInvalid(f"{where}: table {item['table']!r} is not one of {TABLES}")
        severity = item.get("severity", "critical")
        if severity not in SEVERITIES:
            raise SuiteInvalid(f"{where}: severity {severity!r} is not one of {SEVERITIES}")
        if item["id"] in seen:
            raise SuiteInvalid(f"{where}: id {item['id']!r} is used twice; ids name results, make it unique")
        seen.add(item["id"])
        try:
            _expectation_class(item["type"])
        except SuiteInvalid as err:
            raise SuiteInvalid(f"{where}: {err}") from None
        checks.append(Check(item["id"], item["table"], item["type"], dict(item.get("kwargs") or {}), severity))
    return tuple(checks)


@functools.cache
def load_suite(workflow: str, name: str, directory: Path | None = None) -> tuple[Check, ...]:
    """``<workflow>/<name>.yaml``, else ``common/<name>.yaml``, under include/checks."""
    root = directory or config.INCLUDE_DIR / "checks"
    for path in (root / workflow / f"{name}.yaml", root / "common" / f"{name}.yaml"):
        if path.is_file():
            return parse_suite(path, yaml.safe_load(path.read_text()))
    raise SuiteInvalid(f"no suite {name!r} for workflow {workflow!r} under {root}; add {root / workflow / name}.yaml")


def resolve(value: Any, facts: Mapping[str, Any], check_id: str) -> Any:
    """Replace ``"{fact}"`` strings by the stage's facts (recursively)."""
    if isinstance(value, str) and (match := _PLACEHOLDER.match(value)):
        if match[1] not in facts:
            raise SuiteInvalid(f"expectation {check_id}: {value} is not a known fact ({', '.join(sorted(facts))})")
        return facts[match[1]]
    if isinstance(value, list):
        return [resolve(v, facts, check_id) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, facts, check_id) for k, v in value.items()}
    return value


def run_checks(checks: tuple[Check, ...], tables: Mapping[str, Any], facts: Mapping[str, Any]) -> list[CheckResult]:
    """Validate each table's DataFrame against its expectations; one result per check."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("prodops")
    results: list[CheckResult] = []
    for table in TABLES:
        mine = [c for c in checks if c.table == table]
        if not mine:
            continue
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": tables[table]}
        )
        suite = gx.ExpectationSuite(name=f"prodops-{table}")
        by_id = {check.id: check for check in mine}
        for check in mine:
            kwargs = resolve(check.kwargs, facts, check.id)
            suite.add_expectation(_expectation_class(check.type)(**kwargs, meta={"prodops_id": check.id}))
        outcome = batch.validate(suite, result_format="SUMMARY")
        for result in outcome.results:
            config = result.expectation_config
            assert config is not None and config.meta is not None  # each result carries its expectation (ours has meta)
            check = by_id[config.meta["prodops_id"]]
            observed = result.result.get("observed_value")
            if observed is None and "unexpected_count" in result.result:
                observed = {"unexpected_count": result.result["unexpected_count"],
                            "unexpected": result.result.get("partial_unexpected_list", [])[:5]}
            results.append(CheckResult(check.id, check.type, check.table, check.severity, bool(result.success),
                                       _plain(observed), {"kwargs": _plain(resolve(check.kwargs, facts, check.id))}))
    return results


def _plain(value: Any) -> Any:
    """JSON-safe copy of numpy/pandas scalars in GX results."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
