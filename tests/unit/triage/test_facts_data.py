"""The HTCondor and wrapper facts (include/triage/facts/*.yaml): complete against their sources, and read by from_facts."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal

import htcondor2
import pytest

from prodops.constants import Category
from prodops.triage.facts import FACTS_DIR, FactsInvalid, exit_tables_for, fallback, from_facts, load_facts, signal_by_report_name
from prodops.triage.verdict import JobFacts

C = Category

# CONDOR_HOLD_CODE of
# https://github.com/htcondor/htcondor/blob/7491a145f64a1c2393ed0933375874344fa44f9f/src/condor_utils/condor_holdcodes.h
HOLD_CODES = dict(enumerate((
    "Unspecified UserRequest GlobusGramError JobPolicy CorruptedCredential JobPolicyUndefined FailedToCreateProcess"
    " UnableToOpenOutput UnableToOpenInput UnableToOpenOutputStream UnableToOpenInputStream InvalidTransferAck"
    " TransferOutputError TransferInputError IwdError SubmittedOnHold SpoolingInput JobShadowMismatch"
    " InvalidTransferGoAhead HookPrepareJobFailure MissedDeferredExecutionTime StartdHeldJob UnableToInitUserLog"
    " FailedToAccessUserAccount NoCompatibleShadow InvalidCronSettings SystemPolicy SystemPolicyUndefined"
    " GlexecChownSandboxToUser PrivsepChownSandboxToUser GlexecChownSandboxToCondor PrivsepChownSandboxToCondor"
    " MaxTransferInputSizeExceeded MaxTransferOutputSizeExceeded JobOutOfResources InvalidDockerImage FailedToCheckpoint"
    " EC2UserError EC2InternalError EC2AdminError EC2ConnectionProblem EC2ServerError EC2InstancePotentiallyLostError"
    " PreScriptFailed PostScriptFailed SingularityTestFailed JobDurationExceeded JobExecuteExceeded"
    " HookShadowPrepareJobFailure CannotSwitchPrimaryGroup").split()))
VACATE_CODES = {1000 + i: name for i, name in enumerate((
    "JobPolicyVacate SystemPolicyVacate ShadowException JobNotStarted UserVacateJob JobShouldRequeue"
    " FailedToActivateClaim StarterError ReconnectFailed ClaimDeactivated StartdVacateCommand StartdPreemptExpression"
    " StartdException StartdShutdown StartdDraining StartdCoalesce StartdHibernate StartdReleaseCommand"
    " StartdPreemptingClaimRank StartdPreemptingClaimUserPrio VMError ContainerError ScheddVacate JobRemoved"
    " ScratchDirError SuccessfulCheckpoint ActivationRefusedBadRequest ActivationRefusedNoMatch"
    " ActivationRefusedStillCleaning ActivationRefusedWorklifeExpired ActivationRefusedPreempted ActivationRefusedBroken"
    " ActivationRefusedNotIdle ActivationRefusedUnclaimed ActivationRefusedClaimNotFound ActivationRefusedOldClaim"
    " ActivationRefusedUnhealthy StartdRehoming").split())}

# WM_JOB_ERROR_CODES 7000-9000 of
# https://github.com/dmwm/WMCore/blob/f07efb363f113244480beb9eb6aee05b027334d2/src/python/WMCore/WMExceptions.py
WMCORE_CMSRUN_CODES = [7000, 7001, 7002, *range(8001, 8035), 8501, 9000]

PINNED = re.compile(r"^https://github\.com/[^/]+/[^/]+/blob/(?:[0-9a-f]{40}|v[\d.]+)/")


def job(**kw) -> JobFacts:
    return JobFacts(submission_id=1, proc_id=0, cluster_id=7, **{"state": "completed", **kw})


def held(code: int, sub: int = 0, reason: str = "held", **kw) -> JobFacts:
    return job(state="held", hold_reason_code=code, hold_reason_subcode=sub, hold_reason=reason, **kw)


# --- the data against its sources ---------------------------------------------------------------------

def test_every_hold_and_vacate_code_of_the_header_is_there_with_its_name():
    facts = load_facts()
    assert {c: h.name for c, h in facts.hold_codes.items()} == HOLD_CODES
    assert {c: h.name for c, h in facts.vacate_codes.items()} == VACATE_CODES
    assert all(h.reading.explain and h.meaning for h in facts.hold_codes.values())
    assert [c for c, h in facts.hold_codes.items() if not h.in_manual] == [0, 2, 28, 29, 30, 31, 49]


def test_signal_numbers_and_names_are_this_machines():
    facts = load_facts()
    ours = {n: s.name for n, s in facts.signals.items()}
    assert ours == {int(s): s.name for s in signal.Signals if int(s) < 32}
    for words, name in facts.signal_report_names.items():
        if words != "segmentation violation":
            assert signal.strsignal(getattr(signal, name)).lower() == words
    assert facts.signals[9].ambiguous and "does not say which" in facts.signals[9].reading.explain


def test_errno_numbers_names_and_meanings_are_this_machines():
    for number, fact in load_facts().errno.items():
        assert errno.errorcode[number] == fact.name and os.strerror(number) == fact.meaning


def test_job_event_types_are_the_bindings():
    events = load_facts().events
    assert {n: e.name for n, e in events.items()} == {int(e): e.name for e in htcondor2.JobEventType}
    assert load_facts().event_named("JobHeldEvent").number == 12
    assert load_facts().event_named("Job was evicted.").outcome == "evicted"
    assert events[29].my_type == "FutureEvent"  # no case of its own in ULogEvent::toClassAd


def test_dagman_node_status_file_codes():
    facts = load_facts()
    assert [s.name for s in facts.dag_node_status.values()] == [
        "STATUS_NOT_READY", "STATUS_READY", "STATUS_PRERUN", "STATUS_SUBMITTED", "STATUS_POSTRUN", "STATUS_DONE",
        "STATUS_ERROR", "STATUS_FUTILE"]
    assert facts.dag_status[2].name == "DAG_STATUS_NODE_FAILED"
    assert facts.dag_node_return_values[-1001].name == "DAG_ERROR_CONDOR_SUBMIT_FAILED"


def test_wmcore_cmsrun_codes_are_read_with_the_cmssw_table_not_copied():
    tables = load_facts().exit_tables
    assert not [c for c in tables["wmcore"].codes if 7000 <= c <= 9000]
    assert set(WMCORE_CMSRUN_CODES) <= set(tables["cmssw"].codes)


def test_every_source_is_pinned_or_a_manual_page():
    facts = load_facts()
    urls = list(facts.sources.values()) + [t.source for t in facts.exit_tables.values()]
    for url in urls:
        assert url.startswith("https://")
        if url.startswith("https://github.com/"):
            assert PINNED.match(url), url


def test_a_broken_file_is_refused_with_its_name_and_field(tmp_path):
    broken = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, broken)
    path = broken / "signals.yaml"
    path.write_text(path.read_text().replace("action: Term, meaning: Kill signal", "action: Kill, meaning: Kill signal"))
    with pytest.raises(FactsInvalid, match=r"signals\.yaml: signals\.8\.action"):
        load_facts(broken)


# --- from_facts ------------------------------------------------------------------------------------------

def test_hold_codes_keep_their_rules_and_resources():
    v = from_facts(held(34, 102, "Error from slot1_2@wn1: Job has gone over memory limit of 2000 megabytes."))
    assert (v.rule, v.category, v.resource) == ("hold-34", C.INFRASTRUCTURE, "memory")
    assert "retry_request_memory" in v.explain and "HoldReasonCode 34/102: Memory usage exceeded" in v.explain
    assert from_facts(held(34, 0, "Job has gone over its disk limit")).resource == "disk"
    assert from_facts(held(1)).category is C.UNKNOWN and from_facts(held(1)).rule == "hold-1"


def test_a_transfer_hold_is_read_with_its_errno():
    missing = from_facts(held(12, 2))
    assert (missing.rule, missing.category) == ("hold-12", C.CODE) and "errno 2 ENOENT" in missing.explain
    full = from_facts(held(12, 28))
    assert (full.category, full.service, full.retryable, full.resource) == (C.INFRASTRUCTURE, "batch-pool", True, None)
    assert from_facts(held(13, 110)).service == "network"
    assert from_facts(held(13)).category is C.INFRASTRUCTURE  # no subcode: the code's own reading


def test_file_transfer_plugin_subcodes():
    plugin = from_facts(held(13, 3 << 8))
    assert (plugin.category, plugin.service) == (C.SERVICE, "transfer-plugin") and "plug-in exit code 3" in plugin.explain
    assert from_facts(held(13, -1001)).service == "worker-node"
    assert "ETIME" in from_facts(held(12, 62)).explain


def test_an_errno_the_table_lacks_is_still_named_by_the_c_library():
    v = from_facts(held(6, errno.ELOOP))
    assert v.category is C.CODE and f"errno {errno.ELOOP} ELOOP" in v.explain


def test_a_startup_failure_for_lack_of_memory_is_the_nodes():
    assert from_facts(held(6, errno.ENOMEM)).category is C.INFRASTRUCTURE


def test_signals_keep_their_rules():
    assert from_facts(job(exit_by_signal=True, exit_signal=11)).rule == "signal-11"
    sigkill = from_facts(job(exit_code=137))
    assert (sigkill.rule, sigkill.category) == ("signal-9", C.INFRASTRUCTURE) and "128 + signal 9" in sigkill.explain
    oom = from_facts(job(exit_by_signal=True, exit_signal=9, memory_usage_mb=4000, request_memory_mb=4000))
    assert (oom.rule, oom.resource) == ("signal-9-memory", "memory")
    assert from_facts(job(exit_by_signal=True, exit_signal=10)) is None  # SIGUSR1 says nothing


def test_art_exit_codes_for_art_experiments_only():
    v = from_facts(job(exit_code=20, experiment="icarus"))
    assert (v.rule, v.category, v.service, v.retryable) == ("exit-art-20", C.SERVICE, "storage", True)
    assert "FileOpenError" in v.explain
    assert from_facts(job(exit_code=9, experiment="nova")).category is C.CODE
    assert from_facts(job(exit_code=90, experiment="dune")).rule == "exit-art-90"
    assert from_facts(job(exit_code=20, experiment="demo")) is None
    for code in (1, 2, 3, 65, 66, 67):  # art's catch-all codes say nothing: "exited with code N"
        assert from_facts(job(exit_code=code, experiment="nova")) is None


def test_cms_exit_codes_and_wrapper_ranges_for_any_experiment():
    v = from_facts(job(exit_code=84, experiment="cms"))
    assert (v.rule, v.category, v.service) == ("exit-wmcore-84", C.SERVICE, "storage")
    assert from_facts(job(exit_code=147, experiment="cms")).rule == "exit-wmcore-147"  # the wrapper's, not 128+19
    assert from_facts(job(exit_code=137, experiment="cms")).rule == "signal-9"
    assert from_facts(job(exit_code=8028, experiment="")).service == "storage"
    assert from_facts(job(exit_code=8004, experiment="")).resource == "memory"
    pss = from_facts(job(exit_code=50660, experiment="nova"))
    assert (pss.category, pss.resource, pss.retryable) == (C.INFRASTRUCTURE, "memory", True)
    assert from_facts(job(exit_code=60322, experiment="cms")).retryable is False
    assert from_facts(job(exit_code=99999, experiment="cms")) is None
    assert [t.name for t in exit_tables_for("cms", 8020)] == ["wmcore", "cmssw"]
    assert [t.name for t in exit_tables_for("nova", 8020)] == ["art", "cmssw", "wmcore"]


def test_shell_conventions():
    assert from_facts(job(exit_code=127)).rule == "exit-shell-127"
    assert from_facts(job(exit_code=126)).category is C.CODE
    assert from_facts(job(exit_code=2)) is None and from_facts(job(exit_code=0)) is None


def test_report_names_of_signals():
    assert signal_by_report_name("segmentation violation").name == "SIGSEGV"
    assert signal_by_report_name("Segmentation fault").number == 11
    assert signal_by_report_name("SIGBUS").number == 7
    assert signal_by_report_name("fatal signal") is None


def test_fallback_is_unchanged():
    assert fallback(job(exit_code=3)).explain == "The job exited with code 3; no known error in its logs."
    assert "held (HoldReasonCode 99/0)" in fallback(held(99)).explain
