"""Experiment classifier plugins: found, run with a time bound, and never allowed to stop triage.

A plugin is a function ``classify(facts: JobFacts, tail: JobTail) -> PluginVerdict | dict | None``
(None abstains). Two ways to provide one:

* a module in include/triage/classifiers/ (``*.py``, not starting with ``_``) defining
  ``classify`` and optionally ``EXPERIMENTS = ("nova",)`` (default: every experiment) and ``ID``;
* an installed package's entry point in the group ``prodops.classifiers``, naming such a
  module or the function itself (with an optional ``experiments`` attribute).

Each plugin runs in its own worker thread over a whole batch of jobs; the caller waits at
most ``timeout_s`` for each job's answer. A plugin that raises is logged and skipped for
that job; one that hangs is logged and skipped for the rest of the batch (its thread is
abandoned: Python cannot kill it, and it ends with the process).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from prodops import config
from prodops.constants import Category
from prodops.triage.tail import JobTail
from prodops.triage.verdict import PLUGIN, JobFacts, PluginVerdict, Verdict

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "prodops.classifiers"
DEFAULT_TIMEOUT_S = 5.0
MAX_LOGGED_ERRORS = 3


@dataclass(frozen=True)
class ClassifierPlugin:
    id: str
    func: Callable[[JobFacts, JobTail], Any]
    experiments: frozenset[str] | None = None
    """Experiments it applies to; None: every experiment."""
    source: str = ""

    def applies_to(self, experiment: str) -> bool:
        return self.experiments is None or experiment.lower() in self.experiments


def _from_object(obj: Any, default_id: str, source: str) -> ClassifierPlugin:
    if isinstance(obj, types.ModuleType):
        func = getattr(obj, "classify", None)
        experiments = getattr(obj, "EXPERIMENTS", None)
        pid = getattr(obj, "ID", default_id)
    else:
        func, experiments, pid = obj, getattr(obj, "experiments", None), getattr(obj, "id", default_id)
    if not callable(func):
        raise TypeError(f"{source}: a classifier plugin defines classify(facts, tail); none found")
    if isinstance(experiments, str):
        experiments = (experiments,)
    return ClassifierPlugin(id=str(pid), func=func, source=source,
                            experiments=None if experiments is None else frozenset(e.lower() for e in experiments))


def discover(folder: Path | None = None, group: str = ENTRY_POINT_GROUP) -> list[ClassifierPlugin]:
    """Plugins from the folder and the entry point group; one that fails to load is logged and left out."""
    folder = folder or config.INCLUDE_DIR / "triage" / "classifiers"
    found: list[ClassifierPlugin] = []
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if path.name.startswith("_"):
            continue
        try:
            spec = importlib.util.spec_from_file_location(f"prodops_classifier_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            found.append(_from_object(module, path.stem, str(path)))
        except Exception:
            log.exception("Classifier plugin %s could not be loaded; triage goes on without it", path)
    for ep in entry_points(group=group):
        try:
            found.append(_from_object(ep.load(), ep.name, f"entry point {ep.name} = {ep.value}"))
        except Exception:
            log.exception("Classifier plugin entry point %s (%s) could not be loaded; triage goes on without it",
                          ep.name, ep.value)
    ids = [p.id for p in found]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        log.warning("Classifier plugins share ids %s; the first of each runs first", sorted(dupes))
    return found


def to_verdict(plugin: ClassifierPlugin, raw: Any, tail: JobTail) -> Verdict:
    """A plugin's answer as a Verdict; ValueError naming the plugin and the field when it is malformed."""
    if isinstance(raw, dict):
        try:
            raw = PluginVerdict(**raw)
        except TypeError as err:
            raise ValueError(f"plugin {plugin.id}: {err}; return PluginVerdict(category=..., explain=...)") from None
    if not isinstance(raw, PluginVerdict):
        raise ValueError(f"plugin {plugin.id} returned {type(raw).__name__}; return a PluginVerdict, a dict or None")
    try:
        category = Category(raw.category)
    except ValueError:
        raise ValueError(f"plugin {plugin.id}: category {raw.category!r} is not one of "
                         f"{', '.join(c.value for c in Category)}") from None
    if not isinstance(raw.explain, str) or not raw.explain.strip():
        raise ValueError(f"plugin {plugin.id}: explain {raw.explain!r} must be a one-line explanation")
    confidence = float(raw.confidence)
    if not 0 < confidence <= 1:
        raise ValueError(f"plugin {plugin.id}: confidence {raw.confidence!r} must be in (0, 1]")
    retryable = category in (Category.SERVICE, Category.INFRASTRUCTURE) if raw.retryable is None else bool(raw.retryable)
    rule = f"plugin:{plugin.id}" + (f":{raw.rule}" if raw.rule else "")
    return Verdict(category=category, rule=rule, source=PLUGIN, explain=raw.explain.strip().splitlines()[0],
                   service=raw.service, retryable=retryable, confidence=confidence, resource=raw.resource,
                   evidence=_evidence(raw.evidence, tail, rule))


def _evidence(refs: Iterable[Any], tail: JobTail, rule: str) -> list[dict[str, Any]]:
    streams = tail.streams()
    out: list[dict[str, Any]] = []
    for ref in refs:
        hit: tuple[str, int] | None = None
        if isinstance(ref, str):
            hit = next(((name, i) for name, t in streams.items() for i, line in enumerate(t.lines) if ref in line), None)
        elif isinstance(ref, (tuple, list)) and len(ref) == 2 and ref[0] in streams and isinstance(ref[1], int):
            lines = streams[ref[0]].lines
            index = ref[1] + len(lines) if ref[1] < 0 else ref[1]
            if 0 <= index < len(lines):
                hit = (ref[0], index)
        if hit is not None:
            t = streams[hit[0]]
            out.append({"stream": hit[0], "line": t.line_number(hit[1]), "from_end": t.from_end(hit[1]),
                        "text": t.lines[hit[1]], "rule": rule})
    return out


class PluginRunner:
    """Runs every applicable plugin over a batch; the first plugin (in discovery order) with a verdict wins."""

    def __init__(self, plugins: Sequence[ClassifierPlugin], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.plugins = list(plugins)
        self.timeout_s = timeout_s
        self.errors: dict[str, int] = {}
        self.timed_out: list[str] = []

    def run(self, items: Sequence[tuple[JobFacts, JobTail]]) -> list[Verdict | None]:
        results: list[Verdict | None] = [None] * len(items)
        for plugin in self.plugins:
            todo = [i for i, (facts, _) in enumerate(items) if results[i] is None and plugin.applies_to(facts.experiment)]
            if todo:
                for i, verdict in self._run_one(plugin, items, todo):
                    if results[i] is None:
                        results[i] = verdict
        return results

    def _run_one(self, plugin: ClassifierPlugin, items: Sequence[tuple[JobFacts, JobTail]],
                 todo: list[int]) -> list[tuple[int, Verdict]]:
        progress = _Progress(todo)
        thread = threading.Thread(target=progress.work, args=(plugin.func, items), name=f"classifier-{plugin.id}",
                                  daemon=True)
        thread.start()
        if not progress.wait(self.timeout_s):
            facts = items[progress.current][0]
            log.error("Classifier plugin %s gave no answer within %.1f s on job %s; skipped for the rest of"
                      " this triage (%d jobs left without it). Fix or remove %s.",
                      plugin.id, self.timeout_s, facts.job, len(todo) - len(progress.answers), plugin.source)
            self.timed_out.append(plugin.id)
        out: list[tuple[int, Verdict]] = []
        for i, raw, err in list(progress.answers):
            if err is None and raw is not None:
                try:
                    out.append((i, to_verdict(plugin, raw, items[i][1])))
                except Exception as bad:
                    err = bad
            if err is not None:
                self._failed(plugin, items[i][0], err)
        return out

    def _failed(self, plugin: ClassifierPlugin, facts: JobFacts, err: BaseException) -> None:
        n = self.errors[plugin.id] = self.errors.get(plugin.id, 0) + 1
        if n <= MAX_LOGGED_ERRORS:
            log.error("Classifier plugin %s failed on job %s (skipped for this job): %s",
                      plugin.id, facts.job, err, exc_info=err if not isinstance(err, ValueError) else None)
        elif n == MAX_LOGGED_ERRORS + 1:
            log.error("Classifier plugin %s keeps failing; further failures are only counted", plugin.id)


class _Progress:
    """A plugin's pass over a batch in its own thread, watched with one wait per job deadline.

    The caller sleeps until the batch is done or the job in hand has run ``timeout_s``: it wakes
    rarely instead of once per job (a queue round trip per job cost more than most plugins)."""

    def __init__(self, todo: list[int]) -> None:
        self.todo = todo
        self.answers: list[tuple[int, Any, BaseException | None]] = []
        self.current = todo[0] if todo else 0
        self.started = time.monotonic()
        self.done = threading.Event()
        self.stop = threading.Event()

    def work(self, func: Callable[[JobFacts, JobTail], Any], items: Sequence[tuple[JobFacts, JobTail]]) -> None:
        try:
            for i in self.todo:
                if self.stop.is_set():
                    return
                self.current, self.started = i, time.monotonic()
                facts, tail = items[i]
                answer: tuple[int, Any, BaseException | None]
                try:
                    answer = (i, func(facts, tail), None)
                except BaseException as err:  # a plugin's failure is reported, never raised into triage
                    answer = (i, None, err)
                if self.stop.is_set():
                    return  # answered after its deadline: the caller has moved on
                self.answers.append(answer)
        finally:
            self.done.set()

    def wait(self, timeout_s: float) -> bool:
        """True when every job was answered; False (and the worker told to stop) when one took too long."""
        while not self.done.wait(max(0.0, self.started + timeout_s - time.monotonic())):
            current, started = self.current, self.started
            if time.monotonic() - started >= timeout_s and (current, started) == (self.current, self.started):
                self.stop.set()
                return self.done.is_set() and len(self.answers) == len(self.todo)
        return True
