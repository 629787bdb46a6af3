"""SAM dataset definitions through the samweb HTTP API, as samweb_client calls it.

``sam:<definition>`` (or ``sam://<definition>``) names a definition of the experiment's
samweb server, whose API base URL (``https://samweb.fnal.gov:8483/sam/<experiment>/api``)
is the host of the Airflow connection ``samweb_default`` (``PRODOPS_SAMWEB_CONN_ID``).
Two calls: ``definitions/name/<def>/files/summary`` (the file count, refused when empty
or too large before the list is read) and ``definitions/name/<def>/files/list?fileinfo=1``
(one line per file: name, file id, size in bytes, event count).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from prodops import config
from prodops.datasets import server
from prodops.datasets.model import MAX_FILES, DatasetFile, DatasetInvalid, catalogue_file, checked_count

SERVICE = "samweb"
DEFINITION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,199}")
EXAMPLE = "https://samweb.fnal.gov:8483/sam/nova/api"


def definition(name: str) -> str:
    """The definition's name in ``sam:<definition>`` or ``sam://<definition>``."""
    return name.removeprefix("sam:").removeprefix("//")


def dataset_error(name: str) -> str | None:
    if not DEFINITION.fullmatch(definition(name)):
        return (
            f"{name!r}: give a SAM definition name after sam: (letters, digits, '_ . + -'), e.g. sam:nova_raw_run12345"
        )
    if problem := server.connection_problem(config.samweb_conn_id(), SERVICE, EXAMPLE):
        return f"{name!r} needs the SAM service: {problem}"
    return None


def resolve(name: str) -> list[DatasetFile]:
    """The definition's files now, sorted by name, with sizes and event counts."""
    url = f"{server.base_url(config.samweb_conn_id())}/definitions/name/{quote(definition(name), safe='')}/files"
    summary = server.call_json(name, SERVICE, f"{url}/summary", params={"format": "json"})
    count = summary.get("file_count") if isinstance(summary, dict) else None
    if not isinstance(count, int):
        raise DatasetInvalid(f"{name!r}: samweb's summary has no file_count ({str(summary)[:100]!r})")
    if count > MAX_FILES:
        raise DatasetInvalid(f"{name!r} has {count} files, more than {MAX_FILES}; split the request")
    if count == 0:
        return checked_count(name, [])
    lines = server.call(name, SERVICE, f"{url}/list", params={"fileinfo": "1"}).decode("utf-8", "replace")
    files = []
    for line in lines.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4:
            raise DatasetInvalid(f"{name!r}: samweb listed {line[:100]!r}; expected 'name id size events'")
        events = None if fields[3] in ("None", "-") else fields[3]
        files.append(catalogue_file(name, fields[0], fields[2], events))
    return checked_count(name, sorted(files, key=lambda f: f.path))
