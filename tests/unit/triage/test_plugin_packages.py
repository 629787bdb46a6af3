"""The experiments' plugin packages (include/triage/plugin_packages): installed, found, deciding, contained.

The packages' own tests (each package's ``tests/``) test their rules; these test them as prodops
meets them: through the ``prodops.classifiers`` entry points of the venv.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import shutil
import threading
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest

from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import ENTRY_POINT_GROUP, ClassifierPlugin, PluginRunner, discover
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail, read_tail
from prodops.triage.verdict import JobFacts

PACKAGES = Path(__file__).resolve().parents[3] / "include" / "triage" / "plugin_packages"
ICARUS_PR314 = PACKAGES / "prodops-art-classifier" / "tests" / "fixtures" / "icaruscode-pr314.out"
WMCORE_FJR = PACKAGES / "prodops-cms-fjr-classifier" / "tests" / "fixtures" / "CMSSWFailReport.xml"
EXPECTED = {
    "art": ("prodops-art-classifier", "prodops_art_classifier"),
    "cms-fjr": ("prodops-cms-fjr-classifier", "prodops_cms_fjr_classifier"),
}
UNRELATED = ["Traceback (most recent call last):", '  File "run.py", line 3, in <module>',
             "ZeroDivisionError: division by zero"]


@pytest.fixture(scope="module")
def plugins() -> dict[str, ClassifierPlugin]:
    found = {p.id: p for p in discover()}
    missing = sorted(set(EXPECTED) - set(found))
    assert not missing, f"plugin packages {missing} are not installed in this venv: run `make venv`"
    return found


def _job(workdir: Path, experiment: str, proc_id: int, stdout: str, exit_code: int = 1) -> tuple[JobFacts, JobTail]:
    out = workdir / f"job.{proc_id}.out"
    out.write_text(stdout)
    facts = JobFacts(submission_id=1, proc_id=proc_id, cluster_id=9, experiment=experiment, exit_code=exit_code)
    return facts, JobTail(stdout=read_tail(out, stream=STDOUT), stderr=Tail(STDERR, None), eventlog=Tail(EVENTLOG, None))


def _jobs(tmp_path: Path) -> list[tuple[JobFacts, JobTail]]:
    """icarus: the real art example, an unrelated job; cms: the real FJR, an unrelated job (no FJR)."""
    shutil.copy(WMCORE_FJR, tmp_path / "FrameworkJobReport-2.xml")
    return [
        _job(tmp_path, "icarus", 0, ICARUS_PR314.read_text(), exit_code=90),
        _job(tmp_path, "icarus", 1, "\n".join(UNRELATED) + "\n"),
        _job(tmp_path, "cms", 2, "== CMSSW: Begin processing the 1st record\n", exit_code=66),
        _job(tmp_path, "cms", 3, "\n".join(UNRELATED) + "\n"),
    ]


def test_the_entry_points_are_installed_and_discovered(plugins):
    points = {e.name: e for e in entry_points(group=ENTRY_POINT_GROUP)}
    for pid, (dist, module) in EXPECTED.items():
        assert points[pid].value == module and points[pid].dist.name == dist
        assert plugins[pid].source == f"entry point {pid} = {module}"
    assert plugins["art"].applies_to("icarus") and plugins["art"].applies_to("DUNE")
    assert not plugins["art"].applies_to("cms")
    assert plugins["cms-fjr"].applies_to("cms") and not plugins["cms-fjr"].applies_to("nova")


@pytest.mark.parametrize("pid", sorted(EXPECTED))
def test_the_installed_copy_is_the_source(pid):
    """A plugin is installed as a copy: one changed since `make venv` would run stale code."""
    dist_name, module = EXPECTED[pid]
    source = PACKAGES / dist_name / module
    installed = {Path(str(f)).name: f for f in distribution(dist_name).files or () if str(f).startswith(f"{module}/")
                 and str(f).endswith(".py")}
    assert installed, f"{dist_name} lists no modules; reinstall it with `make venv`"
    for path in sorted(source.glob("*.py")):
        copy = installed.get(path.name)
        assert copy is not None, f"{path.name} of {dist_name} is not installed: run `make venv`"
        digest = hashlib.sha256(Path(copy.locate()).read_bytes()).hexdigest()
        assert digest == hashlib.sha256(path.read_bytes()).hexdigest(), \
            f"the installed {module}/{path.name} is older than the source: run `make venv`"


def test_each_plugin_decides_its_real_example_and_abstains_on_an_unrelated_job(plugins, tmp_path):
    runner = PluginRunner([plugins["art"], plugins["cms-fjr"]])
    art, art_other, cms, cms_other = Classifier(load_library(), runner).classify(_jobs(tmp_path))
    assert (art.source, art.rule, art.category.value) == ("plugin", "plugin:art:art-status-90", "code")
    assert art.evidence[0]["text"].strip() == "Error: source files specified for EmptyEvent source."
    assert (cms.source, cms.rule, cms.category.value) == ("plugin", "plugin:cms-fjr:fjr-NoRecord", "code")
    assert 'No "CastorDbRecord" record found in the EventSetup.' in cms.explain
    assert art_other.source != "plugin" and cms_other.source != "plugin"
    assert runner.errors == {} and runner.timed_out == []


@pytest.mark.parametrize("failure", ["raises", "hangs"])
def test_a_plugin_that_raises_or_hangs_does_not_stop_triage(plugins, tmp_path, monkeypatch, caplog, failure):
    fjr = inspect.getmodule(plugins["cms-fjr"].func).fjr  # the module the entry point loaded
    release = threading.Event()

    def broken(*_args, **_kwargs):
        if failure == "raises":
            raise RuntimeError("the report reader broke")
        release.wait(10)  # a hung read; released at the end so the abandoned thread ends

    monkeypatch.setattr(fjr, "find_report", broken)
    runner = PluginRunner([plugins["art"], plugins["cms-fjr"]], timeout_s=0.3)
    try:
        with caplog.at_level(logging.ERROR):
            art, art_other, cms, cms_other = Classifier(load_library(), runner).classify(_jobs(tmp_path))
    finally:
        release.set()
    assert art.rule == "plugin:art:art-status-90"  # the other plugin still decides
    assert cms.source != "plugin" and cms.category.value and cms_other.source != "plugin"
    if failure == "raises":
        assert runner.errors == {"cms-fjr": 2} and "the report reader broke" in caplog.text
    else:
        assert runner.timed_out == ["cms-fjr"] and "gave no answer within 0.3 s" in caplog.text
