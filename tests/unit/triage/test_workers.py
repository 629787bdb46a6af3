"""Triage on several processes gives the verdicts of the serial path, on the real corpus's logs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from prodops.batch.eventlog import EventLogWriter
from prodops.phases.triage import tail_markers
from prodops.triage import workers
from prodops.triage.classify import Classifier
from prodops.triage.corpus import load_cases
from prodops.triage.patterns import load_library
from prodops.triage.plugins import PluginRunner, discover
from prodops.triage.verdict import JobFacts

CLUSTER = 77
MARKED = "@@prodops phase=copy-out state=started time=2026-12-02T10:00:00Z"


def _stage(workdir: Path) -> tuple[list[dict[str, Any]], list[JobFacts]]:
    """Every corpus case as one failed job of a submission: its stdout and stderr files, its events
    in the shared event log, its row as triage reads it (every fifth job prints a phase marker)."""
    workdir.mkdir()
    rows, facts = [], []
    with EventLogWriter(workdir / "jobs.log", host="schedd") as log:
        for proc, case in enumerate(load_cases()):
            out = case.stdout + (f"\n{MARKED}\n" if proc % 5 == 0 else "")
            (workdir / f"job.{proc}.out").write_text(out)
            (workdir / f"job.{proc}.err").write_text(case.stderr)
            log.submit(CLUSTER, proc, when=1.7e9)
            log.execute(CLUSTER, proc, slot_name=f"slot1@wn{proc}", when=1.7e9 + 10)
            f = {"state": "completed", **case.facts}
            if f["state"] == "held":
                log.held(CLUSTER, proc, reason=str(f.get("hold_reason") or ""), code=int(f.get("hold_reason_code") or 0),
                         subcode=int(f.get("hold_reason_subcode") or 0), when=1.7e9 + 60)
            elif f.get("exit_by_signal"):
                log.terminated(CLUSTER, proc, signal=int(f.get("exit_signal") or 9), when=1.7e9 + 60)
            elif f["state"] == "completed":
                log.terminated(CLUSTER, proc, return_value=int(f.get("exit_code") or 0), when=1.7e9 + 60)
            row = {"submission_id": 1, "cluster_id": CLUSTER, "proc_id": proc, "workdir": str(workdir),
                   "event_log": str(workdir / "jobs.log"), **f}
            rows.append(row)
            facts.append(JobFacts.from_row(row, experiment=case.experiment, workflow="demo", stage="run"))
    return rows, facts


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], list[JobFacts]]:
    return _stage(tmp_path_factory.mktemp("workers") / "workdir")


def _classifier() -> Classifier:
    return Classifier(load_library(), PluginRunner(discover()))


def test_two_worker_processes_give_the_serial_verdicts_and_phase_markers(stage):
    rows, facts = stage
    serial = workers.read_and_classify(rows, facts, lines=50, classifier=_classifier(), workers=1)
    forked = workers.read_and_classify(rows, facts, lines=50, classifier=_classifier(), workers=2, min_parallel=0)
    assert (serial.workers, forked.workers) == (1, 2)
    assert len(forked.verdicts) == len(rows) > 200
    assert [v.to_dict() for v in forked.verdicts] == [v.to_dict() for v in serial.verdicts]
    assert {v.category.value for v in forked.verdicts} >= {"service", "infrastructure", "code"}
    markers = [tail_markers(t) for t in forked.tails]
    assert markers == [tail_markers(t) for t in serial.tails]
    assert sum(bool(m) for m in markers) == len(range(0, len(rows), 5))


def test_the_shared_event_log_is_parsed_once_for_every_worker(stage, monkeypatch, tmp_path):
    """The parent parses the event log before forking; a worker that parsed it again would write
    its own pid here (the forked workers inherit the patched function)."""
    rows, facts = stage
    calls = tmp_path / "calls"
    parse = workers.event_log_tails

    def counted(*args: Any, **kwargs: Any) -> Any:
        with calls.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return parse(*args, **kwargs)

    monkeypatch.setattr(workers, "event_log_tails", counted)
    forked = workers.read_and_classify(rows, facts, lines=50, classifier=_classifier(), workers=2, min_parallel=0)
    assert forked.workers == 2
    assert calls.read_text().split() == [str(os.getpid())]


def test_a_small_batch_stays_in_this_process(stage):
    rows, facts = stage
    outcome = workers.read_and_classify(rows[:20], facts[:20], lines=50, classifier=_classifier(), workers=2)
    assert outcome.workers == 1
    assert outcome.tails[0].stdout.count > 0  # the whole tails, not only their markers


def _die(bounds: tuple[int, int]) -> workers.Outcome:
    os._exit(3)


def test_a_worker_that_dies_leaves_the_batch_to_this_process(stage, monkeypatch, caplog):
    rows, facts = stage
    monkeypatch.setattr(workers, "_chunk", _die)
    outcome = workers.read_and_classify(rows[:40], facts[:40], lines=50, classifier=_classifier(), workers=2,
                                        min_parallel=0)
    assert outcome.workers == 1 and len(outcome.verdicts) == 40
    assert "Triage workers failed" in caplog.text


def _hang(bounds: tuple[int, int]) -> workers.Outcome:
    time.sleep(3600)
    raise AssertionError("unreachable")


def _gone(pid: int, within_s: float) -> bool:
    """The process is dead (reaped, or a zombie) within ``within_s`` seconds."""
    import psutil

    deadline = time.monotonic() + within_s
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_worker_that_hangs_is_killed_and_the_batch_done_here(stage, monkeypatch, caplog):
    rows, facts = stage
    monkeypatch.setattr(workers, "_chunk", _hang)
    monkeypatch.setattr(workers, "DEADLINE_S", 1.0)
    monkeypatch.setattr(workers, "DEADLINE_S_PER_ATTEMPT", 0.0)
    killed = []
    stop = workers._stop
    monkeypatch.setattr(workers, "_stop", lambda pool: killed.extend(pool._processes.values()) or stop(pool))
    outcome = workers.read_and_classify(rows[:40], facts[:40], lines=50, classifier=_classifier(), workers=2,
                                        min_parallel=0)
    assert outcome.workers == 1 and len(outcome.verdicts) == 40
    assert "no answer within 1 s" in caplog.text
    assert len(killed) == 2
    for process in killed:
        process.join(timeout=60)  # generous: a loaded machine delivers the kill late, never not at all
        # the pool's own thread may reap the worker first: its exitcode then stays None, its pid is gone
        assert (process.exitcode is not None and process.exitcode < 0) or _gone(process.pid, 60)


def test_a_daemonic_process_triages_alone(stage, monkeypatch):
    rows, facts = stage
    monkeypatch.setattr(workers.multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))
    outcome = workers.read_and_classify(rows[:40], facts[:40], lines=50, classifier=_classifier(), workers=2,
                                        min_parallel=0)
    assert outcome.workers == 1 and len(outcome.verdicts) == 40


@pytest.mark.parametrize(("n", "parts", "want"), [(10, 3, [(0, 4), (4, 7), (7, 10)]), (1, 2, [(0, 1)]),
                                                  (0, 2, [])])
def test_chunks_cover_the_batch_in_order(n, parts, want):
    assert workers.chunks(n, parts) == want


def test_workers_setting_is_checked():
    from prodops.triage.settings import SettingsInvalid, parse_settings

    assert parse_settings({"workers": 3}).worker_count() == 3
    assert parse_settings({}).worker_count() == workers.available_cpus()
    with pytest.raises(SettingsInvalid, match="workers = -1 must be a whole number"):
        parse_settings({"workers": -1})
