"""A request's state follows what happened to its Airflow run, even when no task of it could say.

``report`` records how a request ended; it runs whatever failed, but not when Airflow itself
ends the run first (a task failed by the scheduler in a race, a run marked failed by a person).
The prodops listener (:mod:`prodops.listeners`) then calls :func:`end_failed_run`.
"""

from __future__ import annotations

import logging

from prodops.store.db import connect, q

log = logging.getLogger(__name__)


def end_failed_run(db_url: str, dag_id: str, run_id: str, why: str = "") -> int | None:
    """End the request of a failed run as ``failed`` when it had not ended; returns its id, else None."""
    reason = (f"its Airflow run {run_id} failed before prodops recorded how the request ended"
              f"{f' ({why})' if why else ''}; see the run's failed tasks")
    with connect(db_url) as conn:
        row = conn.execute(q("end_request_of_failed_run"),
                           {"dag_id": dag_id, "run_id": run_id, "reason": reason}).fetchone()
        conn.commit()
    if row is None:
        return None
    log.warning("Request %s ended failed: %s", row["id"], reason)
    return int(row["id"])
