"""Precedence by specificity, and the decision path each verdict carries (mechanics; accuracy is
measured on the real corpus by `make eval-triage`)."""

from __future__ import annotations

import pytest

from prodops.constants import Category
from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import ClassifierPlugin, PluginRunner
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail
from prodops.triage.verdict import JobFacts, PluginVerdict


def tail(stderr: str = "", stdout: str = "") -> JobTail:
    def one(text: str, stream: str) -> Tail:
        lines = text.splitlines()
        return Tail(stream, f"/w/{stream}", lines=lines, status="ok" if lines else "empty", first_line=1)
    return JobTail(stdout=one(stdout, STDOUT), stderr=one(stderr, STDERR), eventlog=one("", EVENTLOG))


def facts(**kw) -> JobFacts:
    return JobFacts(submission_id=1, proc_id=kw.pop("proc_id", 0), cluster_id=9, experiment="nova",
                    **{"state": "completed", "exit_code": 1, **kw})


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_library(), PluginRunner([]))


ART_FILE_OPEN_WITH_XROOTD = """\
%MSG-s ArtException:  PostEndJob 21-Nov-2026 10:11:12 CST ModuleEndJob
cet::exception caught in art
---- FileOpenError BEGIN
  ---- FatalRootError BEGIN
    Fatal Root Error: @SUB=TNetXNGFile::Open
    [ERROR] Server responded with an error: [3011] No servers are available to read the file.
  ---- FatalRootError END
  Failed to open the file root://fndca1.fnal.gov:1094/pnfs/nova/raw/r51234.root
---- FileOpenError END
%MSG
Art has completed and will exit with status 65.
"""


def test_the_storage_layer_inside_a_framework_report_decides(classifier):
    [v] = classifier.classify([(facts(exit_code=65), tail(ART_FILE_OPEN_WITH_XROOTD))])
    assert (v.category, v.service, v.rule) == (Category.SERVICE, "xrootd", "xrootd-3011-no-server")
    assert "[3011]" in v.evidence[0]["text"]  # the cause first, the framework's line after it
    assert "inside the art report" in v.decision["why"]
    assert {c["source"] for c in v.decision["candidates"]} >= {"pattern", "framework"}


PYTHON_401 = """\
Traceback (most recent call last):
  File "/srv/upload.py", line 12, in <module>
    r.raise_for_status()
  File "/usr/lib/python3/site-packages/requests/models.py", line 1021, in raise_for_status
    raise HTTPError(http_error_msg, response=self)
requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://rucio.example.org/auth
"""


def test_a_service_error_wrapped_in_a_traceback_is_a_service_failure(classifier):
    [v] = classifier.classify([(facts(), tail(PYTHON_401))])
    assert v.category is Category.SERVICE
    assert "401 Client Error" in v.evidence[0]["text"]


ART_PRODUCT_NOT_FOUND = """\
---- ProductNotFound BEGIN
  getByLabel: Found zero products matching all criteria
  Looking for type: std::vector<recob::Hit>
---- ProductNotFound END
"""


def test_a_framework_category_that_decides_wins_over_the_exit_code(classifier):
    [v] = classifier.classify([(facts(exit_code=65), tail(ART_PRODUCT_NOT_FOUND))])
    assert (v.category, v.rule, v.source) == (Category.CODE, "art:ProductNotFound", "framework")
    assert v.evidence[0]["text"] == "getByLabel: Found zero products matching all criteria"
    assert v.evidence[0]["line"] == 2


def test_a_category_the_table_does_not_know_still_names_its_cause_line(classifier):
    text = "---- TPCGeo BEGIN\n  wire plane 7 does not exist in this geometry\n---- TPCGeo END\n"
    [v] = classifier.classify([(facts(), tail(text))])
    assert any(e["text"] == "wire plane 7 does not exist in this geometry" for e in v.evidence)
    undecided = [c for c in v.decision["candidates"] if c["rule"] == "art:TPCGeo"]
    assert undecided and undecided[0]["category"] == "unknown"


MEMORY_HOLD = "Error from slot1_1@wn: Job has gone over memory limit of 1000 megabytes. Peak usage: 1400 megabytes."


def test_a_held_jobs_reason_outranks_what_its_log_shows_of_its_death(classifier):
    job = facts(state="held", exit_code=None, hold_reason=MEMORY_HOLD, hold_reason_code=34, hold_reason_subcode=102)
    [v] = classifier.classify([(job, tail("terminate called after throwing an instance of 'std::bad_alloc'\n"))])
    assert v.category is Category.INFRASTRUCTURE and v.resource == "memory"
    assert v.evidence[0]["stream"] == "reason"
    assert "hold or remove reason" in v.decision["why"]


def test_a_generic_reason_loses_to_a_specific_cause_in_the_log(classifier):
    reason = ("Error from slot1_2@wn: STARTER at 10.1.2.3 failed to send file(s) to <131.225.3.4:9618>: error reading"
              " from /srv/reco.root: (errno 2) No such file or directory; SHADOW successfully received")
    job = facts(state="held", exit_code=None, hold_reason=reason, hold_reason_code=12, hold_reason_subcode=2)
    log = "ERROR: CVMFS repository /cvmfs/nova.opensciencegrid.org is not available\n"
    [v] = classifier.classify([(job, tail(stdout=log))])
    assert (v.rule, v.category) == ("cvmfs-unavailable", Category.INFRASTRUCTURE)
    assert "CVMFS" in v.evidence[0]["text"]
    ranks = {c["rule"]: c["rank"] for c in v.decision["candidates"]}
    assert ranks["cvmfs-unavailable"] > ranks["condor-output-missing"] > ranks["hold-12"]


def test_an_experiment_plugin_decides_first_and_keeps_the_other_evidence():
    def says_service(job, tail):
        return PluginVerdict(category="service", explain="our DAQ dispatcher was down", service="dispatcher",
                             retryable=True, rule="daq")
    c = Classifier(load_library(), PluginRunner([ClassifierPlugin("exp", says_service)]))
    [v] = c.classify([(facts(exit_code=65), tail(ART_PRODUCT_NOT_FOUND))])
    assert (v.category, v.rule) == (Category.SERVICE, "plugin:exp:daq")
    assert "plugin decides first" in v.decision["why"]
    assert any(e["text"].startswith("getByLabel") for e in v.evidence)


def test_nothing_known_gives_unknown_with_probable_cause_lines(classifier):
    log = "step 1 ok\nstep 2 ok\nthe frobnicator could not reach its quorum; giving up\nbye\n"
    [v] = classifier.classify([(facts(exit_code=42), tail(stdout=log))])
    assert v.category is Category.UNKNOWN
    assert v.evidence[0]["rule"] == "probable-cause"
    assert "could not reach its quorum" in v.evidence[0]["text"]


def test_jobs_failing_the_same_new_way_share_a_signature(classifier):
    def job(n: int):
        log = f"processing run {n}\nthe frobnicator could not reach quorum {n * 7} at host wn{n}.fnal.gov\n"
        return facts(proc_id=n, exit_code=7), tail(stdout=log)
    verdicts = classifier.classify([job(n) for n in range(1, 50)])
    assert len({v.signature for v in verdicts}) == 1 and verdicts[0].signature
    [other] = classifier.classify([(facts(exit_code=7), tail(stdout="the widget exploded\n"))])
    assert other.signature != verdicts[0].signature


def test_a_guess_is_marked_low_and_names_its_line(classifier):
    log = "step 1 ok\nERROR: gave up on the stage-out to root://fndca1.fnal.gov//pnfs/nova/out_1.root\nbye\n"
    [v] = classifier.classify([(facts(exit_code=42), tail(stdout=log))])
    assert (v.category, v.rule, v.confidence) == (Category.SERVICE, "guess:service", 0.3)
    assert v.is_guess and v.explain.startswith("A guess, not a known error")
    assert v.evidence[0]["rule"] == "probable-cause" and "stage-out" in v.evidence[0]["text"]
    assert "a guess" in v.decision["why"]


CMSSW_FILE_OPEN_WITH_XROOTD = """\
----- Begin Fatal Exception 04-Feb-2023 08:57:39 UTC-----------------------
An exception of category 'FileOpenError' occurred while
   [0] Constructing the EventProcessor
   Additional Info:
      [a] Fatal Root Error: @SUB=TNetXNGFile::Open
[ERROR] Server responded with an error: [3011] No servers are available to read the file.
----- End Fatal Exception -------------------------------------------------
"""


def test_the_framework_header_follows_the_root_cause_as_context(classifier):
    [v] = classifier.classify([(facts(exit_code=65), tail(stderr=CMSSW_FILE_OPEN_WITH_XROOTD))])
    assert v.rule == "xrootd-3011-no-server" and "[3011]" in v.evidence[0]["text"]
    assert v.evidence[1]["rule"] == "context:cmssw" and v.evidence[1]["text"].startswith("----- Begin Fatal Exception")
    assert v.evidence[1]["line"] == 1
