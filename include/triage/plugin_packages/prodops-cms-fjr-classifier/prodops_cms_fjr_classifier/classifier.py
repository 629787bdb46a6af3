"""Classify a failed CMSSW/WMCore job from the framework job report it left (see :mod:`.fjr`).

The report says what cmsRun itself concluded, even when the tail has lost the exception or the
wrapper exited with its own code. For each ``<FrameworkError>``, first that decides wins:

1. ``<ShutdownSignal/>`` in the report: cmsRun was told to stop by a signal (the batch system
   or the pilot): ``infrastructure``, retry.
2. the exception report inside (CDATA), read with prodops' framework parsers: its innermost
   category, with the EventSetup categories below (which prodops' table lacks) and then
   CMSSW's categories in include/triage/framework_categories.yaml (wrappers such as
   EventProcessorFailure only count when innermost; a FatalRootError is read with its ROOT
   location);
3. the ``Type`` attribute, when it is a category of those tables;
4. the ``ExitStatus`` (``<ExitCode Value>`` for WMCore's ``BootstrapError``), read with prodops'
   exit-code tables for CMS (cmsRun's 7000-9000 codes, WMCore's wrapper codes, in
   include/triage/facts/exit_codes.yaml from WMCore's WMExceptions.py): only codes of 256 and
   above, or a bootstrap error's: old cmsRun wrote ExitStatus="1" for any error.

A report with no decisive error, or no report at all, abstains (``None``).

The verdict's evidence must be lines of the tail; the report's own line (its innermost message)
is named as a string, so it shows when cmsRun printed it to stdout/stderr too, and is always in
the explanation with the report's file name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from prodops.triage import facts as facts_data
from prodops.triage.parsers import Framework, FrameworkError, categorize, load_categories, parse_all
from prodops.triage.tail import JobTail
from prodops.triage.verdict import JobFacts, PluginVerdict

from prodops_cms_fjr_classifier import fjr
from prodops_cms_fjr_classifier.settings import FjrSettings, load_settings

ID = "cms-fjr"
SETTINGS = load_settings()
EXPERIMENTS = SETTINGS.experiments
EXPLAIN_CHARS = 400

_NO_RECORD = "https://github.com/cms-sw/cmssw/blob/94970b43d60bb2e970ebbcfb37cb0b0106c4a0e3/FWCore/Framework/interface/NoRecordException.h"
EVENTSETUP = {
    "NoRecord": ("An EventSetup record the job needs is delivered by no ESSource or ESProducer in its"
                 " configuration (a missing GlobalTag record or ESSource); fix the configuration.", _NO_RECORD),
    "NoRecordFromDependentRecord": ("An EventSetup record depends on a record the configuration does not"
                                    " deliver; fix the configuration.", _NO_RECORD),
}
"""cmsRun EventSetup categories (``cms::Exception("NoRecord")``) -> code: the configuration, never a
service; the exception's own text says "Please add an ESSource or ESProducer that delivers such a record"."""


@dataclass(frozen=True)
class _Reading:
    rule: str
    category: str
    reason: str
    service: str | None = None
    resource: str | None = None
    retryable: bool = False
    confidence: float = 0.6


def classify(facts: JobFacts, tail: JobTail) -> PluginVerdict | None:
    """The plugin's entry point (see the module's docstring for the rules)."""
    return decide(facts, tail, SETTINGS)


def decide(facts: JobFacts, tail: JobTail, settings: FjrSettings) -> PluginVerdict | None:
    """:func:`classify` with explicit settings (tests use it)."""
    stdout_path = tail.stdout.path
    if not stdout_path:
        return None
    report = fjr.find_report(os.path.dirname(stdout_path), facts, settings)
    if report is None:
        return None
    if report.shutdown_signal:
        return PluginVerdict(category="infrastructure", service="batch-pool", retryable=True, rule="fjr-shutdown-signal",
                             confidence=0.7,
                             explain=f"{report.name}: cmsRun was told to stop by a signal (<ShutdownSignal/>): the"
                                     " batch system or the pilot stopped the job. Retry.")
    for error in report.errors:
        verdict = _from_error(error, report, facts)
        if verdict is not None:
            return verdict
    return None


def _innermost_report(error: fjr.FjrError) -> FrameworkError | None:
    return next((e for e in parse_all(error.lines) if not e.is_warning), None)


def _chain_reading(found: FrameworkError) -> _Reading | None:
    innermost = found.category
    if innermost in EVENTSETUP:
        reason, _source = EVENTSETUP[innermost]
        return _Reading(rule=f"fjr-{innermost}", category="code", reason=reason, confidence=0.9)
    as_cmssw = replace(found, framework=Framework.CMSSW) if found.framework is Framework.ART else found
    rule = categorize(as_cmssw)  # the old CMSSW report format is art's (cetlib) ---- BEGIN/END blocks
    if rule is None:
        return None
    return _Reading(rule=f"fjr-{rule.key}", category=rule.category.value, reason=rule.reason, service=rule.service,
                    resource=rule.resource, retryable=rule.retryable, confidence=max(rule.confidence, 0.7))


def _type_reading(error: fjr.FjrError) -> _Reading | None:
    if error.type in EVENTSETUP:
        return _Reading(rule=f"fjr-{error.type}", category="code", reason=EVENTSETUP[error.type][0], confidence=0.8)
    rule = load_categories().lookup("cmssw", error.type)
    if rule is None or not rule.decides or rule.wrapper:
        return None
    return _Reading(rule=f"fjr-{rule.key}", category=rule.category.value, reason=rule.reason, service=rule.service,
                    resource=rule.resource, retryable=rule.retryable, confidence=rule.confidence)


def _status_reading(error: fjr.FjrError, report: fjr.FjrReport, facts: JobFacts) -> _Reading | None:
    status = error.exit_status
    if error.type == "BootstrapError" and status is None:
        status = report.exit_code
    if status is None or (status < facts_data.WRAPPER_CODE_MIN and error.type != "BootstrapError"):
        return None
    as_exit = replace(facts, state="completed", exit_code=status, exit_by_signal=False, exit_signal=None,
                      hold_reason_code=None, hold_reason_subcode=None, experiment="cms")
    verdict = facts_data.from_facts(as_exit)
    if verdict is None or verdict.category.value == "unknown":
        return None
    return _Reading(rule=f"fjr-exit-{status}", category=verdict.category.value, reason=verdict.explain,
                    service=verdict.service, resource=verdict.resource, retryable=verdict.retryable,
                    confidence=verdict.confidence)


def _from_error(error: fjr.FjrError, report: fjr.FjrReport, facts: JobFacts) -> PluginVerdict | None:
    found = _innermost_report(error)
    reading = (_chain_reading(found) if found is not None else None) or _type_reading(error) \
        or _status_reading(error, report, facts)
    if reading is None:
        return None
    cause = found.cause if found is not None else (error.lines[0].strip() if error.lines else "")
    what = found.category if found is not None and found.category else error.type or "an error"
    status = f"ExitStatus {error.exit_status}" if error.exit_status is not None else "no ExitStatus"
    explain = f"{report.name}: cmsRun failed with {what} ({status}, {error.type or 'no Type'})"
    explain += f": {cause}" if cause else ""
    explain = (explain if len(explain) <= EXPLAIN_CHARS else explain[:EXPLAIN_CHARS - 3] + "...")
    explain += f" -- {reading.reason}"
    return PluginVerdict(category=reading.category, service=reading.service, resource=reading.resource,
                         retryable=reading.retryable, confidence=reading.confidence, rule=reading.rule,
                         evidence=(cause,) if cause else (), explain=" ".join(explain.split()))
