"""Phases feed triage: a job that stopped inside a storage phase points at storage.

When a failed attempt's verdict is weak (nothing recognised, or low confidence) and the job had
said ``copy-out started`` (or another storage phase) without ``finished``, the verdict becomes a
service failure of ``storage`` (the board's storage services, by triage.yaml's aliases), with the
phase as its first evidence line. A strong verdict (a pattern that names the failure, a plugin)
is never overridden: the phase is then only shown on the attempt page.
"""

from __future__ import annotations

from collections.abc import Sequence

from prodops.constants import Category
from prodops.phases.markers import MARKER, MarkerInvalid, PhaseFields, PhaseSource, parse_marker
from prodops.phases.store import PhaseRow, phases_of, record_phases, unfinished
from prodops.store.db import connect
from prodops.triage.signature import signature
from prodops.triage.tail import STDOUT, JobTail
from prodops.triage.verdict import JobFacts, Verdict

STORAGE_PHASES = frozenset({"copy-in", "copy-out", "stage-in", "stage-out", "transfer-in", "transfer-out",
                            "upload", "download"})
"""Phases that move files to or from storage: a job that dies inside one points at the storage."""
WEAK_CONFIDENCE = 0.55
"""Below this (triage's "low" confidence word) a verdict is weak enough for a phase to decide."""
RULE = "phase-storage-unfinished"
HINT_CONFIDENCE = 0.6


def is_weak(verdict: Verdict) -> bool:
    return verdict.category is Category.UNKNOWN or verdict.confidence < WEAK_CONFIDENCE


def storage_phase_left_open(rows: Sequence[PhaseRow]) -> PhaseRow | None:
    """The last storage phase the job started and did not finish, if any."""
    open_ = [r for r in unfinished(rows) if r.phase in STORAGE_PHASES]
    return open_[-1] if open_ else None


def apply_phase_hints(db_url: str, facts: Sequence[JobFacts], tails: Sequence[JobTail],
                      verdicts: Sequence[Verdict]) -> int:
    """Turn each weak verdict of a job that stopped inside a storage phase into a storage one (in
    place); returns how many changed. Only weak verdicts are looked at: the markers in their stdout
    tails (already read: no file is opened again) are recorded first, then their phases are read
    (the stage's end harvests every job's whole stdout)."""
    weak = [(f, t, v) for f, t, v in zip(facts, tails, verdicts) if is_weak(v)]
    if not weak:
        return 0
    keys = [(f.submission_id, f.job_index if f.job_index is not None else f.proc_id) for f, _, _ in weak]
    found: dict[int, list[tuple[int, PhaseFields]]] = {}
    for (submission_id, job_index), (_, tail, _) in zip(keys, weak):
        for marker in tail_markers(tail):
            found.setdefault(submission_id, []).append((job_index, marker))
    with connect(db_url) as conn:
        for submission_id, markers in found.items():
            record_phases(conn, submission_id, markers, PhaseSource.STDOUT)
        conn.commit()
        phases = phases_of(conn, keys)
    changed = 0
    for key, (_, _, verdict) in zip(keys, weak):
        opened = storage_phase_left_open(phases.get(key, []))
        if opened is not None:
            hint(verdict, opened)
            changed += 1
    return changed


def tail_markers(tail: JobTail) -> list[PhaseFields]:
    """The valid markers in a job's stdout tail (found in its raw bytes; malformed ones are left to
    the stage's harvest, which names them)."""
    out = tail.streams().get(STDOUT)
    if out is None or out.status != "ok":
        return []
    markers = []
    for index in out.holding(MARKER):
        try:
            markers.append(parse_marker(out.line(index)))
        except MarkerInvalid:
            continue
    return markers


def hint(verdict: Verdict, opened: PhaseRow) -> None:
    """Rewrite a weak verdict as a storage failure, keeping what it said in its decision."""
    when = f" at {opened.reported_at:%Y-%m-%d %H:%M:%S}" if opened.reported_at else ""
    line = {"stream": "phases", "line": None, "from_end": None, "rule": RULE,
            "text": f"phase {opened.phase} started{when} ({opened.source.value}) and never finished"}
    was = f"{verdict.category.value} by {verdict.rule} (confidence {verdict.confidence:.2f})"
    verdict.category, verdict.rule, verdict.source = Category.SERVICE, RULE, "facts"  # what the job recorded
    verdict.service, verdict.retryable = "storage", True
    verdict.confidence = max(verdict.confidence, HINT_CONFIDENCE)
    verdict.explain = (f"the job failed after '{opened.phase} started' and before it finished: the storage it"
                       " copies to or from is the likely cause")
    verdict.evidence = [line, *verdict.evidence]
    verdict.decision = {**verdict.decision, "winner": RULE,
                        "why": f"a weak verdict ({was}) and a storage phase left unfinished"}
    verdict.signature = signature(RULE, opened.phase)
