"""Classify a failed job of an art/LArSoft experiment from what art, ifdh and samweb said at its end.

The rules, first that speaks wins (each returns a :class:`PluginVerdict`, else the next runs):

1. **validation** — the experiment's own validation failed the job on purpose (a line matching
   ``PRODOPS_ART_VALIDATION_PATTERN`` among the last lines): ``code``, no retry.
2. **samweb** — samweb could not be reached, answered 5xx, or ifdh's SAM call ran out of
   retries: ``service`` (``PRODOPS_ART_SAM_SERVICE``), retry once it is up. Whatever art did
   afterwards is a consequence.
3. **ifdh** — ifdh's copy retry loop failed (``program: ... exited status N`` / ``retrying...``),
   the job ended in it (the loop is among the last lines), and art did not fail before it:
   ``service`` (``PRODOPS_ART_STORAGE_SERVICE``), retry; with confidence 0.9 when all
   ``IFDH_CP_MAXRETRIES`` retries are in the tail. A copy into a directory without ``-D`` is
   the job's ``code``.
4. **art signal** — ``Art has handled signal N.``: something outside stopped the job
   (eviction, a wall-time limit): ``infrastructure``, retry.
5. **art status** — ``Art has completed and will exit with status N.`` with N != 0:
   88-91 are art's own refusals of the command line, the options or the FHiCL file before any
   event (``code``); other statuses are read with art's exit-code table (prodops'
   include/triage/facts/exit_codes.yaml, art's ErrorCodes) **only when no exception report in
   the tail decides** (prodops' parsers read those better, with the storage layer's words inside).
   The status line is what art itself says, even when the job's wrapper exits with another code.

Everything else abstains (``None``) and prodops' generic triage decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prodops.triage import facts as facts_data
from prodops.triage.parsers import FrameworkError, categorize, load_categories
from prodops.triage.tail import JobTail
from prodops.triage.verdict import JobFacts, PluginVerdict

from prodops_art_classifier import readers
from prodops_art_classifier.settings import ArtSettings, load_settings

ID = "art"
SETTINGS = load_settings()
EXPERIMENTS = SETTINGS.experiments

PRE_EVENT = {
    88: "art rejected its command line (status 88: 'Exception from command line processing', run_art.cc)",
    89: "an art options handler failed while checking the command line (status 89, OptionsHandler::checkOptions)",
    90: ("an art options handler failed while processing the options or reading the FHiCL file"
         " (status 90, OptionsHandler::processOptions / BasicOptionsHandler)"),
    91: "art could not make its parameter set from the FHiCL configuration (status 91, run_art.cc)",
}
"""art's statuses from before the event loop: the job's command line or configuration, never a service.
Source: art/Framework/Art/run_art.cc, OptionsHandler.cc and BasicOptionsHandler.cc at
https://github.com/art-framework-suite/art/tree/a05bbb550e05c51b2a410e7b17b8ccde22cf9c2f"""

IFDH_ENDED_WITHIN = 15
"""ifdh's retry loop must end at most this many lines before the end of its stream: the job ended
in the copy (the copy tool's own error lines and the wrapper's last words may follow it)."""

Streams = Sequence[readers.Stream]


@dataclass(frozen=True)
class _Reading:
    category: str
    why: str
    service: str | None = None
    resource: str | None = None
    retryable: bool = False
    confidence: float = 0.6


def classify(facts: JobFacts, tail: JobTail) -> PluginVerdict | None:
    """The plugin's entry point (see the module's docstring for the rules)."""
    return decide(facts, tail, SETTINGS)


def decide(facts: JobFacts, tail: JobTail, settings: ArtSettings) -> PluginVerdict | None:
    """:func:`classify` with explicit settings (tests use it)."""
    streams: Streams = (readers.Stream("stdout", tail.stdout), readers.Stream("stderr", tail.stderr))
    end = readers.art_end(streams)
    for rule in (_validation, _samweb, _ifdh, _art_signal, _art_status):
        verdict = rule(streams, end, settings)
        if verdict is not None:
            return verdict
    return None


def _validation(streams: Streams, end: readers.ArtEnd, settings: ArtSettings) -> PluginVerdict | None:
    found = readers.marker(streams, settings.validation)
    if found is None:
        return None
    line, why = found
    return PluginVerdict(category="code", retryable=False, rule="validation", confidence=0.95, evidence=(line.ref,),
                         explain=f"The experiment's validation failed the job on purpose ({why or line.text.strip()});"
                                 " a retry of the same job would fail it again.")


_SAM_WORDS = {
    "connection": "samweb could not be reached",
    "http-5xx": "samweb answered with a server error",
    "fetch-retries": "ifdh's call to samweb (SAM project) ran out of retries",
}


def _samweb(streams: Streams, end: readers.ArtEnd, settings: ArtSettings) -> PluginVerdict | None:
    found = readers.sam_failure(streams)
    if found is None:
        return None
    return PluginVerdict(category="service", service=settings.sam_service, retryable=True, rule=f"samweb-{found.what}",
                         confidence=0.85, evidence=(found.line.ref,),
                         explain=f"{_SAM_WORDS[found.what]}: the job could not get or report its files."
                                 f" Retry once {settings.sam_service} is up.")


def _art_failed_before(end: readers.ArtEnd, line: readers.Line) -> bool:
    """art reported a failure that comes before ``line`` (or whose order to it the tails cannot tell)."""
    if end.status in (None, 0) or end.status_line is None:
        return False
    if end.status_line.stream != line.stream:
        return True  # stdout and stderr are separate files: art's failure is the job's, the copy a consequence
    return end.status_line.index < line.index


def _ifdh(streams: Streams, end: readers.ArtEnd, settings: ArtSettings) -> PluginVerdict | None:
    gave = readers.ifdh_gave_up(streams)
    if gave is None or _art_failed_before(end, gave.last_failure) or gave.lines_after > IFDH_ENDED_WITHIN:
        return None  # art failed first, or the job went on after the copy: not what ended it
    storage = settings.storage_service
    if gave.dash_d is not None:
        return PluginVerdict(category="code", retryable=False, rule="ifdh-dash-d", confidence=0.8,
                             evidence=(gave.dash_d.ref, gave.last_failure.ref),
                             explain="ifdh cp was asked to copy into an existing directory without -D; the job's"
                                     " copy command is wrong, a retry fails the same way.")
    command = gave.command if len(gave.command) <= 160 else gave.command[:157] + "..."
    if gave.killed_by is not None:
        return PluginVerdict(category="service", service=storage, retryable=True, rule="ifdh-killed", confidence=0.6,
                             evidence=(gave.last_failure.ref,),
                             explain=f"ifdh's transfer command was killed by signal {gave.killed_by} ({command}):"
                                     f" a copy that hung on {storage}. Retry once {storage} answers.")
    exhausted = gave.retries >= settings.ifdh_max_retries
    tries = (f"all {gave.retries} retries" if exhausted else
             f"{gave.retries} retr{'y' if gave.retries == 1 else 'ies'} seen")
    return PluginVerdict(category="service", service=storage, retryable=True,
                         rule="ifdh-retries-exhausted" if exhausted else "ifdh-copy-failed",
                         confidence=0.9 if exhausted else 0.75,
                         evidence=((gave.tool_error.ref,) if gave.tool_error else ()) + (gave.last_failure.ref,),
                         explain=f"ifdh gave up on a transfer after {tries} ({command} exited with status"
                                 f" {gave.status}): {storage} did not give or take the file. Retry once {storage}"
                                 " is up.")


def _art_signal(streams: Streams, end: readers.ArtEnd, settings: ArtSettings) -> PluginVerdict | None:
    if end.signal is None or end.signal_line is None:
        return None
    refs = (end.signal_line.ref,) + ((end.status_line.ref,) if end.status_line is not None else ())
    return PluginVerdict(category="infrastructure", service="batch-pool", retryable=True, rule="art-signal",
                         confidence=0.75, evidence=refs,
                         explain=f"art stopped its event loop on signal {end.signal} sent to the job: the batch"
                                 " system or the pilot stopped it (eviction, a time limit). Retry.")


def _reports(streams: Streams) -> list[tuple[str, FrameworkError]]:
    return [(s.name, err) for s in streams for err in s.reports() if not err.is_warning]


def _art_status(streams: Streams, end: readers.ArtEnd, settings: ArtSettings) -> PluginVerdict | None:
    status, line = end.status, end.status_line
    if status is None or status == 0 or line is None:
        return None
    reports = _reports(streams)
    if status in PRE_EVENT:
        causes = tuple((stream, err.cause_line) for stream, err in reports[:1])
        return PluginVerdict(category="code", retryable=False, rule=f"art-status-{status}", confidence=0.9,
                             evidence=causes + (line.ref,),
                             explain=f"{PRE_EVENT[status][0].upper()}{PRE_EVENT[status][1:]}: fix the job's command"
                                     " line or FHiCL configuration;"
                                     " no event was processed and a retry fails the same way.")
    if any(categorize(err) is not None for _, err in reports):
        return None  # an exception report decides: prodops' parsers read it with the words inside
    reading = _status_reading(status)
    if reading is None:
        return None
    service = {"storage": settings.storage_service, "file-catalog": settings.sam_service}.get(
        reading.service or "", reading.service)
    return PluginVerdict(category=reading.category, service=service, resource=reading.resource,
                         retryable=reading.retryable, confidence=min(reading.confidence, 0.7),
                         rule=f"art-status-{status}", evidence=(line.ref,),
                         explain=f"art ended with status {status} ({reading.why}); its exception report is not"
                                 " in the tail.")


def _status_reading(status: int) -> _Reading | None:
    """art's status read with prodops' exit-code table ``art`` (art::errors codes and run_art's own)."""
    table = facts_data.load_facts().exit_tables.get("art")
    entry = table.codes.get(status) if table is not None else None
    if entry is None:
        return None
    if entry.framework_category is not None:
        rule = load_categories().first(("art", "fhicl"), entry.framework_category)
        if rule is None or not rule.decides:
            return None
        return _Reading(category=rule.category.value, why=f"{entry.framework_category}: {rule.reason}",
                        service=rule.service, resource=rule.resource, retryable=rule.retryable,
                        confidence=rule.confidence)
    reading = entry.reading
    if reading is None or not reading.decides:
        return None
    return _Reading(category=reading.category.value, why=entry.meaning, service=reading.service,
                    resource=reading.resource, retryable=reading.retryable, confidence=reading.confidence)
