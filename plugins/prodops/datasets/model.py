"""What every dataset source returns: files with their sizes and event counts, or why not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

from prodops.batch.quoting import text_problem
from prodops.exceptions import ProdopsError

MAX_FILES = 100_000

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,254}")
"""A file name a catalogue (SAM, MetaCat) may give: one path component, no leading ``-``."""


class DatasetInvalid(ProdopsError):
    """An input dataset cannot be resolved to files."""


@dataclass(frozen=True)
class DatasetFile:
    path: str
    """A path under a dataset root (``file://``) or the catalogue's file name (SAM, MetaCat)."""
    events: int | None
    size_bytes: int


def catalogue_file(dataset: str, name: object, size: object, events: object) -> DatasetFile:
    """A catalogue's answer for one file, checked: it is untrusted text that reaches the jobs."""
    if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or text_problem(name):
        raise DatasetInvalid(
            f"{dataset!r}: the server gave the file name {str(name)[:80]!r}, not a plain file name"
            " (letters, digits, '_ . + -'); fix the catalogue entry"
        )
    if not _count(size):
        raise DatasetInvalid(f"{dataset!r}: the server gave file {name!r} the size {str(size)[:40]!r}; expected bytes")
    if events is not None and not _count(events):
        raise DatasetInvalid(f"{dataset!r}: the server gave file {name!r} the event count {str(events)[:40]!r}")
    return DatasetFile(name, None if events is None else int(events), int(size))


def _count(value: object) -> TypeGuard[int | str]:
    """A count as catalogues give it: a non-negative int or a string of digits."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isascii() and value.isdigit()


def checked_count(dataset: str, files: list[DatasetFile]) -> list[DatasetFile]:
    """``files`` unless there are none or too many for one request."""
    if not files:
        raise DatasetInvalid(f"{dataset!r} has no files; check the dataset's name and contents")
    if len(files) > MAX_FILES:
        raise DatasetInvalid(f"{dataset!r} has {len(files)} files, more than {MAX_FILES}; split the request")
    return files
