"""Tails of job logs: huge sparse, binary, non-UTF-8, missing, growing files and the workdir boundary."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

from prodops.batch.eventlog import EventLogWriter
from prodops.triage.tail import (
    LogLocation, LogPathRefused, check_lines, event_log_tails, job_tail, read_tail,
)

GB = 1 << 30


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def numbered(n: int) -> str:
    return "".join(f"line {i}\n" for i in range(1, n + 1))


@pytest.mark.parametrize("lines", [10, 50, 200])
def test_last_n_lines_with_their_numbers(tmp_path, lines):
    tail = read_tail(write(tmp_path / "job.0.out", numbered(1000)), lines=lines)
    assert tail.status == "ok" and len(tail.lines) == lines
    assert tail.lines[-1] == "line 1000" and tail.lines[0] == f"line {1001 - lines}"
    assert tail.line_number(0) == 1001 - lines and tail.line_number(lines - 1) == 1000
    assert tail.from_end(lines - 1) == 1 and tail.truncated


@pytest.mark.parametrize("total", [11, 49, 50, 51, 60, 99, 100, 101, 160])
def test_the_last_lines_are_kept_however_many_the_file_has_beyond_them(tmp_path, total):
    """A file a little longer than the tail drops its first lines counted from the start, a much
    longer one keeps its last counted from the end: the same lines either way."""
    tail = read_tail(write(tmp_path / "job.0.out", numbered(total)), lines=50)
    want = [f"line {i}" for i in range(max(1, total - 49), total + 1)]
    assert tail.lines == want and tail.count == len(want) and tail.line_number(0) == max(1, total - 49)


def test_short_file_is_read_whole_and_a_last_line_without_newline_is_kept(tmp_path):
    tail = read_tail(write(tmp_path / "f", "a\nb\nc"), lines=50)
    assert tail.lines == ["a", "b", "c"] and tail.first_line == 1 and not tail.truncated


def test_crlf_line_ends_are_stripped(tmp_path):
    assert read_tail(write(tmp_path / "f", "a\r\nb\r\n")).lines == ["a", "b"]


def test_huge_sparse_file_reads_only_its_end(tmp_path):
    path = tmp_path / "job.0.err"
    with open(path, "wb") as f:
        f.truncate(2 * GB)  # sparse: 2 GB of NULs that take no disk
        f.seek(2 * GB)
        f.write(b"".join(b"event %d\n" % i for i in range(100)) + b"%MSG-s ArtException: fatal\n")
    started = time.perf_counter()
    tail = read_tail(path, lines=50)
    assert time.perf_counter() - started < 1.0
    assert tail.size > 2 * GB and tail.bytes_read <= 50 * 2048
    assert tail.lines[-1] == "%MSG-s ArtException: fatal" and tail.lines[0] == "event 51"
    assert tail.first_line is None and tail.truncated  # too big to know absolute line numbers


def test_huge_sparse_file_of_nuls_only_is_bounded_and_flagged_binary(tmp_path):
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.truncate(GB + 5)
    tail = read_tail(path, lines=10)
    assert tail.bytes_read <= 10 * 2048 and tail.binary
    assert len(tail.lines) == 1 and "\x00" not in tail.lines[0] and len(tail.lines[0]) < 2100


def test_binary_and_non_utf8_bytes_never_raise(tmp_path):
    data = b"ok line\n\xff\xfe\x00\x01garbage\x07\nlatin1 caf\xe9\n"
    tail = read_tail(write(tmp_path / "f", data))
    assert tail.binary and tail.lines[0] == "ok line"
    assert all("\x00" not in l and "\x07" not in l for l in tail.lines)
    assert tail.lines[2] == "latin1 caf\ufffd"


def test_one_runaway_line_is_cut(tmp_path):
    path = write(tmp_path / "f", "x" * 500_000 + "\nlast\n")
    tail = read_tail(path, lines=2, max_bytes=1 << 20)
    assert tail.lines[-1] == "last" and "more characters cut" in tail.lines[0] and tail.truncated
    assert len(tail.lines[0]) < 2100
    assert read_tail(path, lines=2).lines == ["last"]  # the bound reached mid-line: the partial line is dropped


def test_missing_empty_and_non_regular_files(tmp_path):
    assert read_tail(tmp_path / "nope").status == "missing"
    assert read_tail(write(tmp_path / "empty", "")).status == "empty"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_tail(fifo).status == "refused"  # and it did not block waiting for a writer
    assert read_tail(tmp_path).status in ("refused", "unreadable")


def test_a_symlink_out_of_the_workdir_is_refused(tmp_path):
    secret = write(tmp_path / "secret", "password\n")
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "job.0.out").symlink_to(secret)
    loc = LogLocation.from_submission({"id": 1, "workdir": str(workdir), "event_log": str(workdir / "jobs.log")})
    tail = read_tail(loc.stdout(0))
    assert tail.status == "refused" and tail.lines == [] and "symbolic link" in tail.error


def test_event_log_outside_the_workdir_is_refused(tmp_path):
    (tmp_path / "w").mkdir()
    with pytest.raises(LogPathRefused, match="outside its workdir"):
        LogLocation.from_submission({"id": 7, "workdir": str(tmp_path / "w"), "event_log": "/etc/passwd"})
    with pytest.raises(LogPathRefused, match="outside"):
        LogLocation.from_submission({"id": 7, "workdir": str(tmp_path / "w"), "event_log": "../x.log"})
    with pytest.raises(LogPathRefused, match="no workdir"):
        LogLocation.from_submission({"id": 7, "workdir": "", "event_log": ""})


def test_job_numbers_only(tmp_path):
    loc = LogLocation.from_submission({"id": 1, "workdir": str(tmp_path), "event_log": ""})
    assert loc.stdout(3) == str(tmp_path.resolve() / "job.3.out") and loc.event_log.name == "jobs.log"
    for bad in (-1, "../../etc/passwd", True):
        with pytest.raises(LogPathRefused):
            loc.stdout(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, 201, "50", True])
def test_line_counts_are_checked(bad):
    with pytest.raises(ValueError, match="1 to 200"):
        check_lines(bad)


def test_growing_file_gives_a_consistent_snapshot(tmp_path):
    path = write(tmp_path / "f", numbered(100))
    stop = threading.Event()

    def grow():
        with open(path, "a") as f:
            i = 0
            while not stop.is_set():
                f.write(f"more {i}\n" + ("partial" if i % 3 == 0 else ""))
                f.flush()
                i += 1

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        for _ in range(200):
            tail = read_tail(path, lines=10)
            assert tail.status == "ok" and len(tail.lines) == 10
            assert tail.bytes_read <= tail.size
    finally:
        stop.set()
        writer.join()


def _event_log(path: Path) -> None:
    with EventLogWriter(path, host="node1") as w:
        w.submit(12, 0, when=0)
        w.submit(12, 1, when=0)
        w.execute(12, 0, slot_name="slot1_1@node1", when=10)
        w.execute(12, 1, slot_name="slot1_2@node1", when=10)
        w.terminated(12, 1, return_value=0, when=20)
        w.terminated(12, 0, signal=11, when=30)


def test_event_log_split_per_job_with_file_line_numbers(tmp_path):
    path = tmp_path / "jobs.log"
    _event_log(path)
    text = path.read_text().split("\n")
    tails, whole = event_log_tails(path, lines=50)
    assert whole.status == "ok" and set(tails) == {(12, 0), (12, 1)}
    job0 = tails[(12, 0)]
    assert job0.lines[0].startswith("000 (012.000.000)")
    assert any("Abnormal termination (signal 11)" in l for l in job0.lines)
    assert not any(l.startswith("000 (012.001") for l in job0.lines)
    for i, line in enumerate(job0.lines):
        assert text[job0.line_number(i) - 1].rstrip("\r") == line


def test_event_log_bounded_read_skips_the_partial_first_event(tmp_path):
    path = tmp_path / "jobs.log"
    _event_log(path)
    size = path.stat().st_size
    tails, whole = event_log_tails(path, lines=50, max_bytes=size // 2)
    assert whole.truncated and all(t.line_number(0) is None for t in tails.values())
    assert all(t.lines[0][:3].isdigit() for t in tails.values())


def test_job_tail_reads_the_three_streams_from_the_submission_record(tmp_path):
    _event_log(tmp_path / "jobs.log")
    write(tmp_path / "job.0.out", "hello\n")
    loc = LogLocation.from_submission({"id": 1, "workdir": str(tmp_path), "event_log": str(tmp_path / "jobs.log")})
    jt = job_tail(loc, 12, 0, lines=50)
    assert jt.stdout.lines == ["hello"] and jt.stderr.status == "missing"
    assert jt.eventlog.lines and jt.to_dict()["eventlog"]["lines"][0]["n"] == 1
    assert job_tail(loc, 99, 0).eventlog.status == "empty"


# ---- XML event logs (log_xml = True): the same per-job tails as from a text log

EVENTLOGS = Path(__file__).resolve().parents[2] / "fixtures" / "eventlogs"
CHTC_TEXT = EVENTLOGS / "real" / "chtc_65101544.log"
CHTC_XML = EVENTLOGS / "converted" / "chtc_65101544.xml"  # the same events, as HTCondor writes them in XML
CHTC_CLUSTER = 65101544
XML_PROLOG = '<?xml version="1.0"?>\n<!DOCTYPE classads SYSTEM "classads.dtd">\n<classads>\n'


def _xml_values(tail, name: str) -> list[str]:
    """The values of attribute ``name`` in the tail's XML lines (``<a n="Proc"><i>2</i></a>`` -> "2")."""
    value = re.compile(rf'<a n="{name}"><\w+>([^<]*)<')
    return [m[1] for line in tail.lines if (m := value.search(line))]


def test_xml_event_log_split_per_job_with_file_line_numbers(tmp_path):
    path = write(tmp_path / "jobs.log", CHTC_XML.read_text())
    text = path.read_text().split("\n")
    tails, whole = event_log_tails(path, lines=200)
    text_tails, _ = event_log_tails(write(tmp_path / "text.log", CHTC_TEXT.read_text()), lines=200)
    assert whole.status == "ok" and set(tails) == set(text_tails) == {(CHTC_CLUSTER, p) for p in range(4)}
    held = tails[(CHTC_CLUSTER, 2)]
    assert held.lines[0] == "<c>" and held.lines[-1] == "</c>"
    assert _xml_values(held, "Proc") == ["2"] * held.lines.count("<c>")  # only job 2's events
    assert held.lines.count("<c>") == sum(line[:3].isdigit() for line in text_tails[(CHTC_CLUSTER, 2)].lines)
    assert any("Failed to execute" in line for line in held.lines)
    for i, line in enumerate(held.lines):
        assert text[held.line_number(i) - 1] == line


def test_xml_event_log_prolog_is_no_job_line(tmp_path):
    path = write(tmp_path / "jobs.log", XML_PROLOG + CHTC_XML.read_text() + "</classads>\n")
    tails, _ = event_log_tails(path, lines=200)
    first = tails[(CHTC_CLUSTER, 0)]
    assert first.lines[0] == "<c>" and first.line_number(0) == 4
    assert not any("classads" in line for t in tails.values() for line in t.lines)


def test_xml_event_log_bounded_read_skips_the_partial_first_event(tmp_path):
    path = write(tmp_path / "jobs.log", CHTC_XML.read_text())
    data = path.read_text()
    cut = data.index('    <a n="Cluster">', data.index("<c>", len(data) // 2))  # inside an event, at a '<' line
    tails, whole = event_log_tails(path, lines=200, max_bytes=len(data) - cut)
    assert whole.truncated and tails
    for tail in tails.values():
        assert tail.line_number(0) is None and tail.lines[0] == "<c>" and tail.lines[-1] == "</c>"
        assert tail.lines.count("<c>") == tail.lines.count("</c>")  # whole events only
    assert sum(t.lines.count("<c>") for t in tails.values()) == data[cut:].count("\n<c>\n")


def test_a_bounded_read_of_a_text_log_that_starts_at_a_bracket_is_still_text(tmp_path):
    """The format is the file's, not the read's: a text log cut at '<' (a host address) is no XML."""
    path = write(tmp_path / "jobs.log", CHTC_TEXT.read_text())
    data = path.read_text()
    cut = data.index("<", data.index("001 (65101544.000.000)"))
    tails, whole = event_log_tails(path, lines=200, max_bytes=len(data) - cut)
    assert whole.truncated and (CHTC_CLUSTER, 0) in tails
    assert all(t.lines[0][:3].isdigit() for t in tails.values())


def test_job_tail_reads_an_xml_event_log(tmp_path):
    write(tmp_path / "jobs.log", CHTC_XML.read_text())
    loc = LogLocation.from_submission({"id": 1, "workdir": str(tmp_path), "event_log": str(tmp_path / "jobs.log")})
    eventlog = job_tail(loc, CHTC_CLUSTER, 3, lines=10).eventlog
    assert eventlog.status == "ok" and len(eventlog.lines) == 10 and eventlog.lines[-1] == "</c>"
    assert set(_xml_values(eventlog, "Proc")) <= {"3"}
