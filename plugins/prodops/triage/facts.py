"""Verdicts from what HTCondor recorded when the logs say nothing known: hold codes, signals, exit codes.

The facts are data, each file citing the primary source it was read from
(include/triage/facts/): ``hold_codes.yaml`` (HoldReasonCode, HoldReasonSubCode, VacateReasonCode:
condor_holdcodes.h and the manual), ``errno.yaml`` (the errno a hold subcode carries),
``signals.yaml`` (Linux signal numbers, signal(7)), ``exit_codes.yaml`` (the shell's, art's,
cmsRun's and the WMCore/CRAB wrappers' exit codes) and ``job_events.yaml`` (job event types in
the text, XML/JSON and DAGMan node-status forms). They are validated and compiled once per process.

:func:`from_facts` decides by precedence: the hold code (with its subcode), then the signal that
ended the job, then the exit code, read with the experiment's wrapper tables, then the tables of
codes above 255 (cmsRun, WMCore; no process exit status can be that large), then the shell's
conventions (126, 127, 128+N = killed by signal N). A fact whose reading is ``unknown`` gives no
verdict: :func:`fallback` then says "exited with code N".
"""

from __future__ import annotations

import errno as errno_names
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prodops import config
from prodops.constants import Category
from prodops.exceptions import ProdopsError
from prodops.triage.parsers.categories import CategoryRule, load_categories
from prodops.triage.verdict import FACTS, FALLBACK, JobFacts, Verdict

log = logging.getLogger(__name__)

C = Category
FACTS_DIR = config.INCLUDE_DIR / "triage" / "facts"
WRAPPER_CODE_MIN = 256
"""Exit codes from here up come from a wrapper's report (a process exit status is 0..255)."""
_FRAMEWORK_TABLES = {"art": ("art", "fhicl"), "cmssw": ("cmssw",)}
"""Which framework_categories.yaml tables an exit-code table's ``framework_category`` names."""


class FactsInvalid(ProdopsError):
    """A facts file does not have the documented shape."""


# --- the typed facts ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reading:
    """What triage concludes from one fact."""

    category: Category
    explain: str
    service: str | None = None
    resource: str | None = None
    retryable: bool = False
    confidence: float = 0.7

    @property
    def decides(self) -> bool:
        return self.category is not Category.UNKNOWN


@dataclass(frozen=True, kw_only=True)
class SubcodeFact:
    value: int
    meaning: str
    reading: Reading | None = None
    """Set when this subcode changes the hold code's reading."""


@dataclass(frozen=True, kw_only=True)
class HoldCodeFact:
    """A HoldReasonCode (or a VacateReasonCode, ``vacate``) with what its subcode holds."""

    code: int
    name: str
    meaning: str
    subcode_kind: str
    reading: Reading
    subcodes: Mapping[int, SubcodeFact]
    in_manual: bool = True
    vacate: bool = False


@dataclass(frozen=True, kw_only=True)
class ErrnoFact:
    number: int
    name: str
    meaning: str
    reading: Reading


@dataclass(frozen=True, kw_only=True)
class SignalFact:
    number: int
    name: str
    action: str
    meaning: str
    reading: Reading
    ambiguous: bool = False


@dataclass(frozen=True, kw_only=True)
class ExitCodeFact:
    """One exit code of one table: a reading of its own, a signal, or a framework category."""

    table: str
    code: int
    meaning: str
    reading: Reading | None = None
    signal: int | None = None
    framework_category: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExitTable:
    name: str
    source: str
    codes: Mapping[int, ExitCodeFact]


@dataclass(frozen=True, kw_only=True)
class JobEventFact:
    """A job event type: its number and name (text log), MyType (XML/JSON log), first body lines."""

    number: int
    name: str
    my_type: str
    meaning: str
    headlines: tuple[str, ...] = ()
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class NamedNumber:
    """A DAGMan status or return value: number, name, meaning."""

    number: int
    name: str
    meaning: str = ""
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class Facts:
    hold_codes: Mapping[int, HoldCodeFact]
    vacate_codes: Mapping[int, HoldCodeFact]
    transfer_subcodes: Mapping[int, SubcodeFact]
    transfer_plugin_exit: Reading
    errno: Mapping[int, ErrnoFact]
    signals: Mapping[int, SignalFact]
    signal_report_names: Mapping[str, str]
    exit_tables: Mapping[str, ExitTable]
    experiments: Mapping[str, tuple[str, ...]]
    events: Mapping[int, JobEventFact]
    dag_node_status: Mapping[int, NamedNumber]
    dag_status: Mapping[int, NamedNumber]
    dag_node_return_values: Mapping[int, NamedNumber]
    sources: Mapping[str, str]

    def signal_named(self, name: str) -> SignalFact | None:
        return next((s for s in self.signals.values() if s.name == name), None)

    def event_named(self, name: str) -> JobEventFact | None:
        """By text-log name (``JOB_HELD``), ClassAd MyType (``JobHeldEvent``) or headline (``Job was held.``)."""
        for event in self.events.values():
            if name in (event.name, event.my_type) or name in event.headlines:
                return event
        return None


# --- the files' shapes ------------------------------------------------------------------------------

_Resource = Literal["memory", "disk", "time"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ReadingFields(_Strict):
    category: Category | None = None
    service: str | None = None
    resource: _Resource | None = None
    retryable: bool | None = None
    confidence: float | None = Field(default=None, gt=0, le=1)
    explain: str | None = None

    def reading(self, default_explain: str, base: Reading | None = None) -> Reading:
        if base is None and self.category is None:
            raise ValueError("category is required")
        values: dict[str, Any] = {} if base is None else {
            "category": base.category, "explain": base.explain, "service": base.service, "resource": base.resource,
            "retryable": base.retryable, "confidence": base.confidence}
        for name in ("category", "service", "resource", "retryable", "confidence"):
            value = getattr(self, name)
            if value is not None:
                values[name] = value
        explain = (self.explain or "").strip()
        values["explain"] = explain or values.get("explain") or default_explain
        if "\n" in values["explain"]:
            raise ValueError("explain must be one line for on-call")
        values.setdefault("retryable", False)
        return Reading(**values)

    def overrides(self) -> bool:
        return any(getattr(self, n) is not None for n in ("category", "service", "resource", "retryable", "confidence"))


class _Subcode(_ReadingFields):
    value: int
    meaning: str


class _HoldCode(_ReadingFields):
    code: int
    name: str
    meaning: str
    subcode: Literal["none", "errno", "transfer", "resource", "user", "gram", "hook", "ec2", "job_not_started"] = "none"
    in_manual: bool = True
    subcodes: list[_Subcode] = []


class _HoldFile(_Strict):
    sources: dict[str, str]
    subcode_kinds: dict[str, str]
    transfer_subcodes: list[_Subcode]
    transfer_plugin_exit: _ReadingFields
    hold_codes: list[_HoldCode]
    vacate_codes: list[_HoldCode]


class _Errno(_ReadingFields):
    number: int
    name: str
    meaning: str


class _ErrnoFile(_Strict):
    sources: dict[str, str]
    errno: list[_Errno]


class _Signal(_ReadingFields):
    number: int = Field(ge=1, le=64)
    name: str
    action: Literal["Term", "Core", "Ign", "Stop", "Cont"]
    meaning: str
    ambiguous: bool = False


class _SignalFile(_Strict):
    sources: dict[str, str]
    signals: list[_Signal]
    report_names: dict[str, str]


class _ExitCode(_ReadingFields):
    code: int
    meaning: str | None = None
    signal: int | None = Field(default=None, ge=1, le=64)
    framework_category: str | None = None


class _ExitTable(_Strict):
    source: str
    sources: list[str] = []
    note: str | None = None
    codes: list[_ExitCode]


class _ExitFile(_Strict):
    tables: dict[str, _ExitTable]
    experiments: dict[str, list[str]]


class _Event(_Strict):
    number: int
    name: str
    my_type: str
    meaning: str
    meaning_from: Literal["header"] | None = None
    headlines: list[str] = []
    outcome: str | None = None
    my_type_note: str | None = None


class _Named(_Strict):
    number: int
    name: str
    meaning: str = ""
    outcome: str | None = None


class _Dagman(_Strict):
    node_status: list[_Named]
    dag_status: list[_Named]
    node_return_values: list[_Named]


class _EventFile(_Strict):
    sources: dict[str, str]
    events: list[_Event]
    dagman: _Dagman


# --- loading ---------------------------------------------------------------------------------------


def _read(path: Path, model: type[BaseModel]) -> Any:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise FactsInvalid(f"{path}: cannot be read ({err}); restore the file from the repository") from None
    except yaml.YAMLError as err:
        raise FactsInvalid(f"{path}: not valid YAML ({err}); fix the syntax") from None
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FactsInvalid(f"{path}: {where}: {first['msg']} (input {first.get('input')!r});"
                           " fix the entry to the shape the file's header describes") from None


def _unique(path: Path, what: str, numbers: list[int]) -> None:
    seen: set[int] = set()
    for n in numbers:
        if n in seen:
            raise FactsInvalid(f"{path}: {what} {n} is listed twice; keep one")
        seen.add(n)


def _checked(path: Path, what: str, make: Any) -> Any:
    try:
        return make()
    except ValueError as err:
        raise FactsInvalid(f"{path}: {what}: {err}; fix the entry") from None


def _hold(path: Path, raw: _HoldCode, vacate: bool) -> HoldCodeFact:
    base = _checked(path, f"code {raw.code}", lambda: raw.reading(raw.meaning))
    subcodes = {}
    for s in raw.subcodes:
        reading = _checked(path, f"code {raw.code} subcode {s.value}",
                           lambda s=s: s.reading(s.meaning, base)) if s.overrides() or s.explain else None
        subcodes[s.value] = SubcodeFact(value=s.value, meaning=s.meaning, reading=reading)
    return HoldCodeFact(code=raw.code, name=raw.name, meaning=raw.meaning, subcode_kind=raw.subcode, reading=base,
                        subcodes=subcodes, in_manual=raw.in_manual, vacate=vacate)


@functools.cache
def load_facts(directory: Path | None = None) -> Facts:
    """Every facts file under include/triage/facts, validated once per process."""
    directory = directory or FACTS_DIR
    hold_path, errno_path = directory / "hold_codes.yaml", directory / "errno.yaml"
    signal_path, exit_path, event_path = directory / "signals.yaml", directory / "exit_codes.yaml", directory / "job_events.yaml"
    hold: _HoldFile = _read(hold_path, _HoldFile)
    errnos: _ErrnoFile = _read(errno_path, _ErrnoFile)
    signals: _SignalFile = _read(signal_path, _SignalFile)
    exits: _ExitFile = _read(exit_path, _ExitFile)
    events: _EventFile = _read(event_path, _EventFile)

    _unique(hold_path, "hold code", [c.code for c in hold.hold_codes + hold.vacate_codes])
    _unique(errno_path, "errno", [e.number for e in errnos.errno])
    _unique(signal_path, "signal", [s.number for s in signals.signals])
    _unique(event_path, "event number", [e.number for e in events.events])

    signal_facts = {s.number: SignalFact(number=s.number, name=s.name, action=s.action, meaning=s.meaning,
                                         ambiguous=s.ambiguous,
                                         reading=_checked(signal_path, s.name, lambda s=s: s.reading(s.meaning)))
                    for s in signals.signals}
    names = {s.name for s in signal_facts.values()}
    for words, name in signals.report_names.items():
        if name not in names:
            raise FactsInvalid(f"{signal_path}: report_names: {words!r} -> {name!r} is not a signal of the file;"
                               f" use one of {', '.join(sorted(names))}")

    tables: dict[str, ExitTable] = {}
    for tname, table in exits.tables.items():
        _unique(exit_path, f"{tname} exit code", [c.code for c in table.codes])
        codes: dict[int, ExitCodeFact] = {}
        for c in table.codes:
            kinds = [c.signal is not None, c.framework_category is not None, c.category is not None]
            if sum(kinds) != 1:
                raise FactsInvalid(f"{exit_path}: {tname} code {c.code}: give exactly one of signal, framework_category"
                                   " or category (with its reading)")
            if c.signal is not None and c.signal not in signal_facts:
                raise FactsInvalid(f"{exit_path}: {tname} code {c.code}: signal {c.signal} is not in signals.yaml")
            if c.framework_category is not None:
                cat_tables = _FRAMEWORK_TABLES.get(tname)
                if cat_tables is None or load_categories().first(cat_tables, c.framework_category) is None:
                    raise FactsInvalid(f"{exit_path}: {tname} code {c.code}: framework_category {c.framework_category!r}"
                                       " is not in include/triage/framework_categories.yaml; add it there")
            meaning = (c.meaning or c.framework_category or "").strip()
            reading = _checked(exit_path, f"{tname} code {c.code}", lambda c=c, m=meaning: c.reading(m)) \
                if c.category is not None else None
            codes[c.code] = ExitCodeFact(table=tname, code=c.code, meaning=meaning, reading=reading, signal=c.signal,
                                         framework_category=c.framework_category)
        tables[tname] = ExitTable(name=tname, source=table.source, codes=codes)
    for experiment, names_ in exits.experiments.items():
        for tname in names_:
            if tname not in tables:
                raise FactsInvalid(f"{exit_path}: experiments: {experiment} names table {tname!r};"
                                   f" use one of {', '.join(sorted(tables))}")
    if "shell" not in tables:
        raise FactsInvalid(f"{exit_path}: tables: the shell table is missing; restore it")

    def named(items: list[_Named]) -> dict[int, NamedNumber]:
        return {i.number: NamedNumber(number=i.number, name=i.name, meaning=i.meaning, outcome=i.outcome) for i in items}

    sources = {**hold.sources, **errnos.sources, **signals.sources, **events.sources}
    facts = Facts(
        hold_codes={c.code: _hold(hold_path, c, False) for c in hold.hold_codes},
        vacate_codes={c.code: _hold(hold_path, c, True) for c in hold.vacate_codes},
        transfer_subcodes={s.value: SubcodeFact(value=s.value, meaning=s.meaning,
                                                reading=_checked(hold_path, f"transfer subcode {s.value}",
                                                                 lambda s=s: s.reading(s.meaning)))
                           for s in hold.transfer_subcodes},
        transfer_plugin_exit=_checked(hold_path, "transfer_plugin_exit",
                                      lambda: hold.transfer_plugin_exit.reading("A file-transfer plug-in failed.")),
        errno={e.number: ErrnoFact(number=e.number, name=e.name, meaning=e.meaning,
                                   reading=_checked(errno_path, e.name, lambda e=e: e.reading(e.meaning)))
               for e in errnos.errno},
        signals=signal_facts,
        signal_report_names={k.lower(): v for k, v in signals.report_names.items()},
        exit_tables=tables,
        experiments={k.lower(): tuple(v) for k, v in exits.experiments.items()},
        events={e.number: JobEventFact(number=e.number, name=e.name, my_type=e.my_type, meaning=e.meaning,
                                       headlines=tuple(e.headlines), outcome=e.outcome) for e in events.events},
        dag_node_status=named(events.dagman.node_status),
        dag_status=named(events.dagman.dag_status),
        dag_node_return_values=named(events.dagman.node_return_values),
        sources=sources,
    )
    log.debug("Loaded %d hold codes, %d signals, %d exit codes in %d tables, %d event types from %s",
              len(facts.hold_codes), len(facts.signals), sum(len(t.codes) for t in tables.values()), len(tables),
              len(facts.events), directory)
    return facts


def signal_by_report_name(words: str) -> SignalFact | None:
    """The signal a crash report names (``segmentation violation``, ``Segmentation fault``, ``SIGSEGV``)."""
    data = load_facts()
    key = words.strip().lower()
    name = data.signal_report_names.get(key) or (words.strip().upper() if key.startswith("sig") else None)
    return data.signal_named(name) if name else None


# --- verdicts --------------------------------------------------------------------------------------


def _errno_text(number: int) -> str:
    name = errno_names.errorcode.get(number)
    if name is None:
        return f"subcode {number}"
    return f"errno {number} {name}: {os.strerror(number)}"


def _subcode_reading(hold: HoldCodeFact, sub: int, data: Facts) -> tuple[Reading, str]:
    """The hold's reading as its subcode changes it, and the words for the subcode."""
    base = hold.reading
    if not sub:
        return base, ""
    fact = hold.subcodes.get(sub)
    if fact is not None:
        return (fact.reading or base), fact.meaning
    kind = hold.subcode_kind
    if kind == "transfer":
        plugin = data.transfer_subcodes.get(sub)
        if plugin is not None and plugin.reading is not None:
            return plugin.reading, plugin.meaning
        if sub >= 256:
            return data.transfer_plugin_exit, f"file-transfer plug-in exit code {sub >> 8}"
        kind = "errno"
    if kind == "errno":
        known = data.errno.get(sub)
        if known is None:
            return base, _errno_text(sub)
        r = known.reading
        return (replace(base, category=r.category, service=r.service, retryable=r.retryable,
                        resource=r.resource or base.resource, explain=f"{base.explain} {r.explain}"),
                f"errno {sub} {known.name}: {known.meaning}")
    if kind == "hook":
        if sub < 0:
            return base, f"a signal ({-sub}) killed the hook"
        return base, f"the hook exited with status {sub}"
    return base, f"subcode {sub}"


def _resource_34(facts: JobFacts, data: Facts) -> str:
    fact = data.hold_codes[34].subcodes.get(facts.hold_reason_subcode or 0)
    if fact is not None and fact.reading is not None and fact.reading.resource:
        return fact.reading.resource
    text = (facts.hold_reason or "").lower()
    return "disk" if "disk" in text else "memory"


def _held(facts: JobFacts, data: Facts) -> Verdict:
    code = int(facts.hold_reason_code or 0)
    hold = data.hold_codes[code]
    sub = int(facts.hold_reason_subcode or 0)
    reading, words = _subcode_reading(hold, sub, data)
    if code == 34:
        resource = _resource_34(facts, data)
        suggestion = reading.explain if reading is not hold.reading else ""
        explain = f"The job used more {resource} than it requested and was held. {suggestion}".strip()
        reading = replace(reading, resource=resource, explain=explain)
    where = f"HoldReasonCode {code}" + (f"/{sub}" if sub else "") + (f": {words}" if words else "")
    return _verdict(reading, f"hold-{code}", f"{reading.explain} ({where})")


def _signal_verdict(signal: int, facts: JobFacts, how: str, data: Facts) -> Verdict | None:
    fact = data.signals.get(signal)
    if fact is None or not fact.reading.decides:
        return None
    if signal == 9 and facts.memory_usage_mb and facts.request_memory_mb \
            and facts.memory_usage_mb >= facts.request_memory_mb:
        reading = Reading(category=C.INFRASTRUCTURE, service="worker-node", retryable=True, resource="memory",
                          confidence=0.75, explain="The job was killed (SIGKILL) after using all the memory it"
                          f" requested ({facts.memory_usage_mb} of {facts.request_memory_mb} MB).")
        return _verdict(reading, "signal-9-memory", reading.explain)
    return _verdict(fact.reading, f"signal-{signal}", f"{fact.reading.explain} ({how} {signal})")


def _framework_reading(table: str, entry: ExitCodeFact) -> Reading | None:
    rule: CategoryRule | None = load_categories().first(_FRAMEWORK_TABLES[table], entry.framework_category)
    if rule is None or not rule.decides:
        return None
    program = "art" if table == "art" else "cmsRun"
    return Reading(category=rule.category, service=rule.service, resource=rule.resource, retryable=rule.retryable,
                   confidence=min(rule.confidence, 0.6),
                   explain=f"{program} exited with {entry.framework_category}: {rule.reason}")


def _exit_verdict(entry: ExitCodeFact, facts: JobFacts, data: Facts) -> Verdict | None:
    code = entry.code
    if entry.signal is not None:
        how = f"exit code {code} ({entry.table}: {entry.meaning.rstrip('.')}) = signal"
        return _signal_verdict(entry.signal, facts, how, data)
    reading = entry.reading if entry.framework_category is None else _framework_reading(entry.table, entry)
    if reading is None or not reading.decides:
        return None
    return _verdict(reading, f"exit-{entry.table}-{code}", f"{reading.explain} ({entry.table} exit code {code})")


def exit_tables_for(experiment: str, code: int, data: Facts | None = None) -> list[ExitTable]:
    """The wrapper tables an exit code is read with, in order (the shell's conventions come after)."""
    data = data or load_facts()
    names = list(data.experiments.get((experiment or "").lower(), ()))
    if code >= WRAPPER_CODE_MIN:
        names += [n for n in ("cmssw", "wmcore") if n not in names]
    return [data.exit_tables[n] for n in names if n in data.exit_tables]


def from_facts(facts: JobFacts) -> Verdict | None:
    """A verdict from hold codes, signals and exit codes, or None when they say nothing known."""
    data = load_facts()
    if facts.state == "held" and facts.hold_reason_code in data.hold_codes:
        return _held(facts, data)
    if facts.exit_by_signal and facts.exit_signal:
        return _signal_verdict(int(facts.exit_signal), facts, "signal", data)
    code = facts.exit_code
    if code is None or code == 0:
        return None
    for table in exit_tables_for(facts.experiment, code, data):
        entry = table.codes.get(code)
        if entry is not None:
            return _exit_verdict(entry, facts, data)
    if 128 < code < 128 + 32:
        return _signal_verdict(code - 128, facts, f"exit code {code} = 128 + signal", data)
    entry = data.exit_tables["shell"].codes.get(code)
    return _exit_verdict(entry, facts, data) if entry is not None else None


def _verdict(reading: Reading, rule_id: str, explain: str) -> Verdict:
    return Verdict(category=reading.category, rule=rule_id, source=FACTS, explain=explain, service=reading.service,
                   retryable=reading.retryable, confidence=reading.confidence, resource=reading.resource)


def fallback(facts: JobFacts) -> Verdict:
    """What prodops says when nothing is known: the seed's "exited with code N", category unknown."""
    if facts.state == "held":
        text = f"held (HoldReasonCode {facts.hold_reason_code}/{facts.hold_reason_subcode or 0}): {facts.hold_reason or '-'}"
    elif facts.state == "removed":
        text = f"removed: {facts.remove_reason or 'no reason recorded'}"
    elif facts.exit_by_signal:
        text = f"killed by signal {facts.exit_signal}"
    else:
        text = f"exited with code {facts.exit_code}"
    return Verdict(category=C.UNKNOWN, rule=FALLBACK, source=FALLBACK, explain=f"The job {text}; no known error in its logs.",
                   confidence=0.2)
