"""A campaign's dataset as the follower reads it: the file names now, then the details (size,
events) of only the new ones that go into batches.

``file://``: the glob itself (a directory listing), and each new file resolved alone through the
datasets boundary (roots checked, its events counted), so a run reads only what it claims.
``sam:`` and ``metacat:``: the catalogue's file list, which carries the details, minus the claimed
files (a SAM snapshot difference would need a snapshot per run: the list is one call either way).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from prodops.datasets import dataset_error, file, resolve_dataset
from prodops.datasets.model import DatasetFile, DatasetInvalid

EMPTY = "has no files; check the dataset's name and contents"
"""How the datasets boundary says a catalogue dataset is empty: for a campaign, nothing new yet."""


@dataclass(frozen=True)
class Listing:
    dataset: str
    names: tuple[str, ...]
    known: dict[str, DatasetFile] = field(default_factory=dict)
    """Details the listing brought (catalogues); ``file://`` files are read by :meth:`details`."""

    def details(self, names: Sequence[str]) -> list[DatasetFile]:
        if not self.dataset.startswith(file.PREFIX):
            return [self.known[name] for name in names]
        found = []
        for name in names:
            found.extend(file.resolve(file.PREFIX + glob.escape(name)))
        return found


def list_dataset(dataset: str) -> Listing:
    """The dataset's files now, in its order; an empty one lists nothing."""
    if problem := dataset_error(dataset):
        raise DatasetInvalid(problem)
    if dataset.startswith(file.PREFIX):
        names = sorted(p for p in glob.glob(dataset[len(file.PREFIX):]) if os.path.isfile(p))
        return Listing(dataset, tuple(names))
    try:
        files = resolve_dataset(dataset)
    except DatasetInvalid as err:
        if str(err).endswith(EMPTY):
            return Listing(dataset, ())
        raise
    return Listing(dataset, tuple(f.path for f in files), {f.path: f for f in files})
