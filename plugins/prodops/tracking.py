"""One tracking cycle of a submission: poll, diff in memory, write the changes in one batch.

The cycle's rows, events and event-log offset commit in one transaction under a row lock
on the submission, so a restarted (or doubled) tracker neither loses nor repeats records.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from prodops.batch.base import Backend
from prodops.batch.classads import DEFAULT_MAPPING, MappingConfig, job_id, map_ad
from prodops.constants import JobState
from prodops.exceptions import BadClassAd
from prodops.store import records
from prodops.store.db import connect

log = logging.getLogger(__name__)


@dataclass
class CycleResult:
    polled: int
    written: int
    events: int
    bad_ads: int
    states: dict[str, int] = field(default_factory=dict)
    done: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class SubmissionTracker:
    """Keeps what was last written in memory, so a cycle only writes the jobs that changed."""

    def __init__(
        self, *, backend: Backend, db_url: str, submission_id: int, mapping: MappingConfig = DEFAULT_MAPPING
    ) -> None:
        self.backend = backend
        self.db_url = db_url
        self.submission_id = submission_id
        self.mapping = mapping
        self._written: dict[int, str] | None = None

    def cycle(self) -> CycleResult:
        with connect(self.db_url) as conn:
            row = records.get_submission(conn, self.submission_id, lock=True)
            if row["cluster_id"] is None:
                raise LookupError(f"submission {self.submission_id} was never submitted; run submit_stage first")
            if self._written is None:
                self._written = records.job_fingerprints(conn, self.submission_id)
            polled = self.backend.poll(records.submission_handle(row), int(row["event_log_offset"]))
            mapped, bad = [], 0
            for ad in polled.ads:
                try:
                    mapped.append(map_ad(ad, self.mapping))
                except BadClassAd as err:
                    bad += 1
                    log.warning("Skipped the ad of job %s: %s", job_id(ad), err)
            changed = [r for r in mapped if self._written.get(r["proc_id"]) != r["ad_hash"]]
            records.write_job_attempts(conn, self.submission_id, changed)
            records.write_job_events(conn, self.submission_id, polled.events)
            records.save_event_offset(conn, self.submission_id, polled.offset)
            states = Counter(r["state"] for r in mapped)
            done = len(mapped) + bad >= int(row["num_jobs"]) and all(
                JobState(r["state"]).is_final for r in mapped
            )
            if done:
                records.finish_submission(conn, self.submission_id)
            conn.commit()
        self._written.update((r["proc_id"], r["ad_hash"]) for r in changed)
        result = CycleResult(
            polled=len(polled.ads), written=len(changed), events=len(polled.events), bad_ads=bad,
            states=dict(states), done=done,
        )
        log.info(
            "Submission %d: %d ads, %d written, %d events, %d bad; states %s",
            self.submission_id, result.polled, result.written, result.events, bad, result.states,
        )
        return result
