"""``keepup:<campaign>:<batch>``: the files the keepup follower claimed for one batch.

The follower's requests name their batch, not the campaign's dataset: the batch's files were
resolved (names, sizes, events) and claimed when it was recorded, so the request reads exactly
those, whatever the dataset holds by the time it is submitted.
"""

from __future__ import annotations

import re

from prodops import config
from prodops.datasets.model import DatasetFile, DatasetInvalid, checked_count

PREFIX = "keepup:"
NAME = re.compile(r"keepup:([A-Za-z0-9][A-Za-z0-9_.+\-]{0,127}):([1-9][0-9]{0,8})")


def dataset_error(name: str) -> str | None:
    if not NAME.fullmatch(name):
        return f"{name!r}: a keepup batch is keepup:<campaign>:<batch number>, as the keepup follower names it"
    return None


def resolve(name: str) -> list[DatasetFile]:
    """The batch's claimed files, by path."""
    from prodops.store.db import connect, q, url_from_connection

    match = NAME.fullmatch(name)
    if match is None:
        raise DatasetInvalid(dataset_error(name) or name)
    with connect(config.db_url() or url_from_connection()) as conn:
        rows = conn.execute(q("keepup_batch_files"), {"campaign": match[1], "batch": int(match[2])}).fetchall()
    return checked_count(name, [DatasetFile(r["path"], r["events"], r["size_bytes"]) for r in rows])
