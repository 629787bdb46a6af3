"""Geant4 G4Exception reports, on lines copied from public issues and notes (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, categorize, geant4, parse_all

# https://github.com/Geant4/geant4/pull/38 (description)
EVENT_ABORTED = """\
-------- EEEE ------- G4Exception-START -------- EEEE -------
*** G4Exception : GeomRegNav1004
      issued by : G4RegularNavigation::ComputeStepSkippingEqualMaterials()
G4RegularNavigation::ComputeStepSkippingEqualMaterials()Stuck Track: potential geometry or navigation problem.
        Track stuck, not moving for 25 steps
- at point (0.136942,-0.11583,-4.28004)
        local direction: (-0.478457,-0.719124,-0.503924)

*** Event Must Be Aborted ***
G4Track (0x7fdea7db9960) - track ID = 1, parent ID = 0
 Particle type : gamma - creator process : not available
 Kinetic energy : 100 keV - Momentum direction : (-0,-0,1)
 Step length : 3.42088 mm  - total energy deposit : 0 eV 
 Pre-step point : (-0.0696549,0.234524,-4.54232) - Physical volume : Target (tm2)
 - defined by : Transportation - step status : 1
 Post-step point : (-0.0696549,0.234524,-4.54232) - Physical volume : Target (tm2)
 - defined by : compt - step status : 7
 *** Note: Step information might not be properly updated.

-------- EEEE -------- G4Exception-END --------- EEEE -------
""".splitlines()

# https://github.com/cms-sw/cmssw/issues/47223 (description; trimmed after "Event aborted.")
STUCK_TRACK = """\
%MSG-w SimG4CoreApplication:  (NoModuleName) 29-Jan-2025 22:20:36 UTC pre-events

-------- EEEE ------- G4Exception-START -------- EEEE -------
*** G4Exception : GeomNav0003
      issued by : G4Navigator::ComputeStep()
Stuck Track: potential geometry or navigation problem.
  Track stuck, not moving for 25 steps.
  Current  phys volume: 'tob:TOBRadServices6_6'
   - at position : (782.8922723338304,845.9646902571437,-1131.000000994178)
     in direction: (0.5216341708152286,0.537228850456787,-0.6627842439850153)
    (local position: (-782.8922723338304,845.9646902571438,-3.499999005822247))
    (local direction: (-0.5216341708152283,0.5372288504567871,0.6627842439850152)).
  Previous phys volume: 'tob:TOBSideDisk_2'

  Likely geometry overlap - else navigation problem !
 Track *abandoned* due to excessive number of Zero steps. Event aborted.""".splitlines()

# https://github.com/eic/epic/issues/629 (description; the banner and the code on one line as published; trimmed)
WARNING_ONE_LINE = """\
-------- WWWW ------- G4Exception-START -------- WWWW -------*** G4Exception : GeomNav1002     
      issued by : G4Navigator::ComputeStep()
Stuck Track: potential geometry or navigation problem.
  Track stuck, not moving for 10 steps.
  Current  phys volume: 'DRICH_15'""".splitlines()

# https://github.com/LArSoft/larsoft.github.io/blob/1ae249776b99c115022528be92b26dc3f1eebadc/LArSoftWiki/releases/ReleaseNotes093500.md (lines 75-86)
NO_HANDLER_WARNING = """\
            Volume volTPCActive has the following list of auxiliary information: 
            --> Type: SensDet Value: SimEnergyDeposit

            -------- WWWW ------- G4Exception-START -------- WWWW -------

            *** ExceptionHandler is not defined ***
            *** G4Exception : DET1010
                  issued by : G4SDStructure::AddNewDetector()
            volTPCActive_SimEnergyDeposit had already been stored in /. Object pointer is overwitten.
            It's users' responsibility to delete the old sensitive detector object.
            *** This is just a warning message. ***
            -------- WWWW ------- G4Exception-END -------- WWWW -------""".splitlines()


def test_code_issuer_description_severity_and_track_information():
    [err] = geant4.parse(EVENT_ABORTED)
    assert err.framework is Framework.GEANT4
    assert err.categories == ("G4Exception", "GeomRegNav1004") and err.code == "GeomRegNav1004"
    assert err.module == "G4RegularNavigation::ComputeStepSkippingEqualMaterials()"
    assert err.severity == "EventMustBeAborted" and (err.start, err.end) == (0, 19)
    assert err.cause_line == 3 and err.cause.endswith("Stuck Track: potential geometry or navigation problem.")
    assert err.message[1] == "Track stuck, not moving for 25 steps"
    assert err.details[0].startswith("G4Track (0x7fdea7db9960)") and len(err.details) == 9
    assert categorize(err).key == "GeomRegNav1004"


def test_a_report_without_its_end():
    [err] = geant4.parse(STUCK_TRACK)
    assert err.code == "GeomNav0003" and err.start == 2 and err.end == len(STUCK_TRACK) - 1
    assert err.severity is None and err.cause == "Stuck Track: potential geometry or navigation problem."
    rule = categorize(err)
    assert (rule.table, rule.key, rule.category.value) == ("geant4_codes", "GeomNav0003", "code")


def test_a_warning_with_the_code_on_the_banner_line_comes_last():
    [err] = geant4.parse(WARNING_ONE_LINE)
    assert err.code == "GeomNav1002" and err.severity == "JustWarning" and err.is_warning
    assert err.module == "G4Navigator::ComputeStep()"
    ordered = parse_all(WARNING_ONE_LINE + STUCK_TRACK)
    assert [e.code for e in ordered] == ["GeomNav0003", "GeomNav1002"]


def test_without_a_handler():
    [err] = geant4.parse(NO_HANDLER_WARNING)
    assert err.code == "DET1010" and err.module == "G4SDStructure::AddNewDetector()"
    assert err.severity == "JustWarning" and err.start == 3 and err.end == 11
    assert err.cause.startswith("volTPCActive_SimEnergyDeposit had already been stored")
    assert "*** ExceptionHandler is not defined ***" not in err.message


def test_thread_prefixes_are_removed():
    prefixed = ["G4WT3 > " + line for line in EVENT_ABORTED]
    [err] = geant4.parse(prefixed)
    assert err.code == "GeomRegNav1004" and err.severity == "EventMustBeAborted" and err.end == 19
