"""Input datasets: the files a request's first stage reads, behind one boundary.

The dataset URI's scheme picks the source, one module each: ``file://<absolute glob>``
(:mod:`.file`, files under the dataset roots), ``sam:<definition>`` (:mod:`.sam`, the samweb
HTTP API), ``metacat:<namespace>:<name>`` (:mod:`.metacat`, MetaCat's query API) and
``keepup:<campaign>:<batch>`` (:mod:`prodops.keepup.dataset`, the files the keepup follower
claimed for one request). Every
source returns :class:`~.model.DatasetFile` rows (name, events, bytes) or raises
:class:`~.model.DatasetInvalid` naming the dataset and the fix.
"""

from __future__ import annotations

from types import ModuleType

from prodops.datasets import file, metacat, sam
from prodops.datasets.model import DatasetFile, DatasetInvalid
from prodops.keepup import dataset as keepup_batch

SOURCES: dict[str, ModuleType] = {"file://": file, "sam:": sam, "metacat:": metacat, "keepup:": keepup_batch}
"""URI prefix -> the module that resolves it (``dataset_error`` and ``resolve``)."""


def _source(name: str) -> ModuleType | None:
    return next((module for prefix, module in SOURCES.items() if name.startswith(prefix)), None)


def dataset_error(name: str) -> str | None:
    """Why a dataset name cannot be used, or None; checked before anything is recorded, no network call."""
    source = _source(name)
    if source is None:
        return (
            f"{name!r}: give file://<absolute glob>, sam:<definition> or metacat:<namespace>:<name>"
            " (see the README's input datasets)"
        )
    return source.dataset_error(name)


def resolve_dataset(name: str) -> list[DatasetFile]:
    """The dataset's files in a stable order, with their event counts and sizes."""
    if problem := dataset_error(name):
        raise DatasetInvalid(problem)
    source = _source(name)
    assert source is not None, "dataset_error names every name without a source"
    return source.resolve(name)
