"""MetaCat datasets through MetaCat's REST API (what ``metacat-client`` calls).

``metacat:<namespace>:<name>`` (or ``metacat://<namespace>:<name>``) names a dataset of the
MetaCat server whose base URL (``https://metacat.fnal.gov:9443/dune_meta_prod/app``) is the
host of the Airflow connection ``metacat_default`` (``PRODOPS_METACAT_CONN_ID``). Two calls:
``GET data/dataset?dataset=<ns>:<name>`` (404 when there is none) and ``POST
data/query?with_meta=yes`` with the MQL ``files from <ns>:<name>``: files with ``name``, ``size``
and the ``core.event_count`` metadata, as a JSON list or a JSON text sequence. Read-only calls need
no token. Not through ``metacat-client`` itself: its requests retry a 503 for up to 30 minutes
whatever the timeout, and it brings requests, pyjwt, lark and pythreader for two GETs and a POST.
"""

from __future__ import annotations

import json
import re

from prodops import config
from prodops.datasets import server
from prodops.datasets.model import DatasetFile, DatasetInvalid, catalogue_file, checked_count

SERVICE = "MetaCat"
DATASET = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.+\-]{0,199}):([A-Za-z0-9][A-Za-z0-9_.+\-]{0,199})")
EXAMPLE = "https://metacat.fnal.gov:9443/dune_meta_prod/app"


def dataset_name(name: str) -> str:
    """``<namespace>:<name>`` from ``metacat:<namespace>:<name>`` or ``metacat://<namespace>:<name>``."""
    return name.removeprefix("metacat:").removeprefix("//")


def dataset_error(name: str) -> str | None:
    if not DATASET.fullmatch(dataset_name(name)):
        return (
            f"{name!r}: give a MetaCat dataset after metacat: as <namespace>:<name> (letters, digits,"
            " '_ . + -'), e.g. metacat:hd-protodune:raw_run12345"
        )
    if problem := server.connection_problem(config.metacat_conn_id(), SERVICE, EXAMPLE):
        return f"{name!r} needs the MetaCat service: {problem}"
    return None


def resolve(name: str) -> list[DatasetFile]:
    """The dataset's files now, sorted by name, with sizes and event counts."""
    base = server.base_url(config.metacat_conn_id())
    did = dataset_name(name)
    server.call_json(name, SERVICE, f"{base}/data/dataset", params={"dataset": did})
    # The MQL is built from the checked name only: namespace and name are letters, digits and '_ . + -'.
    params = {"with_meta": "yes", "with_provenance": "no"}
    answer = server.call(name, SERVICE, f"{base}/data/query", params=params, body=f"files from {did}".encode())
    files = []
    for entry in _entries(name, answer):
        if not isinstance(entry, dict):
            raise DatasetInvalid(f"{name!r}: MetaCat's query listed {str(entry)[:100]!r}, not a file")
        metadata = entry.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        files.append(catalogue_file(name, entry.get("name"), entry.get("size"), metadata.get("core.event_count")))
    return checked_count(name, sorted(files, key=lambda f: f.path))


RECORD_SEPARATOR = "\x1e"
"""``application/json-seq`` (RFC 7464): each file a JSON text after this byte, as newer servers stream."""


def _entries(name: str, answer: bytes) -> list[object]:
    """The query's files from a JSON list, ``{"results": [...]}``, or a JSON text sequence, as the client reads them."""
    text = answer.decode("utf-8", "replace")
    try:
        if RECORD_SEPARATOR in text or not text.strip():  # an empty sequence is an empty body
            return [json.loads(part) for part in text.split(RECORD_SEPARATOR) if part.strip()]
        result = json.loads(text)
    except ValueError:
        raise DatasetInvalid(f"{name!r}: MetaCat's query answered {server.shown(text[:200])!r}, not JSON") from None
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        error = server.shown(f"{result['error'].get('type')}: {result['error'].get('value')}")
        raise DatasetInvalid(f"{name!r}: MetaCat's query failed: {error}")
    if isinstance(result, dict) and "results" in result:
        result = result["results"]
    if not isinstance(result, list):
        raise DatasetInvalid(
            f"{name!r}: MetaCat's query answered {server.shown(str(result)[:100])!r}, not a list of files"
        )
    return result
