"""The art plugin: its real example, each rule, abstaining, and what prodops makes of its answers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from prodops_art_classifier import classifier
from prodops_art_classifier.settings import ArtSettings, load_settings

from prodops.triage.classify import Classifier
from prodops.triage.patterns import load_library
from prodops.triage.plugins import ClassifierPlugin, PluginRunner
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail
from prodops.triage.verdict import JobFacts

FIXTURES = Path(__file__).parent / "fixtures"
ICARUS_PR314 = (FIXTURES / "icaruscode-pr314.out").read_text().splitlines()
SETTINGS = ArtSettings()
CTIME = "Tue May 20 14:39:51 2025"
COPY = ("gfal-copy --nbstreams 1 --timeout 3600 file:///srv/out/reco_r1234.root"
        " https://fndcadoor.fnal.gov:2880/dune/scratch/users/x/reco_r1234.root ")


def facts(experiment: str = "icarus", exit_code: int | None = 1) -> JobFacts:
    return JobFacts(submission_id=1, proc_id=0, cluster_id=77, experiment=experiment, exit_code=exit_code)


def tail(stdout: list[str] | None = None, stderr: list[str] | None = None) -> JobTail:
    return JobTail(stdout=Tail(STDOUT, None, lines=list(stdout or [])),
                   stderr=Tail(STDERR, None, lines=list(stderr or [])), eventlog=Tail(EVENTLOG, None, lines=[]))


def ifdh_loop(tries: int, command: str = COPY, status: int = 1) -> list[str]:
    """What ifdh's retry_system prints on stderr for ``tries`` failed tries (ifdh_cp.cc)."""
    lines: list[str] = []
    for k in range(tries - 1):
        lines += [CTIME, f" program: {command}exited status {status}", f"delaying {7 * (k + 1)} ...", CTIME,
                  " retrying..."]
    return lines + ["gfal-copy error: 70 (Communication error on send) - Connection timed out"]


def verdict_of(job_facts: JobFacts, job_tail: JobTail):
    """The verdict prodops writes, with the plugin found as prodops finds a module plugin."""
    plugin = ClassifierPlugin(id=classifier.ID, func=classifier.classify,
                              experiments=frozenset(classifier.EXPERIMENTS), source="test")
    [verdict] = Classifier(load_library(), PluginRunner([plugin])).classify([(job_facts, job_tail)])
    return verdict


def test_the_icarus_real_example_is_arts_own_refusal_of_the_options():
    v = verdict_of(facts(exit_code=90), tail(stdout=ICARUS_PR314))
    assert (v.category.value, v.rule, v.source, v.retryable) == ("code", "plugin:art:art-status-90", "plugin", False)
    assert v.evidence[0]["text"].strip() == "Error: source files specified for EmptyEvent source."
    assert v.evidence[1]["text"] == "Art has completed and will exit with status 90."
    assert "FHiCL" in v.explain and v.decision["winner"] == v.rule


def test_the_status_line_speaks_even_when_the_wrapper_exits_with_another_code():
    v = classifier.decide(facts(exit_code=1), tail(stdout=ICARUS_PR314), SETTINGS)
    assert v is not None and v.rule == "art-status-90"


def test_an_unrelated_job_is_left_to_prodops():
    traceback = ["Traceback (most recent call last):", '  File "run.py", line 3, in <module>',
                 "ZeroDivisionError: division by zero"]
    assert classifier.decide(facts(), tail(stderr=traceback), SETTINGS) is None
    assert classifier.decide(facts(), tail(), SETTINGS) is None


def test_ifdh_giving_up_after_all_its_retries_is_dcache():
    out = ["Art has completed and will exit with status 0."]
    v = classifier.decide(facts(), tail(stdout=out, stderr=ifdh_loop(9)), SETTINGS)
    assert (v.category, v.service, v.retryable, v.rule, v.confidence) == (
        "service", "dcache", True, "ifdh-retries-exhausted", 0.9)
    assert v.evidence == (("stderr", 40), ("stderr", 36)) and "all 8 retries" in v.explain  # the tool's words first


def test_ifdh_failing_with_fewer_retries_in_the_tail_is_still_dcache_with_less_confidence():
    v = classifier.decide(facts(), tail(stderr=ifdh_loop(3)), SETTINGS)
    assert (v.service, v.rule, v.confidence) == ("dcache", "ifdh-copy-failed", 0.75)
    assert "2 retries seen" in v.explain


def test_a_copy_the_job_went_on_after_is_not_what_ended_it():
    later = ifdh_loop(3) + [f"running validation step {k}" for k in range(20)]
    assert classifier.decide(facts(), tail(stderr=later), SETTINGS) is None


def test_the_storage_service_and_the_retry_count_are_the_experiments_settings():
    settings = load_settings({"PRODOPS_ART_STORAGE_SERVICE": "eos", "PRODOPS_ART_IFDH_MAX_RETRIES": "2"})
    v = classifier.decide(facts(), tail(stderr=ifdh_loop(3)), settings)
    assert (v.service, v.rule) == ("eos", "ifdh-retries-exhausted")


def test_a_copy_after_art_failed_is_a_consequence_not_the_cause():
    out = ICARUS_PR314
    v = classifier.decide(facts(), tail(stdout=out, stderr=ifdh_loop(9)), SETTINGS)
    assert v.rule == "art-status-90"


def test_a_copy_into_a_directory_without_dash_d_is_the_jobs_code():
    err = [CTIME, f" program: {COPY}exited status 1", "Perhaps you forgot a -D to indicate destination is a directory? "]
    v = classifier.decide(facts(), tail(stderr=err), SETTINGS)
    assert (v.category, v.rule, v.retryable) == ("code", "ifdh-dash-d", False)


def test_a_killed_transfer_is_storage_that_hung():
    err = [CTIME, f" program: {COPY} died from signal 9-- exiting."]
    v = classifier.decide(facts(), tail(stderr=err), SETTINGS)
    assert (v.category, v.service, v.rule) == ("service", "dcache", "ifdh-killed")


@pytest.mark.parametrize(("lines", "what"), [
    (["HTTP error: 503 Service Unavailable", "URL: https://samweb.fnal.gov:8483/sam/dune/api/projects/p1/..."],
     "http-5xx"),
    (["samweb_client.exceptions.SAMWebConnectionError: [Errno 111] Connection refused"], "connection"),
    ([CTIME, " Exception: https://samweb.fnal.gov:8483/sam/nova/api/projects/p/processes/FetchError: Retry count"
              " exceeded"], "fetch-retries"),
])
def test_samweb_not_answering_is_samweb_whatever_art_did_next(lines, what):
    v = classifier.decide(facts(), tail(stdout=ICARUS_PR314, stderr=lines), SETTINGS)
    assert (v.category, v.service, v.retryable, v.rule) == ("service", "samweb", True, f"samweb-{what}")


def test_a_samweb_4xx_or_an_http_error_elsewhere_is_not_samweb():
    lines = ["HTTP error: 503 Service Unavailable", "URL: https://rucio.example.org/replicas"]
    assert classifier.decide(facts(), tail(stderr=lines), SETTINGS) is None


def test_the_experiments_validation_failing_the_job_is_code():
    out = ["Art has completed and will exit with status 0.", "VALIDATION FAILED: output has 0 events"]
    v = classifier.decide(facts(), tail(stdout=out), SETTINGS)
    assert (v.category, v.rule, v.retryable) == ("code", "validation", False)
    assert "output has 0 events" in v.explain and v.evidence == (("stdout", 1),)


def test_the_validation_marker_is_configurable_and_read_only_at_the_end():
    settings = load_settings({"PRODOPS_ART_VALIDATION_PATTERN": r"^nova_validate: FAIL (?P<why>.*)$"})
    v = classifier.decide(facts(), tail(stdout=["nova_validate: FAIL no CAF written"]), settings)
    assert v.rule == "validation" and "no CAF written" in v.explain
    early = ["VALIDATION FAILED: early"] + ["ok"] * 20
    assert classifier.decide(facts(), tail(stdout=early), SETTINGS) is None


def test_the_validation_marker_is_found_in_a_tail_read_from_its_file(tmp_path):
    """A tail read from a file is searched in its raw bytes first (one not holding the marker's words
    is never decoded for it): the marker is still found, in any case of its words."""
    from prodops.triage.tail import read_tail

    path = tmp_path / "job.out"
    path.write_text("\n".join(["Begin processing the 1st record."] * 30 + ["Validation Failed: 0 events in CAF"]) + "\n")
    raw = read_tail(path, lines=50, stream=STDOUT)
    assert raw.raw is not None and not raw.decoded
    job = JobTail(stdout=raw, stderr=Tail(STDERR, None, lines=[]), eventlog=Tail(EVENTLOG, None, lines=[]))
    v = classifier.decide(facts(), job, SETTINGS)
    assert v.rule == "validation" and "0 events in CAF" in v.explain
    path.write_text("\n".join(["Begin processing the 1st record."] * 30) + "\n")
    quiet = read_tail(path, lines=50, stream=STDOUT)
    job = JobTail(stdout=quiet, stderr=Tail(STDERR, None, lines=[]), eventlog=Tail(EVENTLOG, None, lines=[]))
    assert classifier.decide(facts(), job, SETTINGS) is None and not quiet.decoded


def test_art_stopped_by_a_signal_is_infrastructure():
    v = classifier.decide(facts(), tail(stdout=["Art has completed and will exit with status 143."],
                                        stderr=["Art has handled signal 15."]), SETTINGS)
    assert (v.category, v.service, v.retryable, v.rule) == ("infrastructure", "batch-pool", True, "art-signal")
    assert v.evidence == (("stderr", 0), ("stdout", 0))


def test_a_status_without_its_exception_report_is_read_with_arts_table():
    v = classifier.decide(facts(), tail(stdout=["Art has completed and will exit with status 20."]), SETTINGS)
    assert (v.category, v.service, v.retryable, v.rule) == ("service", "dcache", True, "art-status-20")
    assert "FileOpenError" in v.explain and v.confidence <= 0.7
    v = classifier.decide(facts(), tail(stdout=["Art has completed and will exit with status 24."]), SETTINGS)
    assert v.service == "samweb"  # CatalogServiceError: art's catalog is SAM through ifdh_art


def test_a_status_whose_report_is_in_the_tail_is_left_to_prodops_parsers():
    out = ["---- FileOpenError BEGIN", "  Failed to open root://fndca1.fnal.gov/x.root", "---- FileOpenError END",
           "Art has completed and will exit with status 20."]
    assert classifier.decide(facts(), tail(stdout=out), SETTINGS) is None


@pytest.mark.parametrize("status", [0, 1, 65, 250])
def test_statuses_that_say_nothing_abstain(status):
    out = [f"Art has completed and will exit with status {status}."]
    assert classifier.decide(facts(), tail(stdout=out), SETTINGS) is None


def test_the_experiments_are_configurable():
    assert load_settings({"PRODOPS_ART_EXPERIMENTS": " DUNE, sbnd ,"}).experiments == ("dune", "sbnd")
    assert "icarus" in load_settings({}).experiments


@pytest.mark.parametrize(("env", "words"), [
    ({"PRODOPS_ART_IFDH_MAX_RETRIES": "many"}, "PRODOPS_ART_IFDH_MAX_RETRIES='many'"),
    ({"PRODOPS_ART_VALIDATION_PATTERN": "(unclosed"}, "PRODOPS_ART_VALIDATION_PATTERN='(unclosed'"),
])
def test_a_bad_setting_names_the_variable_and_the_fix(env, words):
    with pytest.raises(ValueError, match=r"\(") as err:
        load_settings(env)
    assert words in str(err.value)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS.storage_service = "x"  # type: ignore[misc]
