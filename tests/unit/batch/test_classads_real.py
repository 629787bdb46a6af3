"""Job ClassAds of real jobs (tests/fixtures/ads/real/SOURCES.md): every new fact, every malformed case.

Malformed cases are malformed copies of the real ad files, written to a temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import classad2
import pytest

from prodops.batch.classads import (
    COLUMNS,
    INPUT_LISTS,
    IP_ATTRIBUTES,
    OUTPUT_LISTS,
    SITE_ATTRIBUTES,
    MappingConfig,
    ad_source,
    job_projection,
    map_ad,
)
from prodops.batch.eventlog import read_event_log
from prodops.batch.jobads import parse_ads, read_ads
from prodops.exceptions import BadClassAd

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "ads" / "real"
CHTC = REAL / "chtc_15872426_5189_held.ad"  # held for memory after its run; worker only in the claim/principal
CE = REAL / "htcondor_ce_spooled_15_0.ad"  # released from its spooling hold, idle again
CRAB_EVENT = REAL.parents[1] / "eventlogs" / "real" / "crab_8217205_job_ad_information.log"


def variant(sample: Path, tmp_path: Path, *, drop: tuple[str, ...] = (), replace: dict[str, str] | None = None,
            add: tuple[str, ...] = (), name: str | None = None) -> Path:
    """A copy of a real ad file with whole attribute lines dropped, replaced or added."""
    lines = sample.read_text().splitlines()
    out = []
    for line in lines:
        attribute = line.split("=", 1)[0].strip()
        if attribute in drop:
            continue
        out.append((replace or {}).get(attribute, line))
    target = tmp_path / (name or sample.name)
    target.write_text("\n".join([*out, *add]) + "\n")
    return target


def line_of(path: Path, attribute: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1)
                if line.split("=", 1)[0].strip() == attribute)


def one(path: Path) -> classad2.ClassAd:
    (ad,) = read_ads(path)
    return ad


# ---- worker IP after the run


def test_a_finished_runs_worker_ip_comes_from_last_public_claim_id():
    ad = one(CHTC)
    assert "StartdIpAddr" not in ad and "RemoteHost" not in ad and "PublicClaimId" not in ad
    row = map_ad(ad)
    assert row["worker_ip"] == "128.105.68.214"  # <128.105.68.214:9618?addrs=...+[2607-f388-...]-9618&...>#...
    assert row["last_remote_host"] == "slot1_3@e301.chtc.wisc.edu"


def test_without_the_claim_the_worker_ip_comes_from_the_startd_principal(tmp_path):
    path = variant(CHTC, tmp_path, drop=("LastPublicClaimId",))
    assert map_ad(one(path))["worker_ip"] == "128.105.68.214"  # execute-side@matchsession/128.105.68.214
    bare = variant(CHTC, tmp_path, drop=("LastPublicClaimId", "StartdPrincipal"), name="bare.ad")
    assert map_ad(one(bare))["worker_ip"] is None  # nothing left: NULL, not guessed from the host name


def test_the_projection_asks_for_every_new_attribute_and_maps_the_same():
    projection = job_projection()
    assert {"LastPublicClaimId", "StartdPrincipal", "TransferInput", "SpooledOutputFiles", "TransferOutput",
            "LastHoldReason", "LastHoldReasonCode", "LastHoldReasonSubCode"} <= set(projection)
    assert set(IP_ATTRIBUTES) | set(SITE_ATTRIBUTES) | set(INPUT_LISTS) | set(OUTPUT_LISTS) <= set(projection)
    for path in (CHTC, CE):
        ad = one(path)
        projected = classad2.ClassAd()
        for name in projection:
            if name in ad:
                projected[name] = ad.lookup(name)
        full, mapped = map_ad(ad), map_ad(projected)
        for row in (full, mapped):
            row.pop("ad"), row.pop("ad_hash")
        assert mapped == full, path.name


# ---- file counts from the transfer lists


def test_file_counts_come_from_the_statistics_when_present():
    row = map_ad(one(CHTC))
    assert (row["files_in_count"], row["files_in_bytes"]) == (6, None)  # [ CedarFilesCountLastRun = 6; ... ]
    assert (row["files_out_count"], row["files_out_bytes"]) == (None, None)  # TransferOutputStats = [  ], no list


def test_without_statistics_the_input_files_are_counted_from_transfer_input(tmp_path):
    path = variant(CHTC, tmp_path, drop=("TransferInputStats",))
    row = map_ad(one(path))
    assert row["files_in_count"] == 6  # "5mers.am_clr.bhsne.tsv,coverage.tsv,...,autometa_binning.sh"
    assert row["files_in_bytes"] is None  # a list has no sizes


def test_without_statistics_the_output_files_are_counted_from_the_output_lists(tmp_path):
    # TransferOutput as a CMS WMAgent job printed it (dmwm/WMCore#8425, comment of 2018-02-05)
    path = variant(CHTC, tmp_path, drop=("TransferOutputStats",),
                   add=('TransferOutput = "Report.0.pkl,wmagentJob.log"',))
    assert map_ad(one(path))["files_out_count"] == 2
    spooled = variant(CHTC, tmp_path, drop=("TransferOutputStats",), name="spooled.ad",
                      add=('SpooledOutputFiles = "Report.0.pkl"', 'TransferOutput = "Report.0.pkl,wmagentJob.log"'))
    assert map_ad(one(spooled))["files_out_count"] == 1  # what was spooled back wins over what was asked for


# ---- the last hold of a job that is no longer held


def test_a_released_job_keeps_its_last_hold_in_the_hold_columns():
    row = map_ad(one(CE))
    assert row["state"] == "idle"
    assert (row["hold_reason"], row["hold_reason_code"], row["hold_reason_subcode"]) == (
        "Spooling input data files", 16, None)


def test_a_current_hold_is_never_replaced_by_the_last_one(tmp_path):
    held = variant(CE, tmp_path, replace={
        "JobStatus": "JobStatus = 5",
        "HoldReason": 'HoldReason = "via condor_hold (by user bbockelm)"',
        "HoldReasonCode": "HoldReasonCode = 1",
    })
    row = map_ad(one(held))
    assert (row["state"], row["hold_reason"], row["hold_reason_code"]) == (
        "held", "via condor_hold (by user bbockelm)", 1)
    chtc = map_ad(one(CHTC))
    assert (chtc["hold_reason_code"], chtc["hold_reason_subcode"]) == (34, 0)
    assert chtc["hold_reason"].endswith("Docker job has gone over memory limit of 16384 Mb")


# ---- the site: CMS and OSG names, templates skipped


def test_the_site_chain_reads_the_cms_attributes_of_a_real_job():
    """The job-ad-information event carries attributes of the job's ad (CRAB, dmwm/CRABServer#5533)."""
    (event,) = read_event_log(CRAB_EVENT, submitted=1498867200).records
    ad = classad2.ClassAd({name: value for name, value in event.data.items()
                           if name not in ("MyType", "EventTypeNumber", "EventTime", "Cluster", "Proc", "Subproc")})
    ad["ClusterId"], ad["ProcId"], ad["JobStatus"] = event.cluster_id, event.proc_id, 2
    assert map_ad(ad)["site"] == "T2_ES_CIEMAT"  # MATCH_EXP_JOBGLIDEIN_CMSSite, where the job ran
    assert SITE_ATTRIBUTES.index("MATCH_EXP_JOB_CMSSite") == 0
    assert {"MATCH_EXP_JOB_GLIDEIN_Site", "MachineAttrGLIDEIN_Site0", "GLIDEIN_Site", "JOB_Site",
            "MATCH_GLIDEIN_Site"} <= set(SITE_ATTRIBUTES)


def test_an_unexpanded_template_is_no_site_and_the_chain_goes_on():
    config = MappingConfig(site_attributes=("JOBGLIDEIN_ResourceName", "MATCH_EXP_JOBGLIDEIN_ResourceName"))
    ad = one(CHTC)
    assert str(ad.lookup("JOBGLIDEIN_ResourceName")).startswith('"$$([IfThenElse')
    assert map_ad(ad, config)["site"] == "Local Job"
    assert map_ad(ad)["site"] is None  # no site attribute of the default chain in a CHTC-local job


# ---- truncated and malformed ads: NULL where a fact is missing, an error with a place where text is bad


def test_a_truncated_ad_has_no_wall_or_cpu_time_not_zero(tmp_path):
    text = CHTC.read_text()
    cut = tmp_path / "history.ads"
    cut.write_text(text[: text.index("\nRemoteSysCpu = ") + 1])  # the ad ends (at a line end) before its times
    row = map_ad(one(cut))
    assert (row["remote_wall_clock_time"], row["remote_user_cpu"], row["remote_sys_cpu"]) == (None, None, None)
    assert row["state"] == "held" and row["worker_ip"] == "128.105.68.214"  # what it has is still read


def test_an_ad_file_cut_inside_a_line_names_the_file_line_and_attribute(tmp_path):
    text = CHTC.read_text()
    cut = tmp_path / "history.ads"
    cut.write_text(text[: text.index("\nRemoteWallClockTime = ") + len("\nRemoteWallClockTime = 12")])
    with pytest.raises(BadClassAd, match="ends inside line") as err:
        read_ads(cut)
    assert (err.value.path, err.value.line, err.value.attribute) == (
        str(cut), line_of(CHTC, "RemoteWallClockTime"), "RemoteWallClockTime")
    assert f"{cut} line {err.value.line}:" in str(err.value)


def test_a_garbled_line_is_an_error_with_its_place_not_a_silently_shorter_ad(tmp_path):
    path = variant(CHTC, tmp_path, replace={"RemoteUserCpu": "RemoteUserCpu = 2930.0 +"})
    # classad2 alone stops the ad at the bad line and keeps the rest of the file quiet
    (silent,) = classad2.parseAds(path.read_text(), classad2.ParserType.Old)
    assert "RemoteUserCpu" not in silent and "RemoteWallClockTime" not in silent
    with pytest.raises(BadClassAd, match="RemoteUserCpu = '2930.0 \\+' is not a ClassAd expression") as err:
        read_ads(path)
    assert (err.value.path, err.value.line, err.value.attribute) == (
        str(path), line_of(CHTC, "RemoteUserCpu"), "RemoteUserCpu")


def test_a_line_that_is_no_attribute_is_an_error_with_its_place(tmp_path):
    path = variant(CHTC, tmp_path, replace={"QDate": "QDate 1653145683"})
    with pytest.raises(BadClassAd, match="is not an attribute") as err:
        read_ads(path)
    assert (err.value.line, err.value.attribute) == (line_of(CHTC, "QDate"), None)
    garbage = tmp_path / "garbage.ads"
    garbage.write_text(CE.read_text() + "\nnot an ad at all\n\n" + CHTC.read_text())
    with pytest.raises(BadClassAd) as err:
        read_ads(garbage)
    assert err.value.line == len(CE.read_text().splitlines()) + 2


def test_a_malformed_value_names_the_file_line_attribute_and_job(tmp_path):
    path = variant(CHTC, tmp_path, replace={"RemoteWallClockTime": 'RemoteWallClockTime = "long"'})
    ad = one(path)
    assert ad_source(ad).path == str(path) and ad_source(ad).line == 1
    with pytest.raises(BadClassAd) as err:
        map_ad(ad)
    assert (err.value.path, err.value.line, err.value.attribute, err.value.job) == (
        str(path), line_of(CHTC, "RemoteWallClockTime"), "RemoteWallClockTime", "15872426.5189")
    assert str(err.value).startswith(f"{path} line {err.value.line}: job 15872426.5189: RemoteWallClockTime = 'long'")


def test_an_ad_without_its_identity_says_the_file_holds_a_cut_or_foreign_ad(tmp_path):
    path = variant(CHTC, tmp_path, drop=("ClusterId",))
    with pytest.raises(BadClassAd, match="the ad has no ClusterId.*cut or foreign ad") as err:
        map_ad(one(path))
    assert (err.value.path, err.value.line, err.value.attribute) == (str(path), 1, "ClusterId")
    assert "projection" not in str(err.value)
    # an ad from a schedd (no file) still points at the projection
    projected = classad2.ClassAd({"ProcId": 5189, "JobStatus": 5})
    with pytest.raises(BadClassAd, match="query them in the projection"):
        map_ad(projected)


def test_the_second_ad_of_a_file_is_placed_at_its_own_lines(tmp_path):
    both = tmp_path / "history.ads"
    both.write_text(CE.read_text() + "\n" + CHTC.read_text().replace("RemoteWallClockTime = 1289.0",
                                                                   'RemoteWallClockTime = "x"'))
    ce, chtc = read_ads(both)
    first_line = len(CE.read_text().splitlines()) + 2
    assert (ad_source(ce).line, ad_source(chtc).line) == (1, first_line)
    assert set(map_ad(ce)) == set(COLUMNS)
    with pytest.raises(BadClassAd) as err:
        map_ad(chtc)
    assert err.value.line == first_line - 1 + line_of(CHTC, "RemoteWallClockTime")


def test_parsed_text_without_a_file_has_no_source_and_no_cut_check():
    (ad,) = parse_ads(CE.read_text().rstrip("\n"))
    assert ad_source(ad) is None and map_ad(ad)["cluster_id"] == 15
