"""Where the HTCondor pool is and how to authenticate to it, from an Airflow connection.

Nothing about a pool is in code: the collector, the schedd, the credential and the time
limits come from one connection (default ``htcondor_default``), of conn type ``htcondor``
or ``generic``:

``host`` / ``port``
    the pool's collector (central manager), port 9618 unless given. Empty: the machine's
    own HTCondor configuration (``COLLECTOR_HOST`` of its condor_config) is used.
``password``
    optional: an IDTOKEN, by value. prodops writes it to a private token directory
    (mode 0700/0600) and points ``SEC_TOKEN_DIRECTORY`` at it.
``extra`` (JSON)
    ``schedd``: the schedd's name as the collector knows it (``condor_status -schedd``);
    required with a remote collector unless ``schedd_address`` is given.
    ``schedd_address``: the schedd's sinful string (``<ip:port?...>``), to skip the collector.
    ``token_dir``: a directory of IDTOKEN files (``SEC_TOKEN_DIRECTORY``).
    ``token_file``: one IDTOKEN file (linked into a private token directory).
    ``timeout_s``: the deadline of every call to the pool, in seconds (default 60).
    ``config``: more HTCondor configuration for this process, ``{"KNOB": "value"}`` (e.g.
    ``SEC_CLIENT_AUTHENTICATION_METHODS``).
    What every job submitted to the pool gets (:class:`prodops.batch.grid.PoolSubmit`):
    ``experiments``: per experiment and role, ``accounting_group``, ``accounting_group_user``
    and the role's credential (``oauth_service`` / ``oauth_permissions``, ``token_file``,
    ``x509userproxy``), e.g. ``{"nova": {"production": {"accounting_group": "group_nova.prod",
    "accounting_group_user": "novapro"}}}``; ``credentials``: ``oauth``, ``token_file``,
    ``x509`` or ``none``; ``filesystem``: ``transfer`` (sandboxes, the default) or ``shared``;
    ``container``: ``singularity_image`` (``+SingularityImage``, the default) or
    ``container_universe``.

Example (environment): ``AIRFLOW_CONN_HTCONDOR_DEFAULT='htcondor://cm.example.org:9618?schedd=
submit01.example.org&token_file=/etc/prodops/token&timeout_s=30'``.

HTCondor's client configuration is per process (``htcondor2.param``): one pool
configuration per Airflow component process is what this supports.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from prodops import config
from prodops.batch.grid import PoolSubmit, SubmitConfigInvalid

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = config.HTCONDOR_CONN_ID
DEFAULT_PORT = 9618
DEFAULT_TIMEOUT_S = 60.0

_TIMEOUT_KNOBS = ("Q_QUERY_TIMEOUT", "QUERY_TIMEOUT", "SEC_TCP_SESSION_TIMEOUT", "SEC_DEFAULT_AUTHENTICATION_TIMEOUT")
"""Bindings' own time limits (seconds) lowered to the call deadline, so a hung call ends on its own too."""

_EXTRA_KEYS = frozenset({"schedd", "schedd_address", "token_dir", "token_file", "timeout_s", "config",
                         *PoolSubmit.EXTRA_KEYS})
_applied_lock = threading.Lock()
_applied: dict[str, str] = {}


class PoolConfigError(ValueError):
    """The HTCondor connection is incomplete or malformed; the message names the field and the fix."""


@dataclass(frozen=True)
class PoolSettings:
    """One pool as prodops reaches it: collector, schedd, credential, deadline, extra knobs."""

    collector: str | None = None
    schedd_name: str | None = None
    schedd_address: str | None = None
    token_dir: str | None = None
    token_file: str | None = None
    token: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    config: Mapping[str, str] = field(default_factory=dict)
    conn_id: str = DEFAULT_CONN_ID
    submit: PoolSubmit = field(default_factory=PoolSubmit)
    """What every job submitted to this pool gets: accounting per experiment and role, credential
    mode, filesystem mode, container mode (extras ``experiments``, ``credentials``, ``filesystem``,
    ``container``; :class:`prodops.batch.grid.PoolSubmit`)."""

    @property
    def where(self) -> str:
        """The schedd in words, for messages."""
        if self.schedd_address:
            return f"schedd at {self.schedd_address}"
        schedd = f"schedd {self.schedd_name}" if self.schedd_name else "the local schedd"
        return f"{schedd} (collector {self.collector or 'from condor_config'})"

    def knobs(self) -> dict[str, str]:
        """The HTCondor configuration these settings need in this process."""
        knobs = {name: str(max(1, int(self.timeout_s))) for name in _TIMEOUT_KNOBS}
        token_dir = self.token_dir
        if self.token_file or self.token:
            token_dir = _private_token_dir(self.conn_id, self.token_file, self.token)
        if token_dir:
            knobs["SEC_TOKEN_DIRECTORY"] = token_dir
        knobs.update({str(k): str(v) for k, v in self.config.items()})
        return knobs

    @classmethod
    def from_connection(cls, conn: Any) -> PoolSettings:
        """Settings from an Airflow connection; :class:`PoolConfigError` names each bad field."""
        conn_id = getattr(conn, "conn_id", None) or DEFAULT_CONN_ID
        extra = _extra(conn, conn_id)
        problems = []
        unknown = sorted(set(extra) - _EXTRA_KEYS)
        if unknown:
            problems.append(f"extra keys {unknown} are unknown; use {sorted(_EXTRA_KEYS)}")
        host = (conn.host or "").strip() or None
        port = conn.port
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            problems.append(f"port = {port!r} is not a TCP port; give the collector's port (default {DEFAULT_PORT})")
        schedd = _text(extra.get("schedd"))
        address = _text(extra.get("schedd_address"))
        if address and not (address.startswith("<") and address.endswith(">")):
            problems.append(f"extra.schedd_address = {address!r} is not a sinful string like '<10.0.0.5:9618?...>'")
        if host and not schedd and not address:
            problems.append(
                f"extra.schedd is missing; with a remote collector ({host}) name the schedd "
                "(its Name in `condor_status -schedd`) or give extra.schedd_address"
            )
        try:
            timeout_s = float(extra.get("timeout_s", DEFAULT_TIMEOUT_S))
            if not 0 < timeout_s <= 3600:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"extra.timeout_s = {extra.get('timeout_s')!r} must be a number of seconds in (0, 3600]")
            timeout_s = DEFAULT_TIMEOUT_S
        config = extra.get("config") or {}
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except ValueError:
                config = None
        if not isinstance(config, dict) or not all(isinstance(k, str) and k for k in config):
            problems.append(f"extra.config = {extra.get('config')!r} must be an object of HTCondor knobs, e.g. "
                            '{"SEC_CLIENT_AUTHENTICATION_METHODS": "IDTOKENS"}')
            config = {}
        token_dir, token_file = _text(extra.get("token_dir")), _text(extra.get("token_file"))
        if token_dir and not Path(token_dir).is_dir():
            problems.append(f"extra.token_dir = {token_dir!r} is not a directory; give the IDTOKENS directory")
        if token_file and not Path(token_file).is_file():
            problems.append(f"extra.token_file = {token_file!r} is not a file; give the path of an IDTOKEN file")
        submit = PoolSubmit()
        try:
            submit = PoolSubmit.from_extra(extra, "submit settings")
        except SubmitConfigInvalid as err:
            problems.append(str(err).removeprefix("submit settings is invalid: "))
        if problems:
            raise PoolConfigError(f"HTCondor connection {conn_id!r} is invalid: " + "; ".join(problems))
        return cls(
            collector=f"{host}:{port or DEFAULT_PORT}" if host else None,
            schedd_name=schedd,
            schedd_address=address,
            token_dir=token_dir,
            token_file=token_file,
            token=(conn.password or None),
            timeout_s=timeout_s,
            config={str(k): str(v) for k, v in config.items()},
            conn_id=conn_id,
            submit=submit,
        )


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _extra(conn: Any, conn_id: str) -> dict[str, Any]:
    raw = getattr(conn, "extra", None)
    if not raw:
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    try:
        extra = json.loads(raw)
    except ValueError:
        raise PoolConfigError(f"HTCondor connection {conn_id!r}: extra is not JSON ({raw[:80]!r}); fix its syntax") from None
    if not isinstance(extra, dict):
        raise PoolConfigError(f"HTCondor connection {conn_id!r}: extra must be a JSON object, not {type(extra).__name__}")
    return extra


def _private_token_dir(conn_id: str, token_file: str | None, token: str | None) -> str:
    """A 0700 directory holding the connection's token(s), made once per process and connection."""
    path = Path(tempfile.gettempdir()) / f"prodops-htcondor-{os.getuid()}-{os.getpid()}" / conn_id
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    os.chmod(path.parent, 0o700)
    if token_file:
        link = path / "from_file"
        if not link.is_symlink() or os.readlink(link) != token_file:
            link.unlink(missing_ok=True)
            link.symlink_to(token_file)
    if token:
        target = path / "from_connection"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token.strip() + "\n")
    return str(path)


def apply_settings(settings: PoolSettings) -> None:
    """Put the settings' knobs into this process's HTCondor configuration (idempotent, thread-safe)."""
    import htcondor2

    knobs = settings.knobs()
    with _applied_lock:
        for name, value in knobs.items():
            if _applied.get(name) == value:
                continue
            if name in _applied and name not in _TIMEOUT_KNOBS:
                log.warning("HTCondor knob %s changes from %r to %r in this process (connection %s): "
                            "one pool configuration per process is supported", name, _applied[name], value,
                            settings.conn_id)
            htcondor2.param[name] = value
            _applied[name] = value


class HTCondorHook(BaseHook):
    """Resolves the HTCondor connection into :class:`PoolSettings` (worker side and, async, in triggers)."""

    conn_name_attr = "htcondor_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "htcondor"
    hook_name = "HTCondor"

    def __init__(self, htcondor_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.htcondor_conn_id = htcondor_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login"],
            "relabeling": {"host": "Collector host", "port": "Collector port", "password": "IDTOKEN (optional)"},
            "placeholders": {
                "host": "cm.example.org (empty: this machine's condor_config)",
                "port": str(DEFAULT_PORT),
                "extra": json.dumps({"schedd": "submit01.example.org", "token_file": "/etc/prodops/token",
                                     "timeout_s": DEFAULT_TIMEOUT_S}),
            },
        }

    def get_conn(self) -> PoolSettings:
        return self.get_settings()

    def get_settings(self) -> PoolSettings:
        return PoolSettings.from_connection(self.get_connection(self.htcondor_conn_id))

    async def aget_settings(self) -> PoolSettings:
        return PoolSettings.from_connection(await self.aget_connection(self.htcondor_conn_id))


def main(argv: list[str] | None = None) -> int:
    """``python -m prodops.hooks.htcondor [conn_id]``: check the pool of the connection as a backend
    does before its first submission (token, collector, schedd); prints what failed and the fix."""
    import sys

    from prodops.batch.htcondor import HTCondorBackend
    from prodops.exceptions import BackendUnavailable

    args = sys.argv[1:] if argv is None else argv
    conn_id = args[0] if args else DEFAULT_CONN_ID
    try:
        where = HTCondorBackend(conn_id=conn_id).check()
    except (PoolConfigError, BackendUnavailable) as err:
        print(f"HTCondor connection {conn_id!r}: {err}", file=sys.stderr)
        return 1
    print(f"HTCondor connection {conn_id!r}: {where} answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
