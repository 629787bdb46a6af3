"""prodops' own errors: each names the thing, the bad value and the fix."""

from __future__ import annotations


class ProdopsError(Exception):
    """Base class for every error prodops raises on purpose."""


class RequestInvalid(ProdopsError):
    """A production request form failed validation; ``errors`` maps field -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        lines = "\n".join(f"  - {field}: {msg}" for field, msg in sorted(self.errors.items()))
        super().__init__(f"The production request is invalid ({len(self.errors)} field(s)):\n{lines}")


class BackendUnavailable(ProdopsError):
    """The batch system could not be reached; jobs must not be marked failed because of it."""


class SubmitFailed(ProdopsError):
    """The batch system refused a submission."""


class BadClassAd(ProdopsError):
    """A job ClassAd could not be mapped to a job record."""


class BadEventLog(ProdopsError):
    """A job event log could not be read."""
