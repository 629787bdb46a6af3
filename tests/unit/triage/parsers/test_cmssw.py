"""CMSSW ``An exception of category 'X' occurred`` reports, on lines copied from public issues (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, categorize, cmssw, parse_all

# https://github.com/cms-sw/cmssw/pull/32915 (comment of 2021-02-15; trimmed after Additional Info [b])
FILE_OPEN = """\
----- Begin Fatal Exception 15-Feb-2021 13:15:41 CET-----------------------
An exception of category 'FileOpenError' occurred while
   [0] Constructing the EventProcessor
   [1] Constructing input source of type PoolSource
   [2] Calling RootInputFileSequence::initTheFile()
   [3] Calling StorageFactory::open()
   [4] Calling XrdFile::open()
Exception Message:
Failed to open the file 'root://cms-xrd-global.cern.ch//store/data/Run2012D/SingleMu/RAW-RECO/ZMu-15Apr2014-v1/00000/007A3BD1-02CD-E311-853B-002590D0AFC8.root'
   Additional Info:
      [a] Calling RootInputFileSequence::initTheFile(): fail to open the file with name root://eoscms.cern.ch//eos/cms/store/user/cmsbuild/store/data/Run2012D/SingleMu/RAW-RECO/ZMu-15Apr2014-v1/00000/007A3BD1-02CD-E311-853B-002590D0AFC8.root
      [b] Input file root://cms-xrd-global.cern.ch//store/data/Run2012D/SingleMu/RAW-RECO/ZMu-15Apr2014-v1/00000/007A3BD1-02CD-E311-853B-002590D0AFC8.root could not be opened.""".splitlines()

# https://github.com/cms-sw/cmssw/pull/48211 (comment by salimcerci; trimmed after Additional Info [b])
FALLBACK = """\
%MSG
10-Jun-2025 10:31:26 CEST  Closed file file:step1.root
----- Begin Fatal Exception 10-Jun-2025 10:31:26 CEST-----------------------
An exception of category 'FallbackFileOpenError' occurred while
   [0] Constructing the EventProcessor
   [1] Constructing module: class=PreMixingModule label='mixData'
   [2] Calling RootInputFileSequence::initTheFile()
   [3] Calling StorageFactory::open()
   [4] Calling XrdFile::open()
Exception Message:
Failed to open the file 'root://xrootd-cms.infn.it//store/relval/CMSSW_11_2_0_pre8/RelValPREMIXUP18_PU25/PREMIX/PU_112X_upgrade2018_realistic_v4-v1/00000/38d399b2-eb39-4e42-aaa5-f66f58780c8d.root'
   Additional Info:
      [a] Calling RootInputFileSequence::initTheFile(): fail to open the file with name root://eoscms.cern.ch//eos/cms/store/relval/CMSSW_11_2_0_pre8/RelValPREMIXUP18_PU25/PREMIX/PU_112X_upgrade2018_realistic_v4-v1/00000/38d399b2-eb39-4e42-aaa5-f66f58780c8d.root
      [b] Input file root://xrootd-cms.infn.it//store/relval/CMSSW_11_2_0_pre8/RelValPREMIXUP18_PU25/PREMIX/PU_112X_upgrade2018_realistic_v4-v1/00000/38d399b2-eb39-4e42-aaa5-f66f58780c8d.root could not be opened.""".splitlines()

# https://github.com/cms-sw/cmssw/issues/37373 (description; indentation lost as published; trimmed at "- at position")
G4_INSIDE = """\
-------- EEEE -------- G4Exception-END --------- EEEE -------

Fatal Exception (Exit code: 8016)
An exception of category 'EventCorruption' occurred while
[0] Processing Event run: 1 lumi: 180 event: 129350 stream: 3
[1] Running path 'RAWSIMoutput_step'
[2] Prefetching for module PoolOutputModule/'RAWSIMoutput'
[3] Calling method for module OscarMTProducer/'g4SimHits'
Exception Message:
SimG4CoreApplication exception in generation of event run: 1 lumi: 180 event: 129350 in stream 3

-------- EEEE ------- G4Exception-START -------- EEEE -------
*** G4Exception : GeomNav0003
issued by : G4Navigator::ComputeStep()
Stuck Track: potential geometry or navigation problem.
Track stuck, not moving for 25 steps.
Current phys volume: 'esalgo:SFFA_1'
- at position : (-6.979772838622108,330.9460160994352,-2991.913840829375)""".splitlines()


def test_context_message_and_additional_info():
    [err] = cmssw.parse(FILE_OPEN)
    assert err.framework is Framework.CMSSW and err.categories == ("FileOpenError",)
    assert (err.start, err.end) == (0, 11)
    assert err.cause_line == 8 and err.cause.startswith("Failed to open the file 'root://cms-xrd-global.cern.ch//store/data")
    assert err.module == "PoolSource"
    assert err.details[0] == "[0] Constructing the EventProcessor"
    assert err.details[-1].startswith("[b] Input file root://cms-xrd-global.cern.ch")
    rule = categorize(err)
    assert (rule.table, rule.category.value, rule.service, rule.retryable) == ("cmssw", "service", "storage", True)


def test_module_of_the_innermost_context_line():
    [err] = cmssw.parse(FALLBACK)
    assert err.categories == ("FallbackFileOpenError",) and err.start == 2
    assert err.module == "PreMixingModule/'mixData'"
    assert categorize(err).key == "FallbackFileOpenError"


def test_exit_code_line_and_a_geant4_exception_in_the_message():
    [err] = cmssw.parse(G4_INSIDE)
    assert err.categories == ("EventCorruption",) and err.exit_status == 8016
    assert err.start == 2 and err.module == "OscarMTProducer/'g4SimHits'"
    assert err.cause == "SimG4CoreApplication exception in generation of event run: 1 lumi: 180 event: 129350 in stream 3"
    assert err.end == 9  # the excerpt lacks the End line: the message ends at the blank line
    first, second = parse_all(G4_INSIDE)
    assert first.framework is Framework.GEANT4 and first.code == "GeomNav0003"
    assert first.module == "G4Navigator::ComputeStep()"
    assert first.cause == "Stuck Track: potential geometry or navigation problem."
    assert second is not None and second.framework is Framework.CMSSW
    assert categorize(first).key == "GeomNav0003"


def test_a_report_in_its_begin_and_end_lines_holds_what_is_printed_inside():
    closed = G4_INSIDE + ["", "----- End Fatal Exception -------------------------------------------------"]
    first, second = parse_all(closed)
    assert first.framework is Framework.GEANT4 and first.nested
    assert second.framework is Framework.CMSSW and second.end == len(closed) - 1


def test_a_prefix_on_every_line_is_removed():
    prefixed = [">> cmd: " + line for line in FILE_OPEN]
    [err] = cmssw.parse(prefixed)
    assert err.cause_line == 8 and err.module == "PoolSource" and len(err.details) == 7
