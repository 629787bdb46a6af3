"""The incremental accounting run: only attempts written since the last run are accounted again.

Each ended attempt has one ledger row (``accounting_attempts``: its key and figures as they are
now); a run rewrites the ledger rows of the jobs whose attempts changed since the cursor (less
an overlap, for transactions that committed late), then sums again from the ledger the rollup rows
of their stages and the daily rows of the days they counted in before or count in now. A rerun, an overlap, or two runs over the same
attempts therefore write the same figures: nothing counts twice, nothing is lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta


from prodops.store.db import Conn, one_row, q

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
"""How far before the cursor a run looks again: longer than any tracking transaction."""

_STEPS = (
    "accounting_changed_jobs",
    "accounting_fresh",
    "accounting_slices",
    "accounting_forget",
    "accounting_record",
    "accounting_rollup_clear",
    "accounting_rollup_sum",
    "accounting_daily_clear",
    "accounting_daily_sum",
    "accounting_phase_forget",
    "accounting_phase_record",
    "accounting_phase_daily_clear",
    "accounting_phase_daily_sum",
)


@dataclass(frozen=True)
class RollupRun:
    """What one run did (logged by the DAG, returned as its XCom)."""

    since: datetime | None
    """Attempts written after this were read (None: the first run read them all)."""
    changed_attempts: int
    accounted_attempts: int
    """Ended attempts of the changed jobs written to the ledger."""
    rollup_rows: int
    daily_rows: int
    cursor: datetime | None
    phase_rows: int = 0
    """Phases of those attempts written to the phase ledger."""

    def to_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "changed_attempts": self.changed_attempts,
            "accounted_attempts": self.accounted_attempts,
            "rollup_rows": self.rollup_rows,
            "daily_rows": self.daily_rows,
            "phase_rows": self.phase_rows,
            "cursor": self.cursor.isoformat() if self.cursor else None,
        }


def roll_up(conn: Conn, *, overlap: timedelta = OVERLAP) -> RollupRun:
    """Account the attempts written since the last run, in one transaction (committed here, unless
    the caller has one open: then it is a savepoint of theirs)."""
    with conn.transaction():
        conn.execute(q("accounting_lock"))
        cursor = one_row(conn.execute(q("accounting_cursor")))["updated_at"]
        since = cursor - overlap if cursor is not None else None
        conn.execute(q("accounting_changed"), {"since": since})
        changed = one_row(conn.execute(q("accounting_changed_summary")))
        counts: dict[str, int] = {}
        if changed["rows"]:
            for step in _STEPS:
                started = time.perf_counter()
                counts[step] = conn.execute(q(step)).rowcount
                log.debug("%s: %d rows in %.3f s", step, counts[step], time.perf_counter() - started)
        conn.execute(q("accounting_cleanup"))
        conn.execute(q("accounting_advance"), {"newest": changed["newest"]})
        newest = one_row(conn.execute(q("accounting_cursor")))["updated_at"]
    run = RollupRun(
        since=since,
        changed_attempts=changed["changed"],
        accounted_attempts=counts.get("accounting_record", 0),
        rollup_rows=counts.get("accounting_rollup_sum", 0),
        daily_rows=counts.get("accounting_daily_sum", 0),
        cursor=newest,
        phase_rows=counts.get("accounting_phase_record", 0),
    )
    log.info(
        "Accounted %d attempts (%d changed since %s) and %d of their phases: %d rollup rows and %d daily rows"
        " summed again",
        run.accounted_attempts,
        run.changed_attempts,
        since,
        run.phase_rows,
        run.rollup_rows,
        run.daily_rows,
    )
    return run
