"""Bad input to every parser of job output and of the trusted files (issue 15, item 4): hypothesis
breaks real event logs (text and XML), ad files, job ads, log tails, pattern and template files.

Each case ends in a result or in the parser's own error (which names the file, line or field),
never in another exception; the readers that resume from an offset never read an event twice.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import classad2
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from prodops.batch.classads import COLUMNS, map_ad
from prodops.batch.eventlog import read_event_log
from prodops.batch.jobads import parse_ads
from prodops.exceptions import BadClassAd, BadEventLog
from prodops.triage.patterns import PatternInvalid, parse_pattern
from prodops.triage.tail import read_tail
from prodops.workflows import TemplateInvalid, parse_template

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT_LOG = (FIXTURES / "eventlogs" / "local_pool.log").read_bytes()
XML_LOG = (FIXTURES / "eventlogs" / "converted" / "chtc_65101544.xml").read_bytes()
ADS = (FIXTURES / "ads" / "history_pool.ads").read_text()
TEMPLATE = Path(__file__).resolve().parents[2] / "include" / "workflows" / "mc_chain.yaml"

FUZZ = settings(max_examples=120, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
LOG_FUZZ = settings(FUZZ, max_examples=25)
"""Each event-log case writes a file and reads it through htcondor2 from every stored offset."""

# what a garbled log holds: HTCondor's own separators and headers among random bytes
PIECES = st.one_of(
    st.binary(max_size=60),
    st.sampled_from([b"...\n", b"000 (4211.000.000) 11/25 10:00:00 Job submitted from host: <1.2.3.4:9618>\n",
                     b"012 (4211.001.000) 2025-11-25 10:00:05 Job was held.\n\tCode 34 Subcode 102\n",
                     b"999 (1.0.0) 2025-11-25 10:00:00 unknown\n", b"<c>\n", b"</c>\n", b"<a n=\"Cluster\"><i>7</i></a>",
                     b"\x00\xff\xfe", b"\n", b"005 (4211.000.000) garbage\n"]),
)


def _broken(original: bytes, data: st.DataObject) -> bytes:
    """``original`` with a few random spans replaced by garbage (or cut short)."""
    text = original
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 200)))
        text = text[:start] + b"".join(data.draw(st.lists(PIECES, max_size=4))) + text[end:]
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text)))]
    return text


def _read_all(log: Path, limit: int | None) -> tuple[list[tuple], int]:
    """Every record from offset 0 on, in calls of ``limit`` events, as the tracker reads."""
    seen, offset = [], 0
    for _ in range(10_000):
        got = read_event_log(log, offset, limit=limit)
        assert 0 <= offset <= got.offset <= log.stat().st_size
        for problem in got.problems:
            assert isinstance(problem, BadEventLog) and problem.path == str(log) and problem.offset is not None
        seen += [(r.cluster_id, r.proc_id, r.event_type, r.log_offset) for r in got.records]
        if got.offset == offset and not got.more:
            return seen, offset
        offset = got.offset
    raise AssertionError("the reader never came to an end")


@pytest.mark.parametrize("original", [TEXT_LOG, XML_LOG], ids=["text", "xml"])
@LOG_FUZZ
@given(data=st.data(), limit=st.sampled_from([None, 1, 3]))
def test_a_garbled_event_log_is_read_past_its_problems_each_event_once(original, data, limit):
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / ("jobs.xml" if original is XML_LOG else "jobs.log")
        log.write_bytes(_broken(original, data))
        try:
            seen, end = _read_all(log, limit)
        except BadEventLog as err:  # about the whole log: it names it
            assert str(log) in str(err)
            return
        assert len(seen) == len(set(seen)), "an event was read twice"
        assert all(cluster >= 0 and proc >= -1 for cluster, proc, *_ in seen)  # -1: a cluster-level event
        assert read_event_log(log, end).records == []  # the stored offset reads nothing again


ATTRIBUTE_VALUES = st.one_of(
    st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=40), st.sampled_from(["undefined", "error", "1/0", "{1, \"a\"}", "[a = 1]", "MY.x + 1"]),
)
MAPPED = ["JobStatus", "ExitCode", "ExitBySignal", "ExitSignal", "HoldReasonCode", "HoldReasonSubCode",
          "HoldReason", "RemoteWallClockTime", "RemoteUserCpu", "RemoteSysCpu", "RequestMemory", "MemoryUsage",
          "ResidentSetSize_RAW", "DiskUsage_RAW", "RequestDisk", "JobStartDate", "CompletionDate", "EnteredCurrentStatus",
          "LastPublicClaimId", "StartdIpAddr", "MachineAttrCPUModel0", "GLIDEIN_Site", "TransferInput",
          "NumJobStarts", "ProcId", "ClusterId", "QDate", "BytesRecvd", "BytesSent"]


def _set(ad: classad2.ClassAd, name: str, value: object) -> None:
    if isinstance(value, str) and value in ("undefined", "error", "1/0", "{1, \"a\"}", "[a = 1]", "MY.x + 1"):
        ad[name] = classad2.ExprTree(value)
    elif isinstance(value, float) and not math.isfinite(value):
        ad[name] = classad2.ExprTree("real(\"INF\")" if value > 0 else "real(\"-INF\")" if value < 0 else "real(\"NaN\")")
    else:
        ad[name] = value


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(MAPPED), st.one_of(st.none(), ATTRIBUTE_VALUES), max_size=6),
       which=st.integers(0, 50))
def test_a_job_ad_with_any_values_maps_to_a_row_or_names_its_attribute(changes, which):
    ads = parse_ads(ADS, path="history_pool.ads")
    ad = ads[which % len(ads)]
    for name, value in changes.items():
        if value is None:
            if name in ad and name not in ("ClusterId", "ProcId"):
                del ad[name]
        else:
            _set(ad, name, value)
    try:
        row = map_ad(ad)
    except BadClassAd as err:
        assert err.attribute or err.job or err.path, str(err)
        return
    assert set(row) == set(COLUMNS)


@FUZZ
@given(data=st.data())
def test_a_garbled_ad_file_parses_or_names_its_line(data):
    text = _broken(ADS.encode(), data).decode("utf-8", "replace")
    try:
        ads = parse_ads(text, path="history_pool.ads")
    except BadClassAd as err:
        assert err.path == "history_pool.ads" and err.line is not None and err.line >= 1
        return
    assert all(isinstance(ad, classad2.ClassAd) for ad in ads)


@FUZZ
@given(content=st.binary(max_size=4000), lines=st.integers(1, 200), max_bytes=st.sampled_from([None, 16, 1024]))
def test_any_job_output_gives_a_bounded_tail(content, lines, max_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.0.out"
        path.write_bytes(content)
        tail = read_tail(path, lines=lines, max_bytes=max_bytes)
    assert tail.status == ("ok" if content else "empty") and len(tail.lines) <= lines
    assert all("\n" not in line for line in tail.lines)
    if max_bytes is not None:
        assert tail.bytes_read <= max_bytes


GOOD_PATTERN = {"id": "x-1", "family": "fam", "regex": "disk exploded", "category": "service", "retryable": True,
                "explain": "one line"}
YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=6,
)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from([*GOOD_PATTERN, "priority", "resource", "streams", "keywords",
                                                "service", "colour"]), YAML_VALUES, max_size=3))
def test_any_pattern_entry_is_a_pattern_or_names_its_field(changes):
    raw = {**GOOD_PATTERN, **changes}
    try:
        pattern = parse_pattern(raw, scope="generic", source="generic.yaml")
    except PatternInvalid as err:
        assert str(err).startswith("generic.yaml")
        return
    assert pattern.id == raw["id"]


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@settings(FUZZ, max_examples=40)  # each case validates the template against its JSON schema
@given(data=st.data())
def test_any_change_to_a_template_loads_or_names_stage_and_field(data):
    raw = copy.deepcopy(yaml.safe_load(TEMPLATE.read_text()))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(raw)))
        assume(path)
        *parents, last = path
        holder = raw
        for key in parents:
            holder = holder[key]
        if data.draw(st.booleans()) and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = data.draw(YAML_VALUES)
    try:
        template = parse_template(TEMPLATE, raw)
    except TemplateInvalid as err:
        assert str(err).startswith(TEMPLATE.name)
        return
    assert template.stages


def test_a_workflow_submit_block_of_null_commands_merges_with_a_stages_own():
    """Found by the fuzz above: a workflow's ``commands: null`` and a stage's commands raised TypeError."""
    raw = copy.deepcopy(yaml.safe_load(TEMPLATE.read_text()))
    raw["submit"] = {**(raw.get("submit") or {}), "commands": None}
    raw["stages"][0]["submit"] = {"commands": {"+DESIRED_usage_model": '"OPPORTUNISTIC"'}}
    try:
        template = parse_template(TEMPLATE, raw)
    except TemplateInvalid as err:  # refused naming the field is as good as merged
        assert str(err).startswith(TEMPLATE.name) and "commands" in str(err)
        return
    assert template.stages[0].submit["commands"] == {"+DESIRED_usage_model": '"OPPORTUNISTIC"'}
