"""Signatures group failures by their message's template: variable parts masked, words kept."""

from __future__ import annotations

import pytest

from prodops.triage.signature import normalize, signature

# A real line (tests/fixtures/triage/real/cmssw.yaml, cmssw-fallbackfileopen-eos-3011-1), and the
# same message as another job of the same failure would print it.
EOS_3011 = ("[ERROR] Server responded with an error: [3011] Unable to open file /eos/cms/store/user/cmsbuild/store/"
            "relval/CMSSW_10_5_0_pre1/RelValTTbar_13/GEN-SIM-DIGI-RAW/103X_upgrade2018_realistic_v8-v1/10000/2.root")
EOS_3011_OTHER_JOB = EOS_3011.replace("10000/2.root", "20000/77.root")


def test_the_same_failure_of_two_jobs_has_one_signature():
    assert signature("xrootd-3011", EOS_3011) == signature("xrootd-3011", EOS_3011_OTHER_JOB)
    assert normalize(EOS_3011) == "[ERROR] Server responded with an error: [<n>] Unable to open file <path>"


def test_different_rules_or_messages_are_different_groups():
    assert signature("xrootd-3011", EOS_3011) != signature("fallback", EOS_3011)
    assert signature("fallback", "FileOpenError") != signature("fallback", "FileReadError")


@pytest.mark.parametrize(("line", "template"), [
    ("Error from slot1_12@wn-042.hep.wisc.edu: Job has gone over memory limit of 2048 megabytes.",
     "Error from <slot>@<host>: Job has gone over memory limit of <n> megabytes."),
    ("2026-11-21 10:11:12,123 ERROR id=0x7f3a9b failed", "<time> ERROR id=<hex> failed"),
    ("G4Exception : GeomNav0003 issued by G4Navigator", "G4Exception : GeomNav0003 issued by G4Navigator"),
    ("An exception of category 'FileOpenError' occurred while", "An exception of category 'FileOpenError' occurred while"),
    ("SHADOW at 144.92.180.42 failed", "SHADOW at <ip> failed"),
    ("root://fndca1.fnal.gov:1094//pnfs/x.root: [3010] Unable to open", "<url> [<n>] Unable to open"),
])
def test_variable_parts_are_masked_and_error_codes_kept(line, template):
    assert normalize(line) == template
