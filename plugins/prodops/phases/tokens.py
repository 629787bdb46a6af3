"""Job tokens: one per submission, so its jobs can post their phases and nothing else.

The token is issued when the submission is claimed, committed before the batch system is asked
(so a job that starts at once finds it valid), and handed to the jobs in their environment
(``PRODOPS_PHASE_TOKEN``). Only its SHA-256 is stored (256 random bits: nothing to brute-force).
It writes the phases of its own submission only, and ends with the submission: a grace period
after the submission is done (:func:`prodops.config.phase_token_grace_s`), and at the latest
:func:`prodops.config.phase_token_max_days` after it was issued.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


from prodops import config
from prodops.batch.base import SubmissionSpec
from prodops.constants import PHASE_TOKEN_VARIABLE
from prodops.exceptions import ProdopsError
from prodops.store.db import Conn, q

TOKEN_PREFIX = "pjt_"
"""Job tokens start so; feeder tokens (``pdo_``) are a different kind and never accepted here."""


TOKEN_VARIABLE = PHASE_TOKEN_VARIABLE
API_URL_VARIABLE = "PRODOPS_API_URL"
SUBMISSION_VARIABLE = "PRODOPS_SUBMISSION_ID"
"""What a job finds in its environment (the job index comes as its ``--job`` argument, or
``PRODOPS_JOB_INDEX`` set by its wrapper: a submit environment cannot hold ``$(ProcId)``)."""


class TokenRefused(ProdopsError):
    """The request may not write these phases; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class JobScope:
    """What a valid job token may write: the phases of one submission's jobs."""

    submission_id: int
    job_indexes: tuple[int, ...]

    def check_job(self, job_index: int) -> None:
        if job_index not in self.job_indexes:
            raise TokenRefused(
                403, f"job_index {job_index} is not a job of submission {self.submission_id}"
                     f" (its jobs: {_ranges(self.job_indexes)}); post the index the job was given (--job)")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(conn: Conn, submission_id: int, *, now: datetime | None = None) -> str:
    """A new token for the submission; returns the token. The caller commits before the jobs start.
    An earlier token of the submission stays valid: a submit that crashed after the batch system
    took its jobs is run again, finds them, and they carry the earlier token."""
    now = now or datetime.now(timezone.utc)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(q("insert_job_token"), {
        "submission_id": submission_id, "token_hash": hash_token(token), "issued_at": now,
        "expires_at": now + timedelta(days=config.phase_token_max_days()),
    })
    return token


def with_phase_token(conn: Conn, spec: SubmissionSpec, submission_id: int) -> SubmissionSpec:
    """``spec`` with a new token, the API's URL and the submission id in its jobs' environment (the
    stored spec keeps none of them). The caller commits before submitting."""
    environment = {**spec.environment, TOKEN_VARIABLE: issue(conn, submission_id),
                   SUBMISSION_VARIABLE: str(submission_id)}
    if url := config.phase_api_url():  # none known: the jobs print markers (the stdout fallback)
        environment[API_URL_VARIABLE] = url
    return dataclasses.replace(spec, environment=environment)


def scope(conn: Conn, authorization: str | None, submission_id: int, *,
          now: datetime | None = None) -> JobScope:
    """The scope of the bearer token in ``authorization`` for writing ``submission_id``'s phases.

    Raises :class:`TokenRefused`: 401 when there is no token, it is unknown or it expired; 403 when
    it is valid for another submission.
    """
    scheme, _, credential = (authorization or "").partition(" ")
    token = credential.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenRefused(401, "no job token: send 'Authorization: Bearer $PRODOPS_PHASE_TOKEN' (the job's"
                                " environment has it)")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRefused(401, f"the bearer token is not a job token (they start {TOKEN_PREFIX!r}); send the"
                                " job's PRODOPS_PHASE_TOKEN")
    row = conn.execute(q("job_token"), {"token_hash": hash_token(token)}).fetchone()
    if row is None:
        raise TokenRefused(401, "the job token is unknown; send the PRODOPS_PHASE_TOKEN of the job's own"
                                " environment")
    if int(row["submission_id"]) != submission_id:
        raise TokenRefused(403, f"this job token belongs to another submission, not {submission_id};"
                                " post to the submission in the job's PRODOPS_SUBMISSION_ID")
    now = now or datetime.now(timezone.utc)
    if _expired(row, now):
        raise TokenRefused(401, f"the job token of submission {submission_id} has expired (the submission"
                                " ended); phases can still reach prodops as stdout marker lines")
    return JobScope(submission_id=submission_id, job_indexes=_job_indexes(row))


def _expired(row: dict[str, Any], now: datetime) -> bool:
    if row["expires_at"] <= now:
        return True
    finished = row["finished_at"]
    return finished is not None and finished + timedelta(seconds=config.phase_token_grace_s()) <= now


def _job_indexes(row: dict[str, Any]) -> tuple[int, ...]:
    """A retry's jobs run the stage's job indexes its spec names; a first submission's are 0..n-1."""
    named = row["job_indexes"] or []
    return tuple(int(i) for i in named) if named else tuple(range(int(row["num_jobs"])))


def _ranges(indexes: tuple[int, ...]) -> str:
    if not indexes:
        return "none"
    if list(indexes) == list(range(indexes[0], indexes[0] + len(indexes))):
        return f"{indexes[0]}..{indexes[-1]}"
    shown = ", ".join(map(str, indexes[:10]))
    return shown + (", ..." if len(indexes) > 10 else "")
