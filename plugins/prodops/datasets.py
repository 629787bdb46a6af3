"""Input datasets: the files a request's first stage reads.

``file://<glob>`` names files on this machine (the local pool and the keepup demo); a SAM
dataset definition needs the SAM service, which is not configured here.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass

from prodops.exceptions import ProdopsError

MAX_FILES = 100_000


class DatasetInvalid(ProdopsError):
    """An input dataset cannot be resolved to files."""


@dataclass(frozen=True)
class DatasetFile:
    path: str
    events: int


def dataset_error(name: str) -> str | None:
    """Why a dataset name cannot be used, or None; checked before anything is recorded."""
    if name.startswith("file://"):
        pattern = name[len("file://"):]
        if not pattern.startswith("/"):
            return f"{name!r}: give an absolute path after file://, e.g. file:///data/raw/*.raw"
        return None
    return (f"{name!r}: only file://<absolute glob> datasets are available on this installation"
            " (a SAM dataset definition needs the SAM service configured)")


def resolve_dataset(name: str) -> list[DatasetFile]:
    """The dataset's files in a stable order, with their event (record) counts."""
    if problem := dataset_error(name):
        raise DatasetInvalid(problem)
    paths = sorted(glob.glob(name[len("file://"):]))
    if not paths:
        raise DatasetInvalid(f"{name!r} matches no file; check the path and the glob")
    if len(paths) > MAX_FILES:
        raise DatasetInvalid(f"{name!r} matches {len(paths)} files, more than {MAX_FILES}; split the request")
    files = []
    for path in paths:
        with open(path, "rb") as handle:
            files.append(DatasetFile(path, sum(1 for line in handle if line.strip())))
    return files
