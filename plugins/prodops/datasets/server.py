"""HTTP calls to a catalogue server (samweb, MetaCat): the base URL from an Airflow connection,
a timeout on every call, and errors that name the dataset and what the server answered."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from prodops import config
from prodops.batch.quoting import CONTROL
from prodops.datasets.model import DatasetInvalid

MAX_ANSWER = 200 * 1024 * 1024
"""Bytes read from one answer at most: 100,000 file lines fit many times over."""


def connection_problem(conn_id: str, service: str, example: str) -> str | None:
    """Why the service's connection cannot be used, or None; no network call."""
    try:
        base_url(conn_id)
    except DatasetInvalid as err:
        return f"{err} (the {service} service; e.g. host {example})"
    return None


def base_url(conn_id: str) -> str:
    """The API's base URL: the connection's host when it is a whole URL, else https://host[:port]/schema."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as err:  # noqa: BLE001 - AirflowNotFoundException and friends
        raise DatasetInvalid(
            f"no Airflow connection {conn_id!r}: add one (conn type http, host = the API's"
            f" base URL) ({type(err).__name__})"
        ) from None
    host = (conn.host or "").strip()
    if not host:
        raise DatasetInvalid(f"the Airflow connection {conn_id!r} has no host; set it to the API's base URL")
    if "://" in host:
        return host.rstrip("/")
    port = f":{conn.port}" if conn.port else ""
    path = f"/{conn.schema.strip('/')}" if conn.schema else ""
    return f"https://{host}{port}{path}"


def call(
    dataset: str, service: str, url: str, *, params: dict[str, str] | None = None, body: bytes | None = None
) -> bytes:
    """The answer's body; DatasetInvalid naming the dataset and the server's answer otherwise."""
    timeout = config.dataset_server_timeout_s()
    full = f"{url}?{urlencode(params)}" if params else url
    request = urllib.request.Request(
        full,
        data=body,
        method="POST" if body is not None else "GET",
        headers={"Accept": "application/json, text/plain"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) from the connection
            data = answer.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as err:
        text = shown(err.read(2000))
        raise DatasetInvalid(f"{dataset!r}: {service} answered {err.code} {err.reason}: {text!r}") from None
    except (TimeoutError, socket.timeout):
        raise _late(dataset, service, url, timeout) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError | socket.timeout):
            raise _late(dataset, service, url, timeout) from None
        raise DatasetInvalid(
            f"{dataset!r}: {service} at {url} cannot be reached ({shown(str(reason))});"
            " check the connection's host or try again when the service is up"
        ) from None
    if len(data) > MAX_ANSWER:
        raise DatasetInvalid(f"{dataset!r}: {service} answered more than {MAX_ANSWER} bytes; split the dataset")
    return data


def _late(dataset: str, service: str, url: str, timeout: float) -> DatasetInvalid:
    return DatasetInvalid(
        f"{dataset!r}: {service} at {url} did not answer within {timeout:g} s;"
        " try again later (PRODOPS_DATASET_TIMEOUT_S sets the limit)"
    )


def call_json(dataset: str, service: str, url: str, **kwargs: Any) -> Any:
    data = call(dataset, service, url, **kwargs)
    try:
        return json.loads(data)
    except ValueError:
        raise DatasetInvalid(f"{dataset!r}: {service} answered {shown(data[:200])!r}, not JSON") from None


def shown(text: bytes | str) -> str:
    """A server's words, short and without control characters, to quote in an error."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return CONTROL.sub(" ", text).strip()[:300]
