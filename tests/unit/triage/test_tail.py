"""Tails of job logs: huge sparse, binary, non-UTF-8, missing, growing files and the workdir boundary."""

from __future__ import annotations

import os
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
