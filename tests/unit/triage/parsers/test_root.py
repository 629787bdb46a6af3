"""ROOT ``Error|SysError|Fatal in <location>: message`` lines, copied from public issues (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, categorize, root

# https://github.com/xrootd/xrootd/issues/343 (the three messages of the description, without the list's backticks)
XROOTD_ERRORS = [
    "Error in <TNetXNGFile::Open>: [ERROR] Server responded with an error: [3011] Unable to open file"
    " /eos/cms/store/data/Run2015D/SingleMuon/MINIAOD/05Oct2015-v1/10000/D6F278BA-896F-E511-97DF-0025905A60C6.root;"
    " No such file or directory",
    "Error in <TNetXNGFile::Open>: [ERROR] Server responded with an error: [3010] Permission denied",
    "Error in <TNetXNGFile::Open>: [ERROR] Operation expired",
]

# https://github.com/root-project/root/issues/10039
NOT_EXIST = """\
root [0] TFile f("root://eospublic.cern.ch//eos/root-eos/benchmark/Run2012B_SingleMu.root")
Error in <TFile::TFile>: file /eos/root-eos/benchmark/Run2012B_SingleMu.root does not exist
(TFile &) Name: /eos/root-eos/benchmark/Run2012B_SingleMu.root Title:""".splitlines()

# https://github.com/root-project/root/pull/22796 (description, "After the change")
PLUGIN = """\
$ rootcp --recreate root://eospublic.cern.ch//eos/root-eos/h1/dstarmb.root copy_remote.root 
Error in <TPluginHandler::LoadPluginImpl>: Failed to load plugin NetxNG
Error in <TPluginHandler::LoadPluginImpl>: Failed to load plugin NetxNG
Error in <rootcp>: Failed to open file 'root://eospublic.cern.ch//eos/root-eos/h1/dstarmb.root'""".splitlines()

# https://github.com/root-project/root/pull/1079 (a diff of a test's expected output: the '+' is the diff's)
DAVIX = "+Error in <DavixOpen>: can not open file with davix: Failure Could not connect to server after 3 attempts (6)"


def test_location_message_and_level():
    errors = root.parse(XROOTD_ERRORS)
    assert [e.cause_line for e in errors] == [0, 1, 2]
    first = errors[0]
    assert first.framework is Framework.ROOT and first.categories == ("Error",) and first.severity == "Error"
    assert first.module == "TNetXNGFile::Open" and first.message[0].startswith("[ERROR] Server responded with an error: [3011]")
    rule = categorize(first)
    assert (rule.table, rule.key, rule.category.value, rule.service) == ("root", "TNetXNGFile::", "service", "storage")


def test_repeats_are_folded_and_an_undecided_location_gives_no_rule():
    plugin, rootcp = root.parse(PLUGIN)
    assert plugin.module == "TPluginHandler::LoadPluginImpl" and plugin.details == ("repeated 2 times",)
    assert categorize(plugin).category.value == "infrastructure"
    assert rootcp.module == "rootcp" and categorize(rootcp) is None
    [err] = root.parse(NOT_EXIST)
    assert err.cause_line == 1 and categorize(err) is None  # "does not exist": the name or the storage


def test_a_prefix_before_the_level():
    [err] = root.parse([DAVIX])
    assert err.module == "DavixOpen" and categorize(err).service == "storage"
