"""art / LArSoft ``---- Category BEGIN`` ... ``END`` reports, on lines copied from public logs (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, art, categorize, parse_all

# https://github.com/SBNSoftware/SBNSoftware.github.io/blob/000d205674199e2837b1e56bad73ec0b2a453851/icaruscode_wiki/Sharing_code_between_SBND_and_ICARUS.md (lines 117-135)
TPCGEO = """\
    %MSG-s ArtException:  PostEndJob 12-Nov-2019 09:23:26 CST ModuleEndJob
    cet::exception caught in art
    ---- OtherArt BEGIN
      ---- EventProcessorFailure BEGIN
        EventProcessor: an exception occurred during current event processing
        ---- ScheduleExecutionFailure BEGIN
          Path: ProcessingStopped.
          ---- OtherArt BEGIN
            ---- TPCGeo BEGIN
              TPCGeo[0x5ed6970]::Plane(): no plane for view #2
              cet::exception going through module 
            ---- TPCGeo END
          ---- OtherArt END
          Exception going through path reco
        ---- ScheduleExecutionFailure END
      ---- EventProcessorFailure END
    ---- OtherArt END
    %MSG
    Art has completed and will exit with status 1.""".splitlines()

# https://github.com/LArSoft/larsoft/issues/19 (a grid job's stdout, blank lines as published)
AUTH_FAILED = """\
%MSG-s ArtException:  PostEndJob 14-Jan-2022 00:29:43 UTC ModuleEndJob

---- FileOpenError BEGIN

  ---- FatalRootError BEGIN

    Fatal Root Error: TNetXNGFile::Open

    [FATAL] Auth failed

    ROOT severity: 3000

  ---- FatalRootError END

  

  RootInputFileSequence::initFile(): Input file root://fndca1.fnal.gov:1096/pnfs/fnal.gov/usr/dune/tape_backed/dunepro/protodune-sp/full-reconstructed/2021/mc/out1/PDSPProd4a/21/63/45/31/PDSPProd4a_protoDUNE_sp_reco_stage1_p1GeV_35ms_sce_datadriven_21634531_0_20210708T230336Z.root was not found or could not be opened.

---- FileOpenError END

%MSG""".splitlines()

# https://github.com/SBNSoftware/SBNSoftware.github.io/blob/000d205674199e2837b1e56bad73ec0b2a453851/sbn_online_wiki/DQMExpertGuide.md (lines 233-242)
DQM_INIT = """\
%MSG-s ArtException: TriggerResultInserter:TriggerResults@Construction 20-May-2025 02:18:16 CDT ModuleConstruction
cet::exception caught in art
---- Configuration BEGIN
FailedInputSource Configuration of main input source has failed
---- TransferWrapper BEGIN
First 5 events received did not include the "Init" event containing necessary info for art; exiting...
---- TransferWrapper END
---- Configuration END
%MSG
Art has completed and will exit with status 9.""".splitlines()

# https://github.com/SBNSoftware/SBNSoftware.github.io/blob/000d205674199e2837b1e56bad73ec0b2a453851/icaruscode_wiki/Detector_geometry.md
# (lines 209-213 and 266-276; the 52 lines of geometry configuration between them trimmed)
GEOMETRY_THEN_ROOT = """\
    %MSG-s ArtException:  PostEndJob 01-Jun-2021 20:59:45 CDT ModuleEndJob
    ---- EventProcessorFailure BEGIN
      EventProcessor: an exception occurred during current event processing
      ---- Geometry BEGIN
        Geometry used for run run: 5729 is incompatible with the one configured in the job!
        service_type: "Geometry"
        --------------------------------------------------------------------------------
        ========================================================================
      ---- Geometry END
    ---- EventProcessorFailure END
    ---- FatalRootError BEGIN
      Fatal Root Error: TTree::SetEntries
      Tree branches have different numbers of entries, eg art::TriggerResults_TriggerResults__Trigger. has 0 entries while EventAuxiliary has 50 entries.
      ROOT severity: 2000
    ---- FatalRootError END
    %MSG""".splitlines()

# https://github.com/LArSoft/larsoft.github.io/blob/1ae249776b99c115022528be92b26dc3f1eebadc/LArSoftWiki/Update_to_art_v3_02.md (lines 278-284)
CANT_FIND_KEY = """\
    %MSG-s ArtException:  ClusterCrawler:cccluster@Construction 17-Apr-2019 
    18:47:13 CDT ModuleConstruction
    cet::exception caught in art
    ---- Can't find key BEGIN
       CalDataModuleLabel
    ---- Can't find key END
    %MSG""".splitlines()

# https://github.com/LArSoft/larsoft.github.io/blob/1ae249776b99c115022528be92b26dc3f1eebadc/LArSoftWiki/Update_to_art_v3_02.md (lines 193-202)
TYPE_MISMATCH = """\
    Running 1 test case...
    unknown location(0): fatal error: in "SimpleStatusTest": cet::coded_exception<fhicl::error,
     &amp;fhicl::detail::translate[abi:cxx11]>: ---- Type mismatch BEGIN

      Unsuccessful attempt to convert FHiCL parameter 'BadChannels' to type 'std::vector<unsigned int, std::allocator<unsigned int> >'.

      [Specific error:]
      bad any_cast

    ---- Type mismatch END""".splitlines()

# https://github.com/SBNSoftware/SBNSoftware.github.io/blob/000d205674199e2837b1e56bad73ec0b2a453851/sbndaq_oldwiki/SBND_DAQ_GettingStarted.md (lines 69-73)
# The category is a whole sentence, and the wiki folded its BEGIN line in two.
FOLDED_BEGIN = [
    "%MSG-e ExceptionHandler:  Initializing 01-Apr-2022 14:57:50 CDT Booted ExceptionHandler.cc:62",
    "cet::exception object caught:---- BernCRTData VerifyMACConfiguration() List of 4 FEBs declared ",
    "in the FHiCL file (dec): 74 85 87 88 doesn't match list of 0 detected FEBs: BEGIN",
    "  ",
    "---- BernCRTData VerifyMACConfiguration() List of 4 FEBs declared in the FHiCL file (dec): 74 85 87 88"
    " doesn't match list of 0 detected FEBs: END",
]

# https://github.com/LArSoft/larsoft.github.io/blob/1ae249776b99c115022528be92b26dc3f1eebadc/LArSoftWiki/releases/ReleaseNotes093500.md (lines 63-71)
PRODUCT_REGISTRATION = """\
            %MSG-s ArtException:  larg4Main:larg4outtime@Construction  27-Oct-2021 13:39:15 CDT ModuleConstruction
            cet::exception caught in art
            ---- ProductRegistrationFailure BEGIN
              An error occurred during a call to 'produces' or 'reconstitutes'. An attempt was made to declare the following product in the same module:
              Branch type: Event
              Class name: std::vector<artg4tk::PhotonHit>
              Product instance name: LArG4DetectorServicevolOpDetSensitiveXArapucaFilter
            ---- ProductRegistrationFailure END
            %MSG""".splitlines()


def only(lines):
    [err] = art.parse(lines)
    return err


def test_nested_blocks_give_the_chain_outermost_first_and_the_innermost_message_as_cause():
    err = only(TPCGEO)
    assert err.framework is Framework.ART
    assert err.categories == ("OtherArt", "EventProcessorFailure", "ScheduleExecutionFailure", "OtherArt", "TPCGeo")
    assert err.cause == "TPCGeo[0x5ed6970]::Plane(): no plane for view #2"
    assert TPCGEO[err.cause_line].strip() == err.cause
    assert err.message == ("TPCGeo[0x5ed6970]::Plane(): no plane for view #2",)
    assert err.exit_status == 1
    assert (err.start, err.end) == (2, 16)
    assert [link.category for link in err.chain] == list(err.categories)
    assert err.chain[2].message == ("Path: ProcessingStopped.", "Exception going through path reco")


def test_the_storage_layer_inside_a_file_open_error_is_the_cause_and_names_the_location():
    err = only(AUTH_FAILED)
    assert err.categories == ("FileOpenError", "FatalRootError")
    assert err.cause == "[FATAL] Auth failed" and AUTH_FAILED[err.cause_line] == "    [FATAL] Auth failed"
    assert err.module == "TNetXNGFile::Open"
    assert err.chain[0].message[-1].startswith("RootInputFileSequence::initFile(): Input file root://fndca1")


def test_exit_status_and_the_module_of_the_message_header():
    err = only(DQM_INIT)
    assert err.categories == ("Configuration", "TransferWrapper")
    assert err.cause.startswith('First 5 events received did not include the "Init" event')
    assert err.exit_status == 9
    assert err.module == "TriggerResultInserter:TriggerResults@Construction"


def test_two_blocks_of_one_message_keep_the_first_as_the_primary():
    first, second = art.parse(GEOMETRY_THEN_ROOT)
    assert first.categories == ("EventProcessorFailure", "Geometry")
    assert first.cause == "Geometry used for run run: 5729 is incompatible with the one configured in the job!"
    assert second.categories == ("FatalRootError",) and second.module == "TTree::SetEntries"
    assert second.cause.startswith("Tree branches have different numbers of entries")
    assert first.group == second.group == 0
    ordered = [e for e in parse_all(GEOMETRY_THEN_ROOT) if e.framework is Framework.ART]
    assert [e.categories[-1] for e in ordered] == ["Geometry", "FatalRootError"]


def test_categories_with_spaces_and_punctuation():
    err = only(CANT_FIND_KEY)
    assert err.categories == ("Can't find key",) and err.cause == "CalDataModuleLabel"
    err = only(TYPE_MISMATCH)
    assert err.categories == ("Type mismatch",)
    assert err.cause.startswith("Unsuccessful attempt to convert FHiCL parameter 'BadChannels'")
    assert err.message[-2:] == ("[Specific error:]", "bad any_cast")


def test_a_begin_line_folded_in_two_still_opens_its_block():
    err = only(FOLDED_BEGIN)
    assert err.categories == ("BernCRTData VerifyMACConfiguration() List of 4 FEBs declared in the FHiCL file"
                              " (dec): 74 85 87 88 doesn't match list of 0 detected FEBs:",)
    assert (err.start, err.end) == (1, 4)
    assert err.cause_line == 1 and err.message == ()  # the category is the only text; its line is named


def test_module_from_the_construction_header():
    err = only(PRODUCT_REGISTRATION)
    assert err.module == "larg4Main:larg4outtime@Construction"
    assert err.cause.startswith("An error occurred during a call to 'produces' or 'reconstitutes'.")


def test_a_tail_that_starts_inside_a_block_still_gives_its_chain():
    tail = TPCGEO[8:]  # the tail begins at "---- TPCGeo BEGIN": four ENDs have no BEGIN
    [err] = art.parse(tail)
    assert err.categories[-1] == "TPCGeo" and err.categories[0] == "OtherArt"
    assert err.cause == "TPCGeo[0x5ed6970]::Plane(): no plane for view #2"
    assert err.exit_status == 1


def test_a_tail_that_ends_inside_a_block_closes_it_at_the_end():
    [err] = art.parse(TPCGEO[:10])  # cut after the TPCGeo message
    assert err.categories[-1] == "TPCGeo" and err.end == 9
    assert err.cause == "TPCGeo[0x5ed6970]::Plane(): no plane for view #2"


def test_categorize_reads_innermost_first_and_skips_wrappers():
    rule = categorize(only(AUTH_FAILED))
    assert rule is not None and (rule.table, rule.key) == ("root", "TNetXNGFile::")
    assert (rule.category.value, rule.service, rule.retryable) == ("service", "storage", True)
    assert categorize(only(CANT_FIND_KEY)).table == "fhicl"
    assert categorize(only(PRODUCT_REGISTRATION)).category.value == "code"
    # TPCGeo is the experiment's own category: the table does not decide; the wrappers around it do not either
    assert categorize(only(TPCGEO)) is None
