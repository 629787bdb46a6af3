"""Geant4 exception codes added to include/triage/framework_categories.yaml (geant4.codes).

Each report is G4ExceptionHandler::Notify's format (source/run/src/G4ExceptionHandler.cc: the
banner, ``*** G4Exception : <code>``, ``      issued by : <issuer>``, the description, the
severity line, the end banner) around the issuer, code and message of a G4Exception call in the
Geant4 11.4.0 sources (file beside each); paths and names filled in are ours.
"""

from __future__ import annotations

import pytest

from prodops.constants import Category
from prodops.triage.parsers import Framework, categorize, load_categories, parse_all
from tests.unit.triage.families import classify_stderr

G4 = "https://github.com/Geant4/geant4/blob/b4a16de652ec244f7a0ecc0a5cacfee21930bf75/source/"


def report(code: str, issuer: str, message: list[str], severity: str = "*** Fatal Exception *** core dump ***") -> list[str]:
    """A G4Exception report as G4ExceptionHandler::Notify writes it to G4cerr."""
    return ["", "-------- EEEE ------- G4Exception-START -------- EEEE -------",
            f"*** G4Exception : {code}", f"      issued by : {issuer}", *message, "", severity, "",
            "-------- EEEE -------- G4Exception-END --------- EEEE -------", ""]


# (code, issuer, message lines, category, retryable, source file)
REPORTS = [
    ("em0006", "G4VCrossSectionHandler::LoadData", ["G4LEDATA environment variable not set"],
     Category.INFRASTRUCTURE, True, "processes/electromagnetic/lowenergy/src/G4VCrossSectionHandler.cc"),
    ("em0003", "G4VCrossSectionHandler::LoadData",
     ["data file: /cvmfs/geant4.cern.ch/share/data/G4EMLOW8.6.1/phot/pe-cs-13.dat not found"],
     Category.INFRASTRUCTURE, True, "processes/electromagnetic/lowenergy/src/G4VCrossSectionHandler.cc"),
    ("em0003", "G4LivermorePhotoElectricModel::ReadData()",
     ["G4LivermorePhotoElectricModel data file </data/G4EMLOW/livermore/phot_epics2014/pe-cs-13.dat> is not opened!",
      "G4LEDATA version should be G4EMLOW8.0 or later."],
     Category.INFRASTRUCTURE, True, "processes/electromagnetic/lowenergy/src/G4LivermorePhotoElectricModel.cc"),
    ("PART70000", "G4NuclideTable", ["G4ENSDFSTATEDATA environment variable must be set"],
     Category.INFRASTRUCTURE, True, "particles/management/src/G4NuclideTable.cc"),
    ("PART70001", "G4NuclideTable", ["ENSDFSTATE.dat is not found."],
     Category.INFRASTRUCTURE, True, "particles/management/src/G4NuclideTable.cc"),
    ("HAD_RDM_200", "G4VRadioactiveDecay()", ["Environment variable G4RADIOACTIVEDATA is not set"],
     Category.INFRASTRUCTURE, True, "processes/hadronic/models/radioactive_decay/src/G4VRadioactiveDecay.cc"),
    ("HAD_RDM_201", "G4VRadioactiveDecay()",
     ["Environment variable G4RADIOACTIVEDATA is set, but does not point to correct directory"],
     Category.INFRASTRUCTURE, True, "processes/hadronic/models/radioactive_decay/src/G4VRadioactiveDecay.cc"),
    ("hadhp01", "G4ParticleHPManager::G4ParticleHPManager()", ["G4NEUTRONXSDATA is not defined - check path"],
     Category.INFRASTRUCTURE, True, "processes/hadronic/models/particle_hp/src/G4ParticleHPManager.cc"),
    ("had014", "G4GammaNuclearXS::RetrieveVector(..)",
     ["Data file </data/G4PARTICLEXS4.1/gamma/inel13> is not opened!", "Check G4PARTICLEXSDATA"],
     Category.INFRASTRUCTURE, True, "processes/hadronic/cross_sections/src/G4GammaNuclearXS.cc"),
    ("GeomSolids0002", "G4Box::G4Box()", ["Dimensions too small for Solid: Shield!", "     hX, hY, hZ = 0, 10, 10"],
     Category.CODE, False, "geometry/solids/CSG/src/G4Box.cc"),
    ("GeomVol0002", "G4PVReplica::G4PVReplica()", ["Cannot place a volume inside itself!"],
     Category.CODE, False, "geometry/volumes/src/G4PVReplica.cc"),
    ("mat031", "G4Material::AddElementByNumberOfAtoms()",
     ["For material Scint and added element H with Natoms=8 wrong attempt to add more than the declared number of elements 2 >= 2"],
     Category.CODE, False, "materials/src/G4Material.cc"),
    ("mat103", "G4NistMaterialBuilder::BuildMaterial()", ["Failed to construct material"],
     Category.CODE, False, "materials/src/G4NistMaterialBuilder.cc"),
    ("Run0031", "G4RunManager::G4RunManager()", ["G4RunManager constructed twice."],
     Category.CODE, False, "run/src/G4RunManager.cc"),
    ("Run0032", "G4RunManager::GenerateEvent()", ["G4VUserPrimaryGeneratorAction is not defined!"],
     Category.CODE, False, "run/src/G4RunManager.cc"),
    ("Run0033", "G4RunManager::InitializeGeometry", ["G4VUserDetectorConstruction is not defined!"],
     Category.CODE, False, "run/src/G4RunManager.cc"),
    ("Run0034", "G4RunManager::InitializePhysics()", ["G4VUserPhysicsList is not defined!"],
     Category.CODE, False, "run/src/G4RunManager.cc"),
    ("Tracking0010", "G4SteppingManager::SetInitialStep()", ["Primary vertex outside of the world!"],
     Category.CODE, False, "tracking/src/G4SteppingManager.cc"),
    ("InvalidRead", "G4GDMLRead::Read()", ["Unable to open document: detector.gdml"],
     Category.CODE, False, "persistency/gdml/src/G4GDMLRead.cc"),
    ("ReadError", "G4GDMLReadDefine::getQuantity()", ["Quantity 'wallThickness' was not found!"],
     Category.CODE, False, "persistency/gdml/src/G4GDMLReadDefine.cc"),
]
IDS = [f"{r[0]}-{i}" for i, r in enumerate(REPORTS)]


@pytest.mark.parametrize("code, issuer, message, category, retryable, source", REPORTS, ids=IDS)
def test_the_code_of_a_fatal_report_decides(code, issuer, message, category, retryable, source):
    [err] = parse_all(report(code, issuer, message))
    assert (err.framework, err.code, err.module, err.severity) == (Framework.GEANT4, code, issuer, "FatalException")
    rule = categorize(err)
    assert rule is not None and rule.table == "geant4_codes", G4 + source
    assert (rule.category, rule.retryable) == (category, retryable)


def test_every_code_added_cites_the_geant4_file_it_is_issued_in():
    table = load_categories()
    for code, issuer, _, _, _, source in REPORTS:
        if issuer == "G4LivermorePhotoElectricModel::ReadData()":
            continue  # em0003 cites G4VCrossSectionHandler.cc, its first issuer
        assert table.lookup("geant4_codes", code).source == G4 + source, code


def classify(stderr: list[str]):
    return classify_stderr(stderr, experiment="sbnd", exit_code=134)


def test_a_data_set_missing_on_the_node_is_infrastructure_with_the_message_as_evidence():
    verdict = classify(report("em0006", "G4VCrossSectionHandler::LoadData", ["G4LEDATA environment variable not set"])
                       + ["Aborted (core dumped)"])
    assert (verdict.category, verdict.service, verdict.retryable) == (Category.INFRASTRUCTURE, "cvmfs", True)
    assert any("G4LEDATA environment variable not set" in (e.get("text") or "") for e in verdict.evidence)


def test_a_geometry_construction_error_is_the_job_s_code():
    verdict = classify(report("GeomVol0002", "G4PVReplica::G4PVReplica()", ["Cannot place a volume inside itself!"]))
    assert (verdict.category, verdict.retryable) == (Category.CODE, False)


def test_a_warning_with_a_listed_code_does_not_outrank_the_fatal_report_after_it():
    # G4ParticleHPNames issues hadhp01 as JustWarning; the fatal GeomSolids0002 after it decides
    warning = ["", "-------- WWWW ------- G4Exception-START -------- WWWW -------", "*** G4Exception : hadhp01",
               "      issued by : G4ParticleHPName::Init(...)", "synthetic warning text", "",
               "*** This is just a warning message. ***", "-------- WWWW -------- G4Exception-END --------- WWWW -------"]
    verdict = classify(warning + report("GeomSolids0002", "G4Box::G4Box()", ["Dimensions too small for Solid: Shield!"]))
    assert verdict.category is Category.CODE
