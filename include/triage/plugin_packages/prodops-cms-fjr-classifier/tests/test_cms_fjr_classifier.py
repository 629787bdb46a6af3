"""The CMS FJR plugin: WMCore's real reports, where reports are looked for, what is refused, each rule."""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prodops_cms_fjr_classifier import classifier, fjr
from prodops_cms_fjr_classifier.settings import FjrSettings, load_settings

from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import ClassifierPlugin, PluginRunner
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail, read_tail
from prodops.triage.verdict import JobFacts

FIXTURES = Path(__file__).parent / "fixtures"
WHOLE = FIXTURES / "CMSSWFailReport.xml"
CUT = FIXTURES / "CMSSWFailReport2.xml"
SETTINGS = FjrSettings()
CASTOR = 'No "CastorDbRecord" record found in the EventSetup.'


def facts(proc_id: int = 0, **kw) -> JobFacts:
    return JobFacts(submission_id=1, proc_id=proc_id, cluster_id=42, experiment="cms", exit_code=kw.pop("exit_code", 66),
                    **kw)


def job(workdir: Path, proc_id: int = 0, stdout: str = "== CMSSW: starting\n") -> JobTail:
    """The job's tails as prodops reads them: stdout from job.<ProcId>.out in the workdir."""
    out = workdir / f"job.{proc_id}.out"
    out.write_text(stdout)
    return JobTail(stdout=read_tail(out, stream=STDOUT), stderr=Tail(STDERR, str(workdir / f"job.{proc_id}.err")),
                   eventlog=Tail(EVENTLOG, None))


def report(error: str, *, extra: str = "") -> str:
    """A report in the format of cmsRun's JobReport::reportError."""
    return f"<FrameworkJobReport>\n{extra}{error}</FrameworkJobReport>\n"


def verdict_of(job_facts: JobFacts, job_tail: JobTail):
    plugin = ClassifierPlugin(id=classifier.ID, func=classifier.classify,
                              experiments=frozenset(classifier.EXPERIMENTS), source="test")
    [verdict] = Classifier(load_library(), PluginRunner([plugin])).classify([(job_facts, job_tail)])
    return verdict


def test_wmcores_real_failed_report_is_an_eventsetup_configuration_error(tmp_path):
    shutil.copy(WHOLE, tmp_path / "FrameworkJobReport-0.xml")
    v = verdict_of(facts(), job(tmp_path))
    assert (v.category.value, v.rule, v.source, v.retryable) == ("code", "plugin:cms-fjr:fjr-NoRecord", "plugin", False)
    assert v.confidence == 0.9 and v.service is None
    assert "FrameworkJobReport-0.xml: cmsRun failed with NoRecord (ExitStatus 8001, CMSException)" in v.explain
    assert CASTOR in v.explain and "ESSource" in v.explain


def test_the_cut_real_report_is_read_as_fragments(tmp_path):
    shutil.copy(CUT, tmp_path / "Report.3.xml")
    found = fjr.find_report(str(tmp_path), facts(3), SETTINGS)
    assert found is not None and not found.whole and len(found.errors) == 1
    assert (found.errors[0].exit_status, found.errors[0].type) == (8001, "CMSException")
    v = classifier.decide(facts(3), job(tmp_path, 3), SETTINGS)
    assert (v.category, v.rule) == ("code", "fjr-NoRecord") and "SiStripFedCablingRcd" in v.explain


def test_the_reports_cause_is_the_evidence_when_cmsrun_printed_it_too(tmp_path):
    shutil.copy(WHOLE, tmp_path / "FrameworkJobReport-0.xml")
    stdout = "----- Begin Fatal Exception -----\n" + CASTOR + "\n Please add an ESSource or ESProducer\n"
    v = verdict_of(facts(), job(tmp_path, stdout=stdout))
    assert v.evidence[0]["text"] == CASTOR and v.evidence[0]["stream"] == "stdout" and v.evidence[0]["line"] == 2


def test_a_job_without_a_report_is_left_to_prodops(tmp_path):
    assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None
    (tmp_path / "FrameworkJobReport-1.xml").write_text(WHOLE.read_text())  # another job's
    assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None
    no_path = JobTail(stdout=Tail(STDOUT, None, lines=["x"]), stderr=Tail(STDERR, None), eventlog=Tail(EVENTLOG, None))
    assert classifier.decide(facts(), no_path, SETTINGS) is None


def test_a_report_without_errors_abstains(tmp_path):
    (tmp_path / "FrameworkJobReport-0.xml").write_text("<FrameworkJobReport><InputFile/></FrameworkJobReport>")
    assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None


def test_a_symlink_is_refused(tmp_path, caplog):
    (tmp_path / "FrameworkJobReport-0.xml").symlink_to(WHOLE)
    with caplog.at_level(logging.WARNING):
        assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None
    assert "only regular files in the workdir are read" in caplog.text


def test_a_fifo_is_refused_without_blocking(tmp_path, caplog):
    os.mkfifo(tmp_path / "FrameworkJobReport-0.xml")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None
    assert time.monotonic() - started < 2 and "not a regular file" in caplog.text


@pytest.mark.parametrize("hostile", [
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
    '<FrameworkJobReport><FrameworkError ExitStatus="8001" Type="x">&b;</FrameworkError></FrameworkJobReport>',
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><FrameworkJobReport>&x;</FrameworkJobReport>',
])
def test_dtds_and_entities_are_refused(tmp_path, caplog, hostile):
    (tmp_path / "FrameworkJobReport-0.xml").write_text(hostile)
    with caplog.at_level(logging.WARNING):
        assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None
    assert "declares a DOCTYPE or entities" in caplog.text


def test_a_large_report_is_read_only_at_its_end(tmp_path):
    error = WHOLE.read_text().split("</File>")[-1].split("<StorageStatistics>")[0]
    big = report(error, extra="<File><LFN>/store/x.root</LFN></File>\n" * 40_000)
    (tmp_path / "FrameworkJobReport-0.xml").write_text(big)
    assert len(big) > 1 << 20
    small = FjrSettings(max_bytes=4096)
    found = fjr.find_report(str(tmp_path), facts(), small)
    assert found is not None and not found.whole and found.errors[0].exit_status == 8001
    assert classifier.decide(facts(), job(tmp_path), small).rule == "fjr-NoRecord"
    assert fjr.find_report(str(tmp_path), facts(), SETTINGS).whole


def test_the_shared_name_is_read_only_when_written_during_the_jobs_run(tmp_path):
    shutil.copy(WHOLE, tmp_path / "FrameworkJobReport.xml")
    now = datetime.now(timezone.utc)
    during = facts(started=now - timedelta(hours=1), ended=now)
    assert classifier.decide(during, job(tmp_path), SETTINGS).rule == "fjr-NoRecord"
    earlier_job = facts(started=now - timedelta(days=2), ended=now - timedelta(days=1))
    assert classifier.decide(earlier_job, job(tmp_path), SETTINGS) is None


def test_the_jobs_own_report_comes_before_the_shared_one(tmp_path):
    shutil.copy(WHOLE, tmp_path / "FrameworkJobReport.xml")
    shutil.copy(CUT, tmp_path / "FrameworkJobReport-0.xml")
    assert "SiStripFedCablingRcd" in classifier.decide(facts(), job(tmp_path), SETTINGS).explain


def test_an_exit_status_alone_is_read_with_the_cmssw_and_wmcore_tables(tmp_path):
    error = '<FrameworkError ExitStatus="8028" Type="Fatal Exception" >\n<![CDATA[\ncmsRun stopped\n]]>\n</FrameworkError>\n'
    (tmp_path / "FrameworkJobReport-0.xml").write_text(report(error))
    v = classifier.decide(facts(), job(tmp_path), SETTINGS)
    assert (v.category, v.service, v.retryable, v.rule) == ("service", "storage", True, "fjr-exit-8028")


def test_an_old_generic_exit_status_1_says_nothing(tmp_path):
    error = '<FrameworkError ExitStatus="1" Type="CMSException" >\n  something failed\n</FrameworkError>\n'
    (tmp_path / "FrameworkJobReport-0.xml").write_text(report(error))
    assert classifier.decide(facts(), job(tmp_path), SETTINGS) is None


def test_wmcores_bootstrap_failure_report_is_the_worker_node(tmp_path):
    # the shape WMRuntime/Unpacker.py makeErrorReport writes
    text = ('<xml>\n<FrameworkJobReport Status="Failed" Name="job-7">\n<ExitCode Value="1"/>\n'
            '<FrameworkError Type = "BootstrapError">\nUnable to find sandbox\n</FrameworkError>\n'
            '</FrameworkJobReport>\n</xml>\n')
    (tmp_path / "FrameworkJobReport-0.xml").write_text(text)
    v = classifier.decide(facts(), job(tmp_path), SETTINGS)
    assert (v.category, v.service, v.retryable, v.rule) == ("infrastructure", "worker-node", True, "fjr-exit-1")


def test_a_shutdown_signal_is_infrastructure(tmp_path):
    (tmp_path / "FrameworkJobReport-0.xml").write_text(report("<ShutdownSignal/>\n"))
    v = classifier.decide(facts(), job(tmp_path), SETTINGS)
    assert (v.category, v.service, v.rule) == ("infrastructure", "batch-pool", "fjr-shutdown-signal")


def test_the_type_names_the_category_when_the_text_does_not(tmp_path):
    error = '<FrameworkError ExitStatus="8001" Type="ExceededResourceRSS" >\n<![CDATA[\nRSS too big\n]]>\n</FrameworkError>\n'
    (tmp_path / "FrameworkJobReport-0.xml").write_text(report(error))
    v = classifier.decide(facts(), job(tmp_path), SETTINGS)
    assert (v.category, v.resource, v.rule) == ("infrastructure", "memory", "fjr-ExceededResourceRSS")


def test_settings_from_the_environment():
    assert load_settings({"PRODOPS_CMS_EXPERIMENTS": "CMS, cms-test"}).experiments == ("cms", "cms-test")
    assert load_settings({}).max_bytes == 8 << 20
    with pytest.raises(ValueError, match="PRODOPS_CMS_FJR_MAX_BYTES='big'"):
        load_settings({"PRODOPS_CMS_FJR_MAX_BYTES": "big"})


def test_report_names_take_only_a_job_number():
    assert fjr.report_names(5) == ("FrameworkJobReport-5.xml", "Report.5.xml", "FrameworkJobReport.xml")
    with pytest.raises(ValueError, match="not a job number"):
        fjr.report_names("../x")  # type: ignore[arg-type]
