"""The event log writer round-trips through the real htcondor2.JobEventLog; the reader resumes exactly."""

from __future__ import annotations

from pathlib import Path

import htcondor2
import pytest

from prodops.batch.eventlog import (
    EventLogWriter,
    ResourceUsage,
    Usage,
    format_rusage,
    parse_rusage,
    read_events,
)
from prodops.exceptions import BadEventLog

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "eventlogs" / "local_pool.log"
T0 = 1764064800  # 2025-11-25 10:00:00 UTC
MEMORY_REASON = (
    "Error from slot1_3@wn01: Job has gone over memory limit of 512 megabytes. Peak usage: 530 megabytes."
)
RESOURCES = [
    ResourceUsage("Cpus", 0.73, 1, 1),
    ResourceUsage("Disk", 18, 1048576, 1048576),
    ResourceUsage("Memory", 41, 512, 512),
]


def write_sample_log(path: Path) -> None:
    """Every event type the local pool writes, for cluster 4211 (the committed fixture)."""
    with EventLogWriter(path, host="wn01") as log:
        for proc in range(4):
            log.submit(4211, proc, when=T0)
        log.execute(4211, 0, slot_name="slot1_1@wn01", provisioned={"Cpus": 1, "Memory": 512, "Disk": 1048576},
                    when=T0 + 5)
        log.image_size(4211, 0, image_size_kb=41000, memory_usage_mb=41, resident_set_size_kb=41000, when=T0 + 6)
        log.terminated(4211, 0, return_value=0, run_usage=Usage(61.4, 2.2), resources=RESOURCES, when=T0 + 95)
        log.execute(4211, 1, slot_name="slot1_2@wn01", when=T0 + 5)
        log.terminated(4211, 1, return_value=3, run_usage=Usage(10, 1), total_usage=Usage(12, 1), when=T0 + 20)
        log.execute(4211, 2, slot_name="slot1_3@wn01", when=T0 + 5)
        log.terminated(4211, 2, signal=9, run_usage=Usage(3, 0), resources=RESOURCES, when=T0 + 9)
        log.execute(4211, 3, slot_name="slot1_4@wn01", when=T0 + 5)
        log.held(4211, 3, reason=MEMORY_REASON, code=34, subcode=102, when=T0 + 30)
        log.released(4211, 3, reason="via condor_release (by user prodops)", when=T0 + 40)
        log.execute(4211, 3, slot_name="slot1_4@wn01", when=T0 + 45)
        log.evicted(4211, 3, run_usage=Usage(4, 1), reason="the local pool's runner restarted", when=T0 + 50)
        log.aborted(4211, 3, reason="via condor_rm (by user prodops)", when=T0 + 60)


EXPECTED = [
    (0, "SUBMIT"), (1, "SUBMIT"), (2, "SUBMIT"), (3, "SUBMIT"),
    (0, "EXECUTE"), (0, "IMAGE_SIZE"), (0, "JOB_TERMINATED"),
    (1, "EXECUTE"), (1, "JOB_TERMINATED"),
    (2, "EXECUTE"), (2, "JOB_TERMINATED"),
    (3, "EXECUTE"), (3, "JOB_HELD"), (3, "JOB_RELEASED"), (3, "EXECUTE"), (3, "JOB_EVICTED"), (3, "JOB_ABORTED"),
]


@pytest.fixture
def sample_log(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.log"
    write_sample_log(path)
    return path


def test_committed_fixture_is_what_the_writer_writes(sample_log):
    assert FIXTURE.read_text() == sample_log.read_text(), (
        "tests/fixtures/eventlogs/local_pool.log is stale: regenerate it with write_sample_log()"
    )


def test_every_event_type_round_trips_through_job_event_log(sample_log):
    events = list(htcondor2.JobEventLog(str(sample_log)).events(stop_after=0))
    assert [(e.proc, e.type.name) for e in events] == EXPECTED
    assert all(e.cluster == 4211 for e in events)
    assert events[0].timestamp == T0
    by_kind = {(e.proc, e.type.name): e for e in events}

    execute = by_kind[(0, "EXECUTE")]
    assert execute["SlotName"] == "slot1_1@wn01"
    assert execute["ExecuteHost"].startswith("<127.0.0.1:")
    assert execute["ExecuteProps"]["MemoryProvisioned"] == 512

    image = by_kind[(0, "IMAGE_SIZE")]
    assert (image["Size"], image["MemoryUsage"], image["ResidentSetSize"]) == (41000, 41, 41000)

    ok = by_kind[(0, "JOB_TERMINATED")]
    assert ok["TerminatedNormally"] is True and ok["ReturnValue"] == 0
    assert "TerminatedBySignal" not in ok
    assert ok["RunRemoteUsage"] == "Usr 0 00:01:01, Sys 0 00:00:02"
    assert (ok["CpusUsage"], ok["MemoryUsage"], ok["RequestMemory"], ok["Memory"]) == (0.73, 41, 512, 512)
    assert (ok["DiskUsage"], ok["RequestDisk"]) == (18, 1048576)
    assert ok.timestamp == T0 + 95

    failed = by_kind[(1, "JOB_TERMINATED")]
    assert failed["ReturnValue"] == 3
    assert failed["TotalRemoteUsage"] == "Usr 0 00:00:12, Sys 0 00:00:01"

    killed = by_kind[(2, "JOB_TERMINATED")]
    assert killed["TerminatedNormally"] is False and killed["TerminatedBySignal"] == 9
    assert "ReturnValue" not in killed

    held = by_kind[(3, "JOB_HELD")]
    assert held["HoldReason"] == MEMORY_REASON
    assert (held["HoldReasonCode"], held["HoldReasonSubCode"]) == (34, 102)

    assert by_kind[(3, "JOB_RELEASED")]["Reason"] == "via condor_release (by user prodops)"
    evicted = by_kind[(3, "JOB_EVICTED")]
    assert evicted["Reason"] == "the local pool's runner restarted"
    assert evicted["RunRemoteUsage"] == "Usr 0 00:00:04, Sys 0 00:00:01"
    assert by_kind[(3, "JOB_ABORTED")]["Reason"] == "via condor_rm (by user prodops)"


def test_read_events_flattens_records_with_offsets(sample_log):
    records, offset = read_events(sample_log)
    assert [(r.proc_id, r.event_type) for r in records] == EXPECTED
    assert offset == sample_log.stat().st_size
    assert [r.log_offset for r in records] == sorted({r.log_offset for r in records})
    assert records[-1].log_offset == offset
    execute = records[4]
    assert execute.data["ExecuteProps"] == {"CpusProvisioned": 1, "DiskProvisioned": 1048576, "MemoryProvisioned": 512}
    assert records[0].event_time == float(T0)


def test_reading_from_each_offset_gives_the_rest_once(sample_log):
    records, _ = read_events(sample_log)
    for index, record in enumerate(records):
        rest, end = read_events(sample_log, record.log_offset)
        assert [(r.proc_id, r.event_type) for r in rest] == EXPECTED[index + 1:]
        assert end == sample_log.stat().st_size


def test_limit_caps_one_call(sample_log):
    first, offset = read_events(sample_log, limit=5)
    second, end = read_events(sample_log, offset)
    assert len(first) == 5
    assert [(r.proc_id, r.event_type) for r in first + second] == EXPECTED


def test_truncated_log_stops_at_the_last_whole_event_and_resumes(sample_log, tmp_path):
    data = sample_log.read_bytes()
    held = data.index(b"012 (4211.003.000)")
    cut = held + 40  # inside the held event's reason line
    partial = tmp_path / "partial.log"
    partial.write_bytes(data[:cut])
    before, offset = read_events(partial)
    assert [(r.proc_id, r.event_type) for r in before] == EXPECTED[:12]
    assert offset == held
    assert read_events(partial, offset) == ([], offset)
    partial.write_bytes(data)
    after, end = read_events(partial, offset)
    assert [(r.proc_id, r.event_type) for r in before + after] == EXPECTED
    assert after[0].data["HoldReasonCode"] == 34
    assert end == len(data)


def test_an_event_that_is_not_utf8_is_skipped_and_reported_not_raised(sample_log):
    """A byte a job wrote into its hold reason that is not UTF-8 (the bindings decode events as
    UTF-8): found by tests/unit/test_parser_fuzz.py, it had stopped every read of the log."""
    from prodops.batch.eventlog import read_event_log

    data = sample_log.read_bytes()
    reason = data.index(b"Job has gone over memory limit")
    sample_log.write_bytes(data[:reason] + b"\x80" + data[reason:])
    read = read_event_log(sample_log)
    assert [(r.proc_id, r.event_type) for r in read.records] == [e for e in EXPECTED if e != (3, "JOB_HELD")]
    [problem] = read.problems
    assert "not UTF-8" in str(problem) and problem.proc_id == 3 and problem.offset < reason < problem.end
    assert read.offset == len(data) + 1


def test_every_truncation_point_yields_each_event_exactly_once(sample_log, tmp_path):
    data = sample_log.read_bytes()
    full, _ = read_events(sample_log)
    partial = tmp_path / "partial.log"
    for cut in range(0, len(data) + 1, 3):
        partial.write_bytes(data[:cut])
        head, offset = read_events(partial)
        partial.write_bytes(data)
        tail, end = read_events(partial, offset)
        assert [r.data for r in head + tail] == [r.data for r in full], f"cut at byte {cut}"
        assert end == len(data)


def test_missing_log_has_no_events_yet(tmp_path):
    assert read_events(tmp_path / "not-yet.log") == ([], 0)


@pytest.mark.parametrize(
    ("offset", "message"),
    [(10**9, "reset the submission's event offset to 0"), (7, "is not the end of an event"), (-1, "negative")],
)
def test_bad_offsets_are_refused(sample_log, offset, message):
    with pytest.raises(BadEventLog, match=message):
        read_events(sample_log, offset)


def test_stored_offset_for_a_vanished_log_is_refused(tmp_path):
    with pytest.raises(BadEventLog, match="is gone"):
        read_events(tmp_path / "gone.log", 120)


def test_repair_cuts_a_partial_last_event(sample_log):
    data = sample_log.read_bytes()
    sample_log.write_bytes(data + b"005 (4211.001.000) 2025-11-25 10:00:00Z Job termin")
    writer = EventLogWriter(sample_log)
    assert writer.repair() == len(b"005 (4211.001.000) 2025-11-25 10:00:00Z Job termin")
    assert sample_log.read_bytes() == data
    writer.released(4211, 3, reason="again")
    writer.close()
    records, _ = read_events(sample_log)
    assert records[-1].event_type == "JOB_RELEASED" and records[-1].data["Reason"] == "again"


def test_each_event_is_one_whole_append(sample_log):
    text = sample_log.read_text()
    events = text.split("...\n")
    assert events[-1] == ""
    assert all(e[:3].isdigit() for e in events[:-1])


def test_rusage_format_round_trips():
    usage = Usage(user_s=90061.0, sys_s=59.9)
    assert format_rusage(usage) == "Usr 1 01:01:01, Sys 0 00:00:59"
    assert parse_rusage(format_rusage(usage)) == Usage(90061.0, 59.0)
    with pytest.raises(BadEventLog, match="malformed"):
        parse_rusage("garbage")


def test_terminated_needs_exactly_one_outcome(tmp_path):
    with EventLogWriter(tmp_path / "x.log") as log, pytest.raises(ValueError, match="exactly one"):
        log.terminated(1, 0, return_value=0, signal=9)


# ---- a real pool's log: eviction, signal, hold, abort, shadow exception, disconnect/reconnect

POOL_LOG = Path(__file__).resolve().parents[2] / "fixtures" / "eventlogs" / "pool_cluster5001.log"
POOL_EVENTS = [
    (0, "SUBMIT"), (1, "SUBMIT"), (2, "SUBMIT"), (3, "SUBMIT"), (4, "SUBMIT"),
    (0, "EXECUTE"), (1, "EXECUTE"), (0, "IMAGE_SIZE"), (2, "JOB_HELD"), (3, "EXECUTE"), (3, "SHADOW_EXCEPTION"),
    (2, "JOB_ABORTED"), (1, "JOB_EVICTED"), (3, "EXECUTE"), (1, "EXECUTE"), (0, "JOB_TERMINATED"),
    (3, "JOB_TERMINATED"), (1, "JOB_TERMINATED"), (4, "EXECUTE"), (4, "JOB_DISCONNECTED"), (4, "JOB_RECONNECTED"),
    (4, "JOB_DISCONNECTED"), (4, "JOB_RECONNECT_FAILED"), (4, "EXECUTE"), (4, "JOB_TERMINATED"),
]


def test_pool_log_events_are_read_with_their_facts():
    records, end = read_events(POOL_LOG)
    assert [(r.proc_id, r.event_type) for r in records] == POOL_EVENTS and end == POOL_LOG.stat().st_size
    by = {(r.proc_id, r.event_type): r.data for r in records}
    assert by[(2, "JOB_HELD")]["HoldReasonCode"] == 13 and by[(2, "JOB_HELD")]["HoldReasonSubCode"] == 2
    assert by[(1, "JOB_TERMINATED")]["TerminatedBySignal"] == 9
    assert parse_rusage(by[(1, "JOB_EVICTED")]["RunRemoteUsage"]) == Usage(2100.0, 20.0)
    assert by[(3, "SHADOW_EXCEPTION")]["Message"] == "Error from slot1_7@wn-101.example.org: Failed to transfer files"
    assert by[(4, "JOB_RECONNECT_FAILED")]["Reason"].startswith("Job disconnected too long")
    assert by[(4, "JOB_RECONNECTED")]["StartdName"] == "slot1_2@wn-033.fnal.gov"
    assert records[0].event_time == 1764057600.0  # 2025-11-25 08:00:00Z


def test_pool_log_cut_anywhere_yields_each_event_exactly_once(tmp_path):
    data = POOL_LOG.read_bytes()
    full, _ = read_events(POOL_LOG)
    partial = tmp_path / "partial.log"
    for cut in range(0, len(data) + 1, 7):
        partial.write_bytes(data[:cut])
        head, offset = read_events(partial)
        assert offset <= cut and (offset == 0 or data[offset - 4:offset] == b"...\n"), f"cut at byte {cut}"
        with open(partial, "ab") as f:  # the writer goes on: the rest arrives in two pieces
            f.write(data[cut:(cut + len(data)) // 2])
        middle, offset = read_events(partial, offset)
        partial.write_bytes(data)
        tail, end = read_events(partial, offset)
        assert [r.log_offset for r in head + middle + tail] == [r.log_offset for r in full], f"cut at byte {cut}"
        assert end == len(data)


def test_utc_event_times_do_not_depend_on_the_local_time_zone(monkeypatch):
    """htcondor2's JobEvent.timestamp reads '...Z' as local time; read_events does not."""
    import time as time_module

    monkeypatch.setenv("TZ", "America/Chicago")
    time_module.tzset()
    try:
        records, _ = read_events(POOL_LOG)
    finally:
        monkeypatch.delenv("TZ")
        time_module.tzset()
    assert records[0].event_time == 1764057600.0  # 2025-11-25 08:00:00Z, not 14:00Z
