"""Parsers of framework reports: the structure of an exception report, not one regex per message.

One module per format (art, cmssw, geant4, pytraceback, cxx, crash, root), each with
``parse(lines) -> list[FrameworkError]``. Use the two entry points::

    from prodops.triage.parsers import categorize, parse_all

    for err in parse_all(tail.lines):          # innermost / most specific first
        rule = categorize(err)                 # None when the category alone does not decide
        if rule is not None:
            ...                                # rule.category, rule.service, rule.retryable, rule.reason
            ...                                # evidence: err.cause_line / err.cause
            break

Order of :func:`parse_all` (first is most specific):

1. a report inside another report's lines (a G4Exception inside a CMSSW exception message)
   before the report around it;
2. library-level reports (ROOT errors, Geant4 exceptions) before application-level ones (art,
   CMSSW, Python, C++ terminate, crash): the library names the layer that failed;
3. Geant4 warnings (JustWarning) last;
4. otherwise the later report first (the last report is the one that ended the job), and inside
   one art ``%MSG`` message the first block first (later blocks are its consequences).

Parsers never raise on arbitrary text and look at each line a bounded number of times; a parser
that fails anyway is logged and skipped, so the others still report.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from prodops.triage.parsers import art, cmssw, crash, cxx, geant4, pytraceback, root
from prodops.triage.parsers._text import clean
from prodops.triage.parsers.categories import CategoryRule, CategoryTable, categorize, load_categories
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError
from prodops.triage.literals import LiteralSet
from prodops.triage.tail import Tail

__all__ = [
    "PARSERS", "TRIGGERS", "CategoryRule", "clear_cache", "may_hold_report", "CategoryTable", "ChainLink", "Framework", "FrameworkError", "categorize",
    "load_categories", "parse_all", "parse_tail", "prescan",
]

log = logging.getLogger(__name__)

PARSERS: dict[Framework, Callable[[list[str]], list[FrameworkError]]] = {
    Framework.ART: art.parse,
    Framework.CMSSW: cmssw.parse,
    Framework.GEANT4: geant4.parse,
    Framework.PYTHON: pytraceback.parse,
    Framework.CXX: cxx.parse,
    Framework.CRASH: crash.parse,
    Framework.ROOT: root.parse,
}

TRIGGERS: dict[Framework, tuple[str, ...]] = {
    Framework.ART: art.TRIGGERS,
    Framework.CMSSW: cmssw.TRIGGERS,
    Framework.GEANT4: geant4.TRIGGERS,
    Framework.PYTHON: pytraceback.TRIGGERS,
    Framework.CXX: cxx.TRIGGERS,
    Framework.CRASH: crash.TRIGGERS,
    Framework.ROOT: root.TRIGGERS,
}
"""Text each report format cannot be without: a tail without any is not given to that parser."""

_ALL_TRIGGERS = tuple(sorted({t for ts in TRIGGERS.values() for t in ts}))

_LIBRARY = frozenset({Framework.ROOT, Framework.GEANT4})


def _level(err: FrameworkError) -> int:
    if err.is_warning:
        return 2
    return 0 if err.framework in _LIBRARY else 1


def _inside(inner: FrameworkError, outer: FrameworkError) -> bool:
    return (inner is not outer and outer.start <= inner.start and inner.end <= outer.end
            and (outer.start, outer.end) != (inner.start, inner.end))


_ALL_TRIGGERS_BYTES = tuple(t.encode() for t in _ALL_TRIGGERS)
_TRIGGER_SET = LiteralSet(_ALL_TRIGGERS_BYTES)


def may_hold_report(raw: bytes) -> bool:
    """Whether a tail's raw bytes hold any parser's trigger: without one, there is nothing to
    parse and the tail need not even be decoded."""
    return any(t in raw for t in _ALL_TRIGGERS_BYTES)


def parse_all(lines: Sequence[str]) -> list[FrameworkError]:
    """Every framework report in ``lines``, innermost / most specific first (see the module's docstring).

    Results are cached by the lines themselves: triage and an experiment's plugin reading the
    same tail parse it once (the reports are frozen values, safe to share).
    """
    if all(type(line) is str for line in lines):
        return list(_parse_cached(tuple(lines)))
    return _parse(clean(lines))


def parse_tail(tail: Tail) -> list[FrameworkError]:
    """:func:`parse_all` of a tail's lines, parsed once per tail: triage and an experiment's plugin
    share the result, and a tail whose raw bytes hold no trigger is not even decoded."""
    if tail.reports is None:
        if not tail.count or (tail.triggers is None and tail.raw is not None and not may_hold_report(tail.raw)):
            tail.reports = ()
        else:
            tail.reports = tuple(_parse(tail.lines, tail.triggers))
    return list(tail.reports)


def prescan(tails: Sequence[Tail]) -> None:
    """Find the report triggers of a batch of tails with one scan of their raw bytes (when Hyperscan
    is installed): a tail without any has no report, at once; the others' :func:`parse_tail` looks
    only for the triggers found (the raw bytes hold every trigger their decoded lines hold)."""
    if _TRIGGER_SET.engine is None:
        return
    todo = [(t, t.raw) for t in tails if t.reports is None and t.raw is not None and t.count]
    for (tail, _), held in zip(todo, _TRIGGER_SET.in_blocks([raw for _, raw in todo])):
        if held:
            tail.triggers = tuple(_ALL_TRIGGERS[i] for i in sorted(held))
        else:
            tail.reports = ()


@functools.lru_cache(maxsize=4096)
def _parse_cached(lines: tuple[str, ...]) -> tuple[FrameworkError, ...]:
    return tuple(_parse(lines))


def clear_cache() -> None:
    """Forget cached results (after changing :data:`PARSERS`, e.g. in a test)."""
    _parse_cached.cache_clear()


def _parse(lines: Sequence[str], triggers: Sequence[str] | None = None) -> list[FrameworkError]:
    """``triggers``: what a batch scan found in the tail's raw bytes (taken as found: a parser given
    a tail without its report finds none, so the decoded lines need not be searched again)."""
    if triggers is None:
        joined = "\n".join(lines)
        hits = {t for t in _ALL_TRIGGERS if t in joined}
    else:
        hits = set(triggers)
    if not hits:
        return []
    text = clean(lines)
    found: list[FrameworkError] = []
    for framework, parse in PARSERS.items():
        triggers = TRIGGERS.get(framework)
        if triggers is not None and hits.isdisjoint(triggers):
            continue
        try:
            found.extend(parse(text))
        except Exception:  # a parser bug must not hide the other parsers' reports
            log.exception("The %s report parser failed on a %d-line tail; its reports are skipped",
                          framework.value, len(text))
    errors: list[FrameworkError] = []
    for err in found:
        nested = any(_inside(err, other) for other in found)
        group = err.group if err.group >= 0 else err.start
        same = err.nested == nested and err.group == group
        errors.append(err if same else replace(err, nested=nested, group=group))
    errors.sort(key=lambda e: (0 if e.nested else 1, _level(e), -e.group, e.start, e.framework.value))
    return errors
