"""Experiment classifier plugins: discovery, precedence, and plugins that raise, hang or answer badly."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import ClassifierPlugin, PluginRunner, discover
from prodops.triage.verdict import PluginVerdict
from tests.unit.triage.test_corpus import CASES, case_input

XROOTD = next(c for c in CASES if c["id"] == "xrootd-3011")
FALLBACK = next(c for c in CASES if c["id"] == "fallback-exit-code")


def plugin(func, pid="exp", experiments=None) -> ClassifierPlugin:
    return ClassifierPlugin(id=pid, func=func, experiments=experiments, source=f"test {pid}")


def says_code(facts, tail):
    if any("[3011]" in line for line in tail.stderr.lines):
        return PluginVerdict(category="code", explain="our wrapper reads a file that does not exist",
                             evidence=("Server responded",), rule="wrong-path")
    return None


def test_a_plugin_verdict_wins_over_patterns_and_keeps_their_evidence():
    c = Classifier(load_library(), PluginRunner([plugin(says_code)]))
    v1, v2 = c.classify([case_input(XROOTD, 0), case_input(FALLBACK, 1)])
    assert (v1.category.value, v1.rule, v1.source) == ("code", "plugin:exp:wrong-path", "plugin")
    assert v1.evidence[0]["text"].startswith("Error in <TNetXNGFile::Open>") and v1.evidence[0]["rule"] == v1.rule
    assert len(v1.evidence) == 1  # the pattern matched the same line: shown once
    assert v2.rule == "fallback"  # the plugin abstained


def test_a_plugin_applies_only_to_its_experiments():
    c = Classifier(load_library(), PluginRunner([plugin(says_code, experiments=frozenset({"dune"}))]))
    [v] = c.classify([case_input(XROOTD)])
    assert v.rule == "xrootd-3011-no-server"


def test_the_first_plugin_with_a_verdict_wins():
    second = plugin(lambda f, t: {"category": "service", "explain": "second"}, pid="second")
    c = Classifier(load_library(), PluginRunner([plugin(says_code), second]))
    v1, v2 = c.classify([case_input(XROOTD, 0), case_input(FALLBACK, 1)])
    assert v1.rule == "plugin:exp:wrong-path" and v2.rule == "plugin:second" and v2.retryable


def test_a_plugin_that_raises_is_logged_and_skipped(caplog):
    def boom(facts, tail):
        raise RuntimeError("plugin bug")

    runner = PluginRunner([plugin(boom, pid="boom")])
    with caplog.at_level(logging.ERROR):
        verdicts = Classifier(load_library(), runner).classify([case_input(XROOTD, i) for i in range(6)])
    assert [v.rule for v in verdicts] == ["xrootd-3011-no-server"] * 6
    assert runner.errors == {"boom": 6}
    assert "Classifier plugin boom failed on job 123.0" in caplog.text and "plugin bug" in caplog.text
    assert caplog.text.count("failed on job") == 3 and "keeps failing" in caplog.text


@pytest.mark.parametrize("answer", [
    {"category": "bogus", "explain": "x"},
    {"category": "code"},
    {"category": "code", "explain": "x", "confidence": 7},
    "service",
])
def test_a_malformed_answer_is_logged_and_skipped(caplog, answer):
    runner = PluginRunner([plugin(lambda f, t: answer, pid="bad")])
    with caplog.at_level(logging.ERROR):
        [v] = Classifier(load_library(), runner).classify([case_input(XROOTD)])
    assert v.rule == "xrootd-3011-no-server" and runner.errors == {"bad": 1}
    assert "Classifier plugin bad failed on job" in caplog.text


def test_a_plugin_that_hangs_is_skipped_after_its_timeout(caplog):
    release = threading.Event()

    def hang_on_second(facts, tail):
        if facts.proc_id == 1:
            release.wait(30)
        return PluginVerdict(category="code", explain="mine")

    runner = PluginRunner([plugin(hang_on_second, pid="slow")], timeout_s=0.3)
    started = time.perf_counter()
    with caplog.at_level(logging.ERROR):
        verdicts = Classifier(load_library(), runner).classify([case_input(XROOTD, i) for i in range(4)])
    release.set()
    assert time.perf_counter() - started < 5
    assert [v.rule for v in verdicts] == ["plugin:slow", "xrootd-3011-no-server", "xrootd-3011-no-server",
                                          "xrootd-3011-no-server"]
    assert runner.timed_out == ["slow"] and "gave no answer within 0.3 s on job 123.1" in caplog.text


def test_discovery_from_the_folder_skips_a_broken_module(tmp_path: Path, caplog):
    (tmp_path / "nova_wrapper.py").write_text(
        "from prodops.triage.verdict import PluginVerdict\n"
        "EXPERIMENTS = ('NOvA',)\nID = 'nova-wrapper'\n"
        "def classify(facts, tail):\n    return None\n"
    )
    (tmp_path / "broken.py").write_text("raise ImportError('missing dependency')\n")
    (tmp_path / "_private.py").write_text("raise SystemExit\n")
    with caplog.at_level(logging.ERROR):
        found = discover(tmp_path, group="prodops.test.none")
    assert [(p.id, p.experiments) for p in found] == [("nova-wrapper", frozenset({"nova"}))]
    assert "broken.py could not be loaded" in caplog.text


def test_the_shipped_demo_plugin_says_code_for_a_demo_job_told_to_fail():
    plugins = discover()
    assert [p.id for p in plugins if p.id == "demo"] == ["demo"]
    told = {**FALLBACK, "experiment": "nova"}
    facts, tail = case_input(told)
    demo_facts = type(facts)(**{**facts.__dict__, "workflow": "demo"})
    c = Classifier(load_library(), PluginRunner(plugins))
    v_demo, v_other = c.classify([(demo_facts, tail), (facts, tail)])
    assert (v_demo.category.value, v_demo.rule) == ("code", "plugin:demo:told-to-fail")
    assert v_demo.evidence[0]["text"] == "failing with exit code 3" and v_demo.evidence[0]["stream"] == "stderr"
    assert v_other.rule == "fallback"  # other workflows: the plugin abstains


def test_the_demo_jobs_unexplained_failure_stays_unknown_with_its_probable_cause(tmp_path: Path):
    """What the pages e2e shows for an unknown failure: the demo job's real output, triaged with the
    shipped plugins and library, is no rule's (the demo plugin abstains) and points at its line."""
    import subprocess
    import sys

    from prodops import config
    from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail
    from prodops.triage.verdict import JobFacts

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(config.JOBS_DIR)}
    done = subprocess.run([sys.executable, str(config.JOBS_DIR / "demo_job.py"), "--job", "4", "--unexplained"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 42, done.stderr
    events = ["005 (001.004.000) 2026-12-02 13:40:00 Job terminated.", "\t(1) Normal termination (return value 42)",
              "\tPartitionable Resources :    Usage  Request Allocated", "\t   Memory (MB)          :       12      100       100",
              "..."]  # the local pool's terminated event: its last attribute line speaks of memory
    tail = JobTail(stdout=Tail(STDOUT, None, lines=done.stdout.splitlines()),
                   stderr=Tail(STDERR, None, lines=done.stderr.splitlines()), eventlog=Tail(EVENTLOG, None, lines=events))
    facts = JobFacts(submission_id=1, proc_id=4, cluster_id=1, job_index=4, experiment="nova", workflow="demo-grid",
                     stage="run", state="completed", exit_code=42)
    (verdict,) = Classifier(load_library(), PluginRunner(discover())).classify([(facts, tail)])
    assert (verdict.category.value, verdict.rule) == ("unknown", "fallback")
    assert verdict.signature
    first = verdict.evidence[0]  # what the triage page's group shows: the job's last words, not the event log's
    assert (first["stream"], first["rule"], first["text"]) == (
        "stderr", "probable-cause", "calibration table for run 1004 has 63 channels, geometry has 64: giving up")
