"""The event-log reader on real, public logs (tests/fixtures/eventlogs/real/SOURCES.md).

Every fact the reader gives is checked on a real log; every malformed-input case on a
malformed copy of one (made in a temporary directory); XML logs against the same events
in text, and against htcondor2's own reading of the XML.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import classad2
import htcondor2
import pytest

from prodops.batch.base import JobEventRecord
from prodops.batch.eventlog import (
    TEXT,
    XML,
    event_blocks,
    log_format,
    read_event_log,
    read_events,
    rotated_logs,
)
from prodops.exceptions import BadEventLog

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "eventlogs"
REAL = FIXTURES / "real"
CONVERTED = FIXTURES / "converted"

CHTC = REAL / "chtc_65101544.log"  # no year; written July 2016 (the notes file is of 2017-03-17)
CHTC_SUBMITTED = datetime(2016, 7, 20, 9, 18, 31).timestamp()
LSST = REAL / "lsst_tiny_problems.nodes.log"  # with years
GT1957 = REAL / "htcondor_dagman_gt1957.log"  # no year; March 2011
GT1957_SUBMITTED = datetime(2011, 3, 10, 16, 40, 6).timestamp()
NEW_YEAR = REAL / "htcondor_copytospool_van.log"  # no year; 2004-12-28 .. 2005-01-05
NEW_YEAR_SUBMITTED = datetime(2004, 12, 28, 9, 38, 24).timestamp()
CRAB = REAL / "crab_8217205_job_ad_information.log"  # no year; its body says 2017-07-02

CHTC_EVENTS = [
    (0, "SUBMIT"), (1, "SUBMIT"), (2, "SUBMIT"), (3, "SUBMIT"),
    (2, "EXECUTE"), (2, "SHADOW_EXCEPTION"), (2, "JOB_HELD"),
    (3, "EXECUTE"), (3, "SHADOW_EXCEPTION"), (0, "EXECUTE"), (0, "SHADOW_EXCEPTION"),
    (3, "JOB_HELD"), (0, "JOB_HELD"), (1, "EXECUTE"), (1, "SHADOW_EXCEPTION"), (1, "JOB_HELD"),
]
LSST_EVENTS = [
    (9229, "SUBMIT"), (9230, "SUBMIT"), (9229, "EXECUTE"), (9230, "EXECUTE"), (9230, "JOB_TERMINATED"),
    (9231, "SUBMIT"), (9232, "SUBMIT"), (9231, "EXECUTE"), (9232, "EXECUTE"), (9231, "JOB_TERMINATED"),
    (9232, "JOB_TERMINATED"), (9233, "SUBMIT"), (9233, "EXECUTE"), (9233, "JOB_TERMINATED"),
    (9229, "JOB_EVICTED"), (9229, "JOB_ABORTED"), (9234, "SUBMIT"), (9234, "EXECUTE"), (9234, "JOB_TERMINATED"),
    (9234, "POST_SCRIPT_TERMINATED"),
]


def local(*args: int) -> float:
    """Seconds since the epoch of a local wall-clock time (old logs are written in local time)."""
    return datetime(*args).timestamp()


def kinds(records: list[JobEventRecord]) -> list[tuple[int, str]]:
    return [(r.proc_id, r.event_type) for r in records]


def copy_of(sample: Path, tmp_path: Path, name: str | None = None) -> Path:
    target = tmp_path / (name or sample.name)
    shutil.copyfile(sample, target)
    return target


# ---- facts of real text logs


def test_real_hold_events_give_reason_code_and_subcode():
    result = read_event_log(CHTC, submitted=CHTC_SUBMITTED)
    assert result.problems == [] and result.offset == CHTC.stat().st_size
    assert kinds(result.records) == CHTC_EVENTS
    holds = {r.proc_id: r.data for r in result.records if r.event_type == "JOB_HELD"}
    assert {proc: (d["HoldReasonCode"], d["HoldReasonSubCode"]) for proc, d in holds.items()} == {
        0: (6, 2), 1: (6, 2), 2: (6, 2), 3: (6, 2)}
    assert holds[2]["HoldReason"] == (
        "Error from slot1_8@e124.chtc.wisc.edu: Failed to execute "
        "'/var/lib/condor/execute/slot1/dir_3525362/condor_exec.exe' with arguments 2: "
        "(errno=2: 'No such file or directory')"
    )
    execute = next(r for r in result.records if r.event_type == "EXECUTE" and r.proc_id == 2)
    assert execute.data["ExecuteHost"].startswith("<128.104.101.124:9618?")
    assert all(r.cluster_id == 65101544 for r in result.records)


def test_real_terminations_give_return_value_signal_and_usage():
    lsst = read_event_log(LSST)
    assert [(r.cluster_id, r.event_type) for r in lsst.records] == LSST_EVENTS and lsst.problems == []
    by_cluster = {(r.cluster_id, r.event_type): r for r in lsst.records}
    failed = by_cluster[(9231, "JOB_TERMINATED")]
    assert failed.data["ReturnValue"] == 1 and failed.data["TerminatedNormally"] is True
    assert failed.data["RunRemoteUsage"] == "Usr 0 00:00:04, Sys 0 00:00:00"
    assert (failed.data["MemoryUsage"], failed.data["RequestMemory"], failed.data["DiskUsage"]) == (0, 2048, 90)
    assert failed.event_time == local(2025, 2, 13, 12, 0, 19)
    assert by_cluster[(9229, "JOB_ABORTED")].data["Reason"].startswith("DAG Abort: DAG is exiting")

    gt1957 = read_event_log(GT1957, submitted=GT1957_SUBMITTED)
    killed = gt1957.records[2]
    assert (killed.cluster_id, killed.event_type) == (180158, "JOB_TERMINATED")
    assert killed.data["TerminatedBySignal"] == 11 and "ReturnValue" not in killed.data
    assert gt1957.records[-1].data["ReturnValue"] == 0


def test_yearless_headers_take_the_year_of_the_submission_not_of_today():
    result = read_event_log(CHTC, submitted=CHTC_SUBMITTED)
    assert result.records[0].data["EventTime"] == "2016-07-20T09:18:31"
    assert result.records[0].event_time == local(2016, 7, 20, 9, 18, 31)
    assert result.records[-1].event_time == local(2016, 7, 20, 9, 20, 48)
    # htcondor2 alone dates them in the current year
    assert next(iter(htcondor2.JobEventLog(str(GT1957)).events(0)))["EventTime"].startswith(
        str(datetime.now().year))
    assert read_event_log(GT1957, submitted=GT1957_SUBMITTED).records[0].event_time == local(2011, 3, 10, 16, 40, 6)


def test_a_yearless_log_across_new_year_moves_to_the_next_year():
    records = read_event_log(NEW_YEAR, submitted=NEW_YEAR_SUBMITTED).records
    assert [r.data["EventTime"][:10] for r in records] == [
        "2004-12-28", "2004-12-28", "2005-01-03", "2005-01-03", "2005-01-03", "2005-01-03",
        "2005-01-04", "2005-01-04", "2005-01-05", "2005-01-05", "2005-01-05", "2005-01-05",
    ]
    assert [r.cluster_id for r in records][::2] == [103, 818, 1047, 1275, 1511, 1542]


def test_a_yearless_header_is_dated_by_the_submission_even_where_the_body_says_otherwise():
    """The CRAB excerpt's body carries EventTime = "2017-07-02T23:31:26"; its header only 07/02."""
    result = read_event_log(CRAB, submitted=local(2017, 7, 1))
    (record,) = result.records  # the excerpt starts with a '...' line: nothing, not a problem
    assert result.problems == []
    assert record.event_type == "JOB_AD_INFORMATION" and (record.cluster_id, record.proc_id) == (8217205, 0)
    assert record.data["EventTime"] == "2017-07-02T23:31:26"
    assert record.data["MATCH_EXP_JOBGLIDEIN_CMSSite"] == "T2_ES_CIEMAT"


def test_without_a_submission_time_a_yearless_log_is_dated_by_its_last_change(tmp_path):
    import os

    log = copy_of(NEW_YEAR, tmp_path)
    os.utime(log, (local(2005, 2, 1, 12, 0, 0), local(2005, 2, 1, 12, 0, 0)))
    assert [r.data["EventTime"][:7] for r in read_event_log(log).records][:3] == ["2004-12", "2004-12", "2005-01"]


def test_every_offset_of_a_real_log_resumes_exactly(tmp_path):
    full = read_event_log(CHTC, submitted=CHTC_SUBMITTED).records
    for index, record in enumerate(full):
        rest = read_event_log(CHTC, record.log_offset, submitted=CHTC_SUBMITTED)
        assert kinds(rest.records) == CHTC_EVENTS[index + 1:]
    data = CHTC.read_bytes()
    partial = tmp_path / "partial.log"
    for cut in range(0, len(data) + 1, 11):
        partial.write_bytes(data[:cut])
        head, offset = read_events(partial, submitted=CHTC_SUBMITTED)
        partial.write_bytes(data)
        tail, end = read_events(partial, offset, submitted=CHTC_SUBMITTED)
        assert [r.log_offset for r in head + tail] == [r.log_offset for r in full], f"cut at byte {cut}"


# ---- malformed copies of real logs: an error with a place, skipped, and the next events read


def test_a_garbled_header_is_a_problem_with_its_place_and_the_rest_is_read(tmp_path, caplog):
    log = copy_of(CHTC, tmp_path)
    text = log.read_text()
    bad = "001 (65101544.002.000) 07/20 09:20:44 Job executing on host"
    log.write_text(text.replace(bad, "0x1 (65101544.002.000) 07/20 09:20:44 Job executing on host"))
    result = read_event_log(log, submitted=CHTC_SUBMITTED)
    assert kinds(result.records) == [e for e in CHTC_EVENTS if e != (2, "EXECUTE")]
    (problem,) = result.problems
    assert isinstance(problem, BadEventLog)
    assert problem.path == str(log) and problem.offset == text.index(bad)
    assert problem.line.startswith("0x1 (65101544.002.000) 07/20 09:20:44 Job executing on host: <128.104.101.124")
    assert "not an HTCondor event header" in str(problem) and f"byte {problem.offset}" in str(problem)
    again = read_event_log(log, result.offset, submitted=CHTC_SUBMITTED)  # no stall on the next poll
    assert (again.records, again.problems, again.offset) == ([], [], log.stat().st_size)
    logged = [r for r in caplog.records if r.name == "prodops.batch.eventlog" and r.levelname == "WARNING"]
    assert len(logged) == 1 and f"byte {problem.offset}" in logged[0].getMessage()
    records, offset = read_events(log, submitted=CHTC_SUBMITTED)  # the (records, offset) form skips it too
    assert len(records) == len(CHTC_EVENTS) - 1 and offset == log.stat().st_size


def test_a_garbled_cluster_in_a_header_is_skipped_alone(tmp_path):
    log = copy_of(CHTC, tmp_path)
    log.write_text(log.read_text().replace("001 (65101544.003.000)", "001 (65101544.0x3.000)"))
    result = read_event_log(log, submitted=CHTC_SUBMITTED)
    assert kinds(result.records) == [e for e in CHTC_EVENTS if e != (3, "EXECUTE")]
    assert [p.line[:22] for p in result.problems] == ["001 (65101544.0x3.000)"]


def test_an_unknown_event_number_is_a_problem_not_a_bare_value_error(tmp_path):
    log = copy_of(CHTC, tmp_path)
    text = log.read_text()
    log.write_text(text.replace("007 (65101544.003.000)", "099 (65101544.003.000)"))
    # htcondor2 itself raises a bare ValueError for it, out of every poll
    with pytest.raises(ValueError, match="99 is not a valid JobEventType"):
        [event.type for event in htcondor2.JobEventLog(str(log)).events(0)]
    result = read_event_log(log, submitted=CHTC_SUBMITTED)
    assert kinds(result.records) == [e for e in CHTC_EVENTS if e != (3, "SHADOW_EXCEPTION")]
    (problem,) = result.problems
    assert (problem.offset, problem.cluster_id, problem.proc_id) == (text.index("007 (65101544.003.000)"), 65101544, 3)
    assert "event number 99" in problem.reason and problem.line.startswith("099 (65101544.003.000)")
    assert problem.log_offset == problem.end and problem.to_dict()["line"] == problem.line


def test_a_garbled_hold_code_is_none_and_a_problem_never_code_0(tmp_path):
    log = copy_of(CHTC, tmp_path)
    text = log.read_text()
    held = text.index("012 (65101544.000.000)")
    code = text.index("\tCode 6 Subcode 2", held)
    log.write_text(text[:code] + "\tCode 6x Subcode 2" + text[code + len("\tCode 6 Subcode 2"):])
    # htcondor2 alone reads it as code 0
    raw = [e for e in htcondor2.JobEventLog(str(log)).events(0) if e.type.name == "JOB_HELD" and e.proc == 0]
    assert raw[0]["HoldReasonCode"] == 0
    result = read_event_log(log, submitted=CHTC_SUBMITTED)
    assert kinds(result.records) == CHTC_EVENTS  # the event is kept, with its reason
    held_0 = next(r for r in result.records if r.event_type == "JOB_HELD" and r.proc_id == 0)
    assert (held_0.data["HoldReasonCode"], held_0.data["HoldReasonSubCode"]) == (None, None)
    assert "Failed to execute" in held_0.data["HoldReason"]
    (problem,) = result.problems
    assert (problem.offset, problem.line, problem.proc_id) == (code, "\tCode 6x Subcode 2", 0)
    others = [r.data["HoldReasonCode"] for r in result.records if r.event_type == "JOB_HELD" and r.proc_id != 0]
    assert others == [6, 6, 6]


def test_an_event_without_its_sync_line_is_a_problem_and_the_next_event_is_read(tmp_path):
    log = copy_of(CHTC, tmp_path)
    text = log.read_text()
    held = text.index("012 (65101544.002.000)")
    end = text.index("...\n", held)
    log.write_text(text[:end] + text[end + 4:])
    result = read_event_log(log, submitted=CHTC_SUBMITTED)
    assert kinds(result.records) == [e for e in CHTC_EVENTS if e != (2, "JOB_HELD")]
    (problem,) = result.problems
    assert problem.offset == held and "no '...' line" in problem.reason


def test_text_before_the_first_event_does_not_hide_the_log(tmp_path):
    log = tmp_path / "jobs.log"
    log.write_text("-- copied from the submit host --\n...\n" + CHTC.read_text())
    result = read_event_log(log, submitted=CHTC_SUBMITTED)
    assert kinds(result.records) == CHTC_EVENTS
    assert [(p.offset, p.line) for p in result.problems] == [(0, "-- copied from the submit host --")]


def test_a_binary_file_is_refused_by_name(tmp_path):
    log = tmp_path / "jobs.log"
    log.write_bytes(b"\x1f\x8b\x08\x00" + CHTC.read_bytes())  # the log, gzipped by mistake
    with pytest.raises(BadEventLog, match=r"jobs.log is not an HTCondor job event log: it holds binary data"):
        read_event_log(log)
    with pytest.raises(BadEventLog, match="binary"):
        read_events(log)


def test_a_json_log_is_refused_with_the_fix(tmp_path):
    log = tmp_path / "jobs.log"
    log.write_text('{\n    "MyType": "SubmitEvent",\n    "EventTypeNumber": 0\n}\n')
    with pytest.raises(BadEventLog, match="JSON"):
        read_event_log(log)


# ---- rotated logs: read in order, each event once


def test_a_log_rotated_to_old_is_finished_then_read_on(tmp_path):
    data = LSST.read_bytes()
    full = read_event_log(LSST).records
    cut = full[8].log_offset  # HTCondor rotates between events
    log = tmp_path / "jobs.log"
    log.write_bytes(data[:full[4].log_offset])
    first = read_event_log(log)
    assert first.records[-1].log_offset == full[4].log_offset
    log.write_bytes(data[:cut])  # more events before the rotation
    log.rename(tmp_path / "jobs.log.old")
    log.write_bytes(data[cut:])  # the writer's new file
    assert rotated_logs(log) == [str(tmp_path / "jobs.log.old")]
    second = read_event_log(log, first.offset)
    assert [(r.cluster_id, r.event_type) for r in first.records + second.records] == LSST_EVENTS
    assert [r.log_offset for r in first.records + second.records] == [r.log_offset for r in full]
    assert second.offset == len(data) and second.problems == []
    assert read_event_log(log, second.offset).records == []


def test_numbered_rotations_are_read_oldest_first(tmp_path):
    data = LSST.read_bytes()
    full = read_event_log(LSST).records
    log = tmp_path / "jobs.log"
    cuts = [0, full[5].log_offset, full[12].log_offset, len(data)]
    # jobs.log.2 is the oldest, jobs.log.1 the newer rotation, jobs.log the current file
    (tmp_path / "jobs.log.2").write_bytes(data[cuts[0]:cuts[1]])
    (tmp_path / "jobs.log.1").write_bytes(data[cuts[1]:cuts[2]])
    log.write_bytes(data[cuts[2]:cuts[3]])
    result = read_event_log(log)
    assert [(r.cluster_id, r.event_type) for r in result.records] == LSST_EVENTS
    assert result.offset == len(data)
    middle = read_event_log(log, full[7].log_offset, limit=3)
    assert [(r.cluster_id, r.event_type) for r in middle.records] == LSST_EVENTS[8:11] and middle.more
    rest = read_event_log(log, middle.offset)
    assert [(r.cluster_id, r.event_type) for r in rest.records] == LSST_EVENTS[11:]


def test_a_rotated_log_cut_inside_an_event_is_a_problem_and_reading_goes_on(tmp_path):
    data = LSST.read_bytes()
    full = read_event_log(LSST).records
    cut = full[8].log_offset
    (tmp_path / "jobs.log.old").write_bytes(data[:cut - 40])
    (tmp_path / "jobs.log").write_bytes(data[cut:])
    result = read_event_log(tmp_path / "jobs.log")
    assert [(r.cluster_id, r.event_type) for r in result.records] == LSST_EVENTS[:8] + LSST_EVENTS[9:]
    (problem,) = result.problems
    assert problem.path == str(tmp_path / "jobs.log.old") and problem.offset == full[7].log_offset
    assert "rotated log ends inside an event" in problem.reason


# ---- XML logs (log_xml = True): the same records as the text, as htcondor2 reads them

XML_LOGS = {  # converted file -> (real text log, submission time of a yearless log)
    "chtc_65101544.xml": (CHTC, CHTC_SUBMITTED),
    "htcondor_dagman_gt1957.xml": (GT1957, GT1957_SUBMITTED),
    "lsst_tiny_problems.nodes.xml": (LSST, None),
}
FIRST = ("MyType", "EventTypeNumber", "EventTime", "Cluster", "Proc", "Subproc")


def _xml_value(value: Any, indent: int) -> str:
    """One value as ClassAdXMLUnParser writes it (src/classad/xmlSink.cpp, non-compact spacing)."""
    if value is None:
        return "<u/>"
    if isinstance(value, bool):
        return f'<b v="{"t" if value else "f"}"/>'
    if isinstance(value, int):
        return f"<i>{value}</i>"
    if isinstance(value, float):
        return "<r>0.0</r>" if value == 0 else f"<r>{value:1.15E}</r>"
    if isinstance(value, dict):
        return _xml_ad(value, indent)
    text = str(value).replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<s>{text}</s>"


def _xml_ad(data: dict[str, Any], indent: int) -> str:
    names = [n for n in FIRST if n in data] + [n for n in data if n not in FIRST]
    out = "<c>\n"
    for name in names:
        out += " " * (indent + 4) + f'<a n="{name}">{_xml_value(data[name], indent + 4)}</a>\n'
    return out + " " * indent + "</c>" + ("\n" if indent == 0 else "")


def to_xml(records: list[JobEventRecord]) -> str:
    """The events as HTCondor writes them with ``log_xml = True`` (one top-level ad per event)."""
    return "".join(_xml_ad(record.data, 0) for record in records)


def write_converted() -> None:
    """Regenerate tests/fixtures/eventlogs/converted/ from the real text logs."""
    for name, (text_log, submitted) in XML_LOGS.items():
        (CONVERTED / name).write_text(to_xml(read_event_log(text_log, submitted=submitted).records))


@pytest.mark.parametrize("name", sorted(XML_LOGS))
def test_converted_xml_fixtures_are_current(name):
    text_log, submitted = XML_LOGS[name]
    assert (CONVERTED / name).read_text() == to_xml(read_event_log(text_log, submitted=submitted).records), (
        f"tests/fixtures/eventlogs/converted/{name} is stale: regenerate it with "
        "python -c 'from tests.unit.batch.test_eventlog_real import write_converted; write_converted()'"
    )


def _facts(record: JobEventRecord) -> tuple:
    return (record.cluster_id, record.proc_id, record.event_type, record.event_time, record.data)


@pytest.mark.parametrize("name", sorted(XML_LOGS))
def test_xml_logs_give_the_same_records_as_the_text(name):
    text_log, submitted = XML_LOGS[name]
    text = read_event_log(text_log, submitted=submitted)
    xml = read_event_log(CONVERTED / name)
    assert log_format(CONVERTED / name) == XML and log_format(text_log) == TEXT
    assert xml.problems == [] and xml.offset == (CONVERTED / name).stat().st_size
    assert [_facts(r) for r in xml.records] == [_facts(r) for r in text.records]


@pytest.mark.parametrize("name", sorted(XML_LOGS))
def test_xml_records_agree_with_htcondor2_reading_the_xml(name):
    path = CONVERTED / name
    ours = read_event_log(path).records
    theirs = list(htcondor2.JobEventLog(str(path)).events(0))
    assert [(r.cluster_id, r.proc_id, r.event_type) for r in ours] == [
        (e.cluster, e.proc, e.type.name) for e in theirs]
    for record, event in zip(ours, theirs):
        for key, value in event.items():
            if key in record.data and not isinstance(value, classad2.ClassAd):
                assert record.data[key] == value, (record.event_type, key)
    held = [r for r in ours if r.event_type == "JOB_HELD"]
    assert all((r.data["HoldReasonCode"], r.data["HoldReasonSubCode"]) == (6, 2) for r in held)


def test_xml_log_resumes_at_every_offset_and_waits_for_a_partial_event(tmp_path):
    path = CONVERTED / "chtc_65101544.xml"
    full = read_event_log(path).records
    for index, record in enumerate(full):
        assert kinds(read_event_log(path, record.log_offset).records) == CHTC_EVENTS[index + 1:]
    data = path.read_bytes()
    partial = tmp_path / "jobs.log"
    for cut in range(0, len(data) + 1, 13):
        partial.write_bytes(data[:cut])
        head = read_event_log(partial)
        assert head.problems == [], f"cut at byte {cut}"
        partial.write_bytes(data)
        tail = read_event_log(partial, head.offset)
        assert [r.log_offset for r in head.records + tail.records] == [r.log_offset for r in full], cut


def test_xml_with_the_old_document_prolog_is_read(tmp_path):
    log = tmp_path / "jobs.log"
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE classad SYSTEM "classad.dtd">\n<classads>\n'
    log.write_text(prolog + (CONVERTED / "htcondor_dagman_gt1957.xml").read_text())
    result = read_event_log(log)
    assert result.problems == [] and [r.event_type for r in result.records] == [
        "SUBMIT", "EXECUTE", "JOB_TERMINATED", "SUBMIT", "EXECUTE", "JOB_ABORTED", "JOB_TERMINATED"]


def test_malformed_xml_events_are_problems_with_their_place(tmp_path):
    log = copy_of(CONVERTED / "chtc_65101544.xml", tmp_path, "jobs.log")
    text = log.read_text()
    events = text.split("</c>\n")
    events[4] = events[4].replace('<a n="EventTypeNumber"><i>1</i></a>', '<a n="EventTypeNumber"><i>99</i></a>')
    events[6] = events[6].replace('<a n="HoldReasonCode"><i>6</i></a>', '<a n="HoldReasonCode"><i>6x</i></a>')
    events[9] = events[9].replace('<a n="ExecuteHost"><s>', '<a n="ExecuteHost"><s')  # not well-formed
    log.write_text("</c>\n".join(events))
    result = read_event_log(log)
    assert kinds(result.records) == [e for i, e in enumerate(CHTC_EVENTS) if i not in (4, 9)]
    held = next(r for r in result.records if r.event_type == "JOB_HELD" and r.proc_id == 2)
    assert held.data["HoldReasonCode"] is None and held.data["HoldReasonSubCode"] == 2
    lines = [p.line.strip() for p in result.problems]
    assert lines[:2] == ['<a n="EventTypeNumber"><i>99</i></a>', '<a n="HoldReasonCode"><i>6x</i></a>']
    assert lines[2].startswith('<a n="ExecuteHost"><s&lt;128.105.245.111:9618') and len(lines) == 3
    written = log.read_text()
    assert all(p.path == str(log) and written[p.offset:].lstrip().startswith(p.line.strip()) for p in result.problems)


def test_a_cut_xml_event_followed_by_the_next_is_a_problem_and_the_next_is_read(tmp_path):
    log = tmp_path / "jobs.log"
    text = (CONVERTED / "chtc_65101544.xml").read_text()
    events = text.split("</c>\n")
    events[5] = events[5][: len(events[5]) // 2]  # a writer died mid-event; the next one appended after it
    log.write_text("</c>\n".join(events[:5]) + "</c>\n" + events[5] + "</c>\n".join(events[6:]))
    result = read_event_log(log)
    assert kinds(result.records) == [e for i, e in enumerate(CHTC_EVENTS) if i != 5]
    assert len(result.problems) == 1 and "no closing </c>" in result.problems[0].reason


# ---- tails: events of either format as a person reads them


def test_event_blocks_split_text_and_xml_logs_per_job():
    text_blocks = event_blocks(CHTC.read_text())
    xml_blocks = event_blocks((CONVERTED / "chtc_65101544.xml").read_text())
    assert [(b.cluster_id, b.proc_id) for b in text_blocks] == [(65101544, p) for p, _ in CHTC_EVENTS]
    assert [(b.cluster_id, b.proc_id) for b in xml_blocks] == [(65101544, p) for p, _ in CHTC_EVENTS]
    held = text_blocks[6]
    assert held.first_line == 16 and held.lines[0].startswith("012 (65101544.002.000)")
    assert CHTC.read_text().split("\n")[held.first_line - 1] == held.lines[0]
    assert xml_blocks[0].first_line == 1 and xml_blocks[1].lines[0] == "<c>"
