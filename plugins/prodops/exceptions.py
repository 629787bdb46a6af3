"""prodops' own errors: each names the thing, the bad value and the fix."""

from __future__ import annotations

from collections.abc import Mapping


class ProdopsError(Exception):
    """Base class for every error prodops raises on purpose."""


class RequestInvalid(ProdopsError):
    """A production request form failed validation; ``errors`` maps field -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        lines = "\n".join(f"  - {field}: {msg}" for field, msg in sorted(self.errors.items()))
        super().__init__(f"The production request is invalid ({len(self.errors)} field(s)):\n{lines}")


class FileInvalid(ProdopsError):
    """A configuration file is malformed; ``errors`` maps field -> message, each naming the fix."""

    def __init__(self, path: object, errors: Mapping[str, str]) -> None:
        self.path = path
        self.errors = dict(errors)
        lines = "\n".join(f"  - {k}: {v}" for k, v in self.errors.items())
        super().__init__(f"{path} is invalid ({len(self.errors)} problem(s)):\n{lines}")


class BackendUnavailable(ProdopsError):
    """The batch system could not be reached; jobs must not be marked failed because of it."""


class SubmitFailed(ProdopsError):
    """The batch system refused a submission."""


class BadClassAd(ProdopsError):
    """A job ClassAd could not be read or mapped to a job record.

    Where it is known, the error says where the bad value is: ``path`` and ``line`` of the
    ad file (None for an ad a schedd sent), the job (``cluster.proc``) and the ``attribute``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        attribute: str | None = None,
        job: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.attribute = attribute
        self.job = job
        self.reason = message
        where = f"{path} line {line}: " if path is not None and line is not None else (f"{path}: " if path else "")
        super().__init__(where + message)

    def to_dict(self) -> dict[str, object]:
        """The error as a record (JSON-ready), for a caller that stores it."""
        return {"path": self.path, "line": self.line, "attribute": self.attribute, "job": self.job,
                "error": str(self)}


class BadEventLog(ProdopsError):
    """A job event log could not be read, or one of its events is garbled.

    For one bad event, ``path`` is the log, ``offset`` the byte where the bad text starts,
    ``end`` where the reader resumed after it, and ``line`` the offending line (text,
    undecodable bytes replaced); ``cluster_id``/``proc_id`` the job when its header named
    one; ``log_offset`` the same end as a position in the log's stream (its rotations and the
    current file, as the records' ``log_offset`` count it). An error about the whole log has
    only ``path`` (or nothing).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        end: int | None = None,
        line: str | None = None,
        cluster_id: int | None = None,
        proc_id: int | None = None,
        log_offset: int | None = None,
    ) -> None:
        self.path = path
        self.offset = offset
        self.end = end
        self.line = line
        self.cluster_id = cluster_id
        self.proc_id = proc_id
        self.log_offset = log_offset
        self.reason = message
        super().__init__(message if offset is None else f"event log {path}, byte {offset}: {message}")

    def to_dict(self) -> dict[str, object]:
        """The error as a record (JSON-ready), for a caller that stores it beside the events."""
        return {"path": self.path, "offset": self.offset, "end": self.end, "line": self.line,
                "cluster_id": self.cluster_id, "proc_id": self.proc_id, "log_offset": self.log_offset,
                "error": self.reason}
