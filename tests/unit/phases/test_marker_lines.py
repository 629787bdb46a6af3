"""Finding marker lines in a job's stdout by chunks: the same lines and numbers at any chunk size."""

from __future__ import annotations

import os

import pytest

from prodops.phases import harvest
from prodops.phases.markers import MAX_MARKER_LINE

STDOUT = (
    "demo job 0 starting\r\n"
    "@@prodops phase=process state=started\r\n"
    + "x" * (MAX_MARKER_LINE + 10) + " @@prodops phase=hidden state=started\n"  # too long to be a marker
    "work\n"
    "12:00:01 @@prodops phase=process state=finished status=0\n"
    "\n"
    "@@prodops phase=copy-out state=started"  # no newline at the end
)
EXPECTED = [(2, "@@prodops phase=process state=started"),
            (5, "12:00:01 @@prodops phase=process state=finished status=0"),
            (7, "@@prodops phase=copy-out state=started")]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 4096, 1 << 20])
def test_marker_lines_are_found_and_numbered_at_any_chunk_size(tmp_path, chunk_bytes):
    path = tmp_path / "job.0.out"
    path.write_bytes(STDOUT.encode())
    assert list(harvest.marker_lines(str(path), chunk_bytes=chunk_bytes)) == EXPECTED


def test_a_missing_file_has_no_lines_and_a_symlink_or_a_fifo_is_not_read(tmp_path, caplog):
    assert list(harvest.marker_lines(str(tmp_path / "none.out"))) == []
    target = tmp_path / "elsewhere"
    target.write_text("@@prodops phase=x state=started\n")
    os.symlink(target, tmp_path / "job.1.out")
    os.mkfifo(tmp_path / "job.2.out")
    assert list(harvest.marker_lines(str(tmp_path / "job.1.out"))) == []
    assert list(harvest.marker_lines(str(tmp_path / "job.2.out"))) == []
    assert "symbolic link" in caplog.text and "not a regular file" in caplog.text


def test_reading_stops_at_the_cap(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(harvest, "MAX_STDOUT_BYTES", 100)
    path = tmp_path / "job.0.out"
    path.write_text("@@prodops phase=a state=started\n" + "y\n" * 100 + "@@prodops phase=b state=started\n")
    assert [n for n, _ in harvest.marker_lines(str(path), chunk_bytes=40)] == [1]
    assert "Stopped harvesting" in caplog.text
