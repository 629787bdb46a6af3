"""Knowledge by structure, not by one case's words: each rule on real lines of train cases of the
real corpus (copied from the case named), and the rules of others it must not take over."""

from __future__ import annotations

import pytest

from prodops.constants import Category
from prodops.triage.classify import Classifier
from prodops.triage.corpus import TRAIN, case_input, load_cases
from prodops.triage.facts import from_facts
from prodops.triage.parsers import Framework, categorize, parse_all
from prodops.triage.patterns import Library
from prodops.triage.plugins import PluginRunner
from prodops.triage.scorer import ScoredLine, category_words, guess
from prodops.triage.verdict import JobFacts

CASES = {c.id: c for c in load_cases()}


def _guess(*lines: str) -> str | None:
    hint = guess([ScoredLine("stdout", i, text, 5.0) for i, text in enumerate(lines)])
    return None if hint is None else hint.category


def test_the_cases_these_rules_were_written_from_are_train_cases():
    for case_id in ("geant4-hadronic-nomodel-1", "geant4-cmssw-physicslist-dtor-segv-1", "geant4-ldmx-auxinfo-segv-1",
                    "geant4-gdml-undeclared-1", "geant4-dd4hep-material-missing-1", "cmssw-frontier-network-outage-1",
                    "htcondor-pool-cpu-overuse-hold-1"):
        assert CASES[case_id].split == TRAIN


# --- a Geant4 exception of a code no table names: the issuing Geant4 class says it is the simulation's

HADRONIC = """13: -------- EEEE ------- G4Exception-START -------- EEEE -------
13: *** G4Exception : had005
13:       issued by : G4HadronicProcess::PostStepDoIt
13: In /data/ilcsoft/geant4/10.03.p02/source/processes/hadronic/management/src/G4EnergyRangeManager.cc, line 129: 
13: ===> GetHadronicInteraction: No Model found
13: Target element HYDROGEN  Z= 1  A= 1
13: Unrecoverable error in the method ChooseHadronicInteraction of pi-Inelastic""".splitlines()  # noqa: W291


def test_a_geant4_exception_of_an_unnamed_code_issued_by_a_geant4_class_is_code():
    (err,) = [e for e in parse_all(HADRONIC) if e.framework is Framework.GEANT4]
    assert (err.code, err.module) == ("had005", "G4HadronicProcess::PostStepDoIt")
    rule = categorize(err)
    assert rule is not None and rule.category is Category.CODE and rule.key == "G4" and rule.confidence < 0.6


def test_a_named_data_set_code_still_outranks_the_issuer_fallback():
    lines = ["-------- EEEE ------- G4Exception-START -------- EEEE -------", "*** G4Exception : PART70000",
             "      issued by : G4NuclideTable", "G4ENSDFSTATEDATA environment variable must be set",
             "-------- EEEE -------- G4Exception-END --------- EEEE -------"]
    (err,) = [e for e in parse_all(lines) if e.framework is Framework.GEANT4]
    rule = categorize(err)
    assert rule is not None and rule.category is Category.INFRASTRUCTURE and rule.key == "PART70000"


# --- the guess: a native crash frame, a detector description's words

def test_a_native_crash_frame_is_code_whatever_the_path_of_its_library():
    frame = ("#5  0x0000100839026c28 in G4VModularPhysicsList::~G4VModularPhysicsList() () from /cvmfs/cms-ib.cern.ch"
             "/week1/slc7_ppc64le_gcc9/cms/cmssw/CMSSW_12_0_X_2021-06-27-0000/biglib/slc7_ppc64le_gcc9/pluginSimulation.so")
    assert set(category_words(frame)) == {"code"}
    assert _guess(frame) == "code"
    ldmx = (" 0x00007f2c71cbb4d1 in ldmx::AuxInfoReader::createSensitiveDetector(G4String, std::vector<G4GDMLAuxStructType,"
            " std::allocator<G4GDMLAuxStructType> > const*) + 0x1511 from /usr/local/lib/libSimCore.so")
    assert _guess(ldmx) == "code"


def test_a_cvmfs_path_outside_a_frame_still_speaks_of_the_node():
    line = "ls: cannot access '/cvmfs/nova.opensciencegrid.org/setup': Transport endpoint is not connected"
    assert "infrastructure" in category_words(line)


@pytest.mark.parametrize("line", [
    "ID attribute 'G4_A-150_TISSUE' was referenced but never declared",
    "Compact          ERROR ++ FAILED    to convert subdetector: Beampipe_STL: Cannot find a material referenced by"
    " name:DefaultMaterial",
])
def test_a_detector_description_error_is_guessed_code(line):
    assert _guess(line) == "code"


# --- a framework report whose category does not decide: the guess reads its innermost message

NETWORK_OUTAGE = CASES["cmssw-frontier-network-outage-1"].stdout.splitlines()


def _structure_only() -> Classifier:
    return Classifier(Library(()), PluginRunner([]))


def test_the_guess_reads_the_reports_innermost_message_not_its_header():
    case = CASES["cmssw-frontier-network-outage-1"]
    facts, tail = case_input(case)
    (verdict,) = _structure_only().classify([(facts, tail)])  # no pattern: the frontier rule cannot decide it
    assert (verdict.category, verdict.rule) == (Category.SERVICE, "guess:service")
    assert verdict.evidence[0]["text"].startswith('Connection on "frontier://')
    header = next(line for line in NETWORK_OUTAGE if "Begin Fatal Exception" in line)
    assert _guess(header) == "code"  # what the header alone said before: the exception's words


# --- a hold by the pool's periodic policy

def test_a_system_periodic_hold_is_the_pools_limit():
    reason = ("The CPU usage 1.251414899815616E+00 exceeds the requested 1 CPUs. Please, check your workflow"
              " cpu/core requirements.")
    facts = JobFacts(submission_id=1, proc_id=0, cluster_id=1, state="held", hold_reason=reason,
                     hold_reason_code=26, hold_reason_subcode=120)
    verdict = from_facts(facts)
    assert verdict is not None and verdict.category is Category.INFRASTRUCTURE and not verdict.retryable
    (classified,) = _structure_only().classify([case_input(CASES["htcondor-pool-cpu-overuse-hold-1"])])
    assert (classified.category, classified.rule) == (Category.INFRASTRUCTURE, "hold-26")


def test_a_frame_with_its_address_masked_is_still_a_frame():
    case = CASES["python-lhcb-calohypo-unpack-segv-1"]
    assert case.split == TRAIN
    frame = case.stdout.splitlines()[0]
    assert frame.startswith("#6  0xXXXXXXXXXXXXXXXXXX in LHCb::CaloHypoPacker::unpack(")
    assert set(category_words(frame)) == {"code"}
    (verdict,) = _structure_only().classify([case_input(case)])
    assert verdict.category is Category.CODE and verdict.evidence[0]["text"] == frame


def test_an_event_loops_slot_is_not_a_batch_slot():
    gaudi = "HLTControlFlowMgr                     FATAL Event 35132 on slot 0 failed!"  # python-lhcb-tistos-candidates-missing-1
    assert "infrastructure" not in category_words(gaudi)
    held = ("Error from slot1_5@glidein_4552_865146779@cn-610-06-11.cr.cnaf.infn.it: Singularity test failed:FATAL:"
            "   While checking container encryption")  # the start of pegasus-dagman-singularity-image-tag-empty-1's reason
    assert "slot1_5@" in category_words(held)["infrastructure"][1]


# --- DIRAC's message-first exception dump: the message line is the cause, the guess reads it

@pytest.mark.parametrize("case_id, category", [
    ("dirac-inputdata-resolution-typeerror-1", Category.CODE),
    ("dirac-sandbox-no-match-1", Category.SERVICE),
])
def test_a_dirac_exception_dump_gives_its_message_as_the_cause(case_id, category):
    case = CASES[case_id]
    assert case.split == TRAIN
    lines = case.stdout.splitlines()
    (err,) = [e for e in parse_all(lines) if e.framework is Framework.PYTHON]
    assert lines[err.start].strip() == "== EXCEPTION ==" and err.cause_line == err.start + 1
    assert err.cause.startswith(":") and err.module is not None and err.module.startswith("/tmp/")
    (verdict,) = _structure_only().classify([case_input(case)])
    assert verdict.category is category and verdict.is_guess
    assert case.label["cause_line"] in verdict.evidence[0]["text"]


def test_a_dump_header_without_its_message_and_frame_is_no_report():
    assert [e for e in parse_all(["== EXCEPTION ==", "nothing follows"]) if e.framework is Framework.PYTHON] == []
