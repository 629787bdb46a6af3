"""Crash reports of a fatal signal, on lines copied from public issues (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, categorize, crash

# https://github.com/cms-sw/cmssw/issues/14897 (comment of 2016-08-17)
CRASHED_MODULE = """\
#34 0x000000000040acc4 in main ()

Current Modules:

Module: EgHLTOfflineSource (crashed)
Module: TrackingMonitor
Module: EgHLTOfflineSource
Module: TrackingMonitor

A fatal system signal has occurred: segmentation violation""".splitlines()

# https://github.com/cms-sw/cmssw/issues/41741 (description, [1]; trimmed at frame #6)
HANDLER_THEN_NULL = """\
Thread 32 (Thread 0x7f2b3bbfe700 (LWP 3719073) "cmsRun"):
#0  0x00007f2c8605fa71 in poll () from /lib64/libc.so.6
#1  0x00007f2c7da7746f in full_read.constprop () from /opt/offline/el8_amd64_gcc11/cms/cmssw/CMSSW_13_0_5/lib/el8_amd64_gcc11/pluginFWCoreServicesPlugins.so
#2  0x00007f2c7da42b6c in edm::service::InitRootHandlers::stacktraceFromThread() () from /opt/offline/el8_amd64_gcc11/cms/cmssw/CMSSW_13_0_5/lib/el8_amd64_gcc11/pluginFWCoreServicesPlugins.so
#3  0x00007f2c7da4333b in sig_dostack_then_abort () from /opt/offline/el8_amd64_gcc11/cms/cmssw/CMSSW_13_0_5/lib/el8_amd64_gcc11/pluginFWCoreServicesPlugins.so
#4  <signal handler called>
#5  0x0000000000000000 in ?? ()""".splitlines()

# https://github.com/abyzovlab/CNVnator/issues/111 (comment of 2020-11-09; trimmed after "might hint")
ROOT_BREAK = """\
*** Break *** segmentation violation

===========================================================
There was a crash.
This is the entire stack trace of all threads:
===========================================================
#0  0x00007ff49ed33a3c in waitpid () from /usr/lib64/libc.so.6
#1  0x00007ff49ecb1de2 in do_system () from /usr/lib64/libc.so.6
#2  0x00007ff4a17dbb24 in TUnixSystem::StackTrace() () from /home/local/root/lib/libCore.so.6.22
#3  0x00007ff4a17dd7ba in TUnixSystem::DispatchSignals(ESignals) () from /home/local/root/lib/libCore.so.6.22
#4  <signal handler called>
#5  0x000000000048d970 in bam_cigar2rlen (n_cigar=40, cigar=0x0) at sam.c:342
#6  0x000000000046d520 in AliParser::parseRecord() ()
#7  0x0000000000469038 in HisMaker::produceTrees(std::string*, int, std::string*, int, bool) ()
#8  0x000000000040af55 in main ()
===========================================================

The lines below might hint at the cause of the crash.""".splitlines()

# https://github.com/secondo-database/secondo/issues/6 (comment of 2020-11-01; the shell's job report)
SHELL_REPORT = """\
*** Signal SIGFPE (8) caught! Calling default signal handler ...
./SecondoTTYBDB: line 34: 24467 Floating point exception$runner $*""".splitlines()


def test_the_crashed_module_names_the_cause_when_no_frame_does():
    [err] = crash.parse(CRASHED_MODULE)
    assert err.framework is Framework.CRASH and err.categories == ("segmentation violation",)
    assert err.module == "EgHLTOfflineSource" and err.cause == "Module: EgHLTOfflineSource (crashed)"
    assert err.cause_line == 4 and (err.start, err.end) == (0, 9)
    rule = categorize(err)
    assert (rule.table, rule.key, rule.category.value) == ("signals", "SIGSEGV", "code")


def test_the_frame_after_the_signal_handler_of_the_crashing_thread():
    [err] = crash.parse(HANDLER_THEN_NULL)
    assert err.cause_line == 6 and err.cause == "#5  0x0000000000000000 in ?? ()"
    assert err.categories == ("fatal signal",) and categorize(err) is None


def test_root_break_report_names_the_function_that_crashed():
    [err] = crash.parse(ROOT_BREAK)
    assert err.severity == "segmentation violation"
    assert err.cause == "#5  0x000000000048d970 in bam_cigar2rlen (n_cigar=40, cigar=0x0) at sam.c:342"
    assert err.cause_line == 11 and err.start == 0 and err.end == 14
    assert categorize(err).key == "SIGSEGV"


def test_the_shells_report_of_a_killed_command():
    [err] = crash.parse(SHELL_REPORT)
    assert err.categories == ("Floating point exception",) and err.cause_line == 1
    assert categorize(err).key == "SIGFPE"
