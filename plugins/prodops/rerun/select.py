"""Which attempts a debug rerun runs again: chosen job indexes, or a triage filter.

Each chosen job is rerun from its production attempt (the latest one, whose outcome the
request counts), never from an earlier debug rerun. A filter (category, signature, site) picks
among the jobs whose production attempt failed and has a verdict. One rerun is one submission
of one stage, and holds at most :data:`MAX_JOBS` jobs: a debug rerun is for a person to read,
not a second production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError, field_validator

from prodops.constants import Category
from prodops.forms import FormModel
from prodops.rerun.settings import DebugSettingsInvalid
from prodops.store.db import Conn, q

MAX_JOBS = 50
"""The most jobs one debug rerun may run again."""


class Selection(FormModel):
    """The debug_rerun form's choice of jobs: a request, and job indexes or a triage filter."""

    request_id: int = Field(ge=1, description="The production request whose jobs are rerun.")
    stage: str | None = Field(None, max_length=80, description="The stage; needed when the jobs could be in several.")
    job_indexes: list[int] = Field(default_factory=list, description="Job indexes to rerun (their stage's numbering).")
    category: Category | None = Field(None, description="Rerun the failed jobs with this verdict category.")
    signature: str | None = Field(None, max_length=128, description="... with this failure signature (triage page).")
    site: str | None = Field(None, max_length=128, description="... that failed at this site.")

    @field_validator("job_indexes")
    @classmethod
    def _whole_indexes(cls, value: list[int]) -> list[int]:
        if any(i < 0 for i in value):
            raise ValueError("job indexes are whole numbers >= 0")
        return sorted(set(value))

    @property
    def by_filter(self) -> bool:
        return not self.job_indexes

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Selection:
        """The selection from the form, or :class:`DebugSettingsInvalid` naming each bad field."""
        try:
            chosen = cls.model_validate(dict(raw))
        except ValidationError as err:
            raise DebugSettingsInvalid({".".join(str(p) for p in e["loc"]) or "selection": e["msg"]
                                        for e in err.errors()}) from None
        if chosen.by_filter and not (chosen.category or chosen.signature or chosen.site):
            raise DebugSettingsInvalid({"job_indexes": "choose the jobs: give job indexes, or a category, signature or"
                                                       " site of the triage page"})
        return chosen


@dataclass(frozen=True)
class RerunTarget:
    """One job to rerun: its stage and index, and the production attempt it reruns."""

    stage: str
    job_index: int
    submission_id: int
    proc_id: int
    attempt: int
    request_memory_mb: int | None
    action: str | None
    action_state: str | None


def select_attempts(conn: Conn, chosen: Selection) -> list[RerunTarget]:
    """The production attempts to rerun, all of one stage; :class:`DebugSettingsInvalid` names the
    field when nothing matches, the jobs span stages, or there are more than :data:`MAX_JOBS`."""
    rows = conn.execute(q("debug_rerun_candidates"), {"request_id": chosen.request_id, "stage": chosen.stage}).fetchall()
    picked = _pick(rows, chosen)
    stages = sorted({r["stage"] for r in picked})
    if len(stages) > 1:
        raise DebugSettingsInvalid({"stage": f"the chosen jobs are in stages {stages}; give one stage per debug rerun"})
    if len(picked) > MAX_JOBS:
        raise DebugSettingsInvalid({"job_indexes": f"{len(picked)} jobs match; a debug rerun takes at most {MAX_JOBS}:"
                                                   " narrow the filter or give job indexes"})
    return [RerunTarget(stage=r["stage"], job_index=int(r["job_index"]), submission_id=int(r["submission_id"]),
                        proc_id=int(r["proc_id"]), attempt=int(r["attempt"]),
                        request_memory_mb=r["request_memory_mb"], action=r["action"], action_state=r["action_state"])
            for r in picked]


def _pick(rows: Sequence[Mapping[str, Any]], chosen: Selection) -> list[Mapping[str, Any]]:
    where = f"request {chosen.request_id}" + (f", stage {chosen.stage!r}" if chosen.stage else "")
    if not rows:
        raise DebugSettingsInvalid({"request_id": f"{where} has no job attempts; check the request id and stage"})
    if not chosen.by_filter:
        known = {int(r["job_index"]) for r in rows}
        missing = [i for i in chosen.job_indexes if i not in known]
        if missing:
            raise DebugSettingsInvalid({"job_indexes": f"jobs {missing} are not in {where}; its jobs are"
                                                       f" {min(known)}..{max(known)}"})
        return [r for r in rows if int(r["job_index"]) in chosen.job_indexes]
    picked = [r for r in rows if r["category"] is not None
              and (chosen.category is None or r["category"] == chosen.category.value)
              and (chosen.signature is None or r["signature"] == chosen.signature)
              and (chosen.site is None or r["site"] == chosen.site)]
    if not picked:
        category = chosen.category.value if chosen.category else None
        raise DebugSettingsInvalid({"category": f"no failed job of {where} matches category={category},"
                                                f" signature={chosen.signature}, site={chosen.site};"
                                                " see the triage page"})
    return picked
