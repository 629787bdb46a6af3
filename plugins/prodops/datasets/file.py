"""``file://<absolute glob>``: files on this machine (the local pool and the keepup demo).

Only inside the configured dataset roots (:func:`prodops.config.dataset_roots`): the glob and
every file it matches must resolve, symlinks followed, under one of them.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from prodops import config
from prodops.batch.quoting import text_problem
from prodops.datasets.model import MAX_FILES, DatasetFile, DatasetInvalid

PREFIX = "file://"


def dataset_error(name: str) -> str | None:
    pattern = name[len(PREFIX) :]
    if not pattern.startswith("/"):
        return f"{name!r}: give an absolute path after file://, e.g. file:///data/raw/*.raw"
    if ".." in Path(pattern).parts:
        return f"{name!r}: '..' is not allowed in a dataset path; name the directory itself"
    return _outside_roots(name, _fixed_prefix(pattern), config.dataset_roots())


def _fixed_prefix(pattern: str) -> str:
    """The directory part of a glob before its first wildcard."""
    parts = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return os.path.join(*parts) if parts else "/"


def _outside_roots(name: str, path: str, roots: tuple[Path, ...]) -> str | None:
    real = Path(os.path.realpath(path))
    if any(real == root or root in real.parents for root in roots):
        return None
    listed = ", ".join(str(r) for r in roots) or "(none configured)"
    return (
        f"{name!r}: {path} is outside the dataset roots ({listed}); put the files under a root,"
        " or add one to include/datasets.yaml or PRODOPS_DATASET_ROOTS"
    )


def resolve(name: str) -> list[DatasetFile]:
    """The glob's files in a stable order, with their event (record) counts and sizes."""
    paths = sorted(glob.glob(name[len(PREFIX) :]))
    roots = config.dataset_roots()  # read once: a dataset may have 100,000 files
    for path in paths:
        if problem := _outside_roots(name, path, roots):
            raise DatasetInvalid(f"{problem} (a symlink leads out of the roots)")
        if problem := text_problem(path):
            raise DatasetInvalid(f"{name!r}: the file name {path!r} {problem}; rename the file")
    if not paths:
        raise DatasetInvalid(f"{name!r} matches no file; check the path and the glob")
    if len(paths) > MAX_FILES:
        raise DatasetInvalid(f"{name!r} matches {len(paths)} files, more than {MAX_FILES}; split the request")
    files = []
    for path in paths:
        with open(path, "rb") as handle:
            events = sum(1 for line in handle if line.strip())
            files.append(DatasetFile(path, events, os.fstat(handle.fileno()).st_size))
    return files
