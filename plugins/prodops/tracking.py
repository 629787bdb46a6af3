"""One tracking cycle of a submission: poll, diff in memory, write the changes in one batch.

The cycle's rows, events, event-log problems, event-log offset and history cursor commit in
one transaction under a row lock on the submission, so a restarted (or doubled) tracker
neither loses nor repeats records. A garbled or unknown event is skipped by the reader
(:func:`~prodops.batch.eventlog.read_event_log`), which logs it once, and recorded in
``event_log_problems`` with its file, byte offset and line; the events after it are read.

A cycle writes at most :data:`MAX_ROWS` changed rows (and the HTCondor backend reads at
most ``max_events`` events), so a 20,000-job submission seen for the first time is stored
over a few cycles instead of one long one that holds the lock and a triggerer thread. What
is left waits without risk: the changed ads left for later stay in the tracker's memory
(a job whose ad comes again replaces its waiting one), so the cycles that catch up need no
full query and no second diff of the whole queue; after a restart the first full query
finds them again; and the event log resumes at the committed offset. Ads of jobs that left the queue (completed or removed,
maybe from the history, which is read once) are always written. Jobs whose state changed
or that have no row yet go first, the rest in turn from where the last cycle stopped, so no
job waits forever. A submission is never done while anything waits.

A backend that follows the job event log (``follows_event_log``: HTCondor) gets the tracker's
:class:`~prodops.batch.base.Feed`: a cycle then asks the schedd only about the jobs the new
events name (``PollResult.complete`` False), and a cycle with no new event makes no schedd call
and does not even connect to the database (it polls from where its last cycle left the stored
row; a cycle that has something to write takes the lock and checks that the row is still there). The first cycle of a tracker (so also after a restart) is a full query, and
so are reconciliations, every ``reconcile_interval``; the tracker asks for one at once when it
looks for jobs in the whole history, and when an event-log poll finds every job final: only a
full query (ads, then the log) ends a submission, since an event-log poll reads the log before the
ads, which may show an end whose event it has not read. Events logged before the last full query (a log read
behind it, as while a big submission is first stored) name no job: that query's ads show
them. Only a full poll can show
that a job left the queue unseen, so only then does the whole-history recovery run.

The diff is on the fingerprint of each ad's JSON text, before mapping: an ad that did not
change since the last write costs one ``printJson`` and one digest, not a mapping. What was
last written (digest and state per job) is loaded from the database once per tracker, so a
restarted one diffs against the stored rows.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import classad2

from prodops.batch.base import Backend, Feed, PollResult, Submission
from prodops import config
from prodops.batch.classads import MappingConfig, ad_text, fingerprint, job_id, map_ad_text
from prodops.constants import JobState
from prodops.exceptions import BadClassAd
from prodops.store import records
from prodops.store.db import connect

log = logging.getLogger(__name__)

_FINAL = frozenset(state.value for state in JobState if state.is_final)
_LEFT_QUEUE = frozenset((JobState.COMPLETED.value, JobState.REMOVED.value))
_STATE_OF_STATUS = {status: JobState.from_job_status(status).value for status in range(1, 8)}
LOST_AFTER = 3
"""Whole-history reads in a row that must miss a job before it counts as lost."""
MAX_ROWS = 2500
"""Changed rows one cycle writes at most (ads of jobs that left the queue not counted)."""


@dataclass
class CycleResult:
    polled: int
    written: int
    events: int
    bad_ads: int
    states: dict[str, int] = field(default_factory=dict)
    """Jobs by state, over the whole submission as stored after this cycle."""
    done: bool = False
    lost: int = 0
    """Jobs that left the queue and are in no history the backend could read (counted, never guessed)."""
    deferred: int = 0
    """Changed ads left for the next cycle by :data:`MAX_ROWS`."""
    events_behind: bool = False
    """The backend stopped reading the event log at its per-poll limit; the rest comes next cycle."""
    problems: int = 0
    """Garbled or unknown events of the log this cycle skipped and newly recorded (``event_log_problems``)."""
    full: bool = True
    """The poll queried the whole submission (a reconciliation); False: only the jobs the new events named."""
    schedd_calls: int = 0
    """Calls the poll made to the batch system (0 in a cycle in which nothing happened)."""
    confirm: bool = False
    """Every job is final as an event-log poll saw it: the next poll, a full one, ends the submission."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_Pending = tuple[classad2.ClassAd, "str | None", "str | None"]
"""A changed ad, its JSON text and digest (None for a job with no row yet: made when it is written)."""


@dataclass
class _Mapped:
    rows: list[dict[str, Any]] = field(default_factory=list)
    bad: int = 0
    bad_procs: set[int] = field(default_factory=set)
    states: dict[int, str] = field(default_factory=dict)
    """proc -> state of every job whose ad was in the poll (changed or not)."""


class SubmissionTracker:
    """Keeps what was last written in memory, so a cycle only maps and writes the jobs that changed.

    Ads are mapped with ``mapping`` (default: :func:`prodops.config.ad_mapping`, the site chain
    of ``PRODOPS_SITE_ATTRIBUTES``).
    """

    def __init__(
        self,
        *,
        backend: Backend,
        db_url: str,
        submission_id: int,
        mapping: MappingConfig | None = None,
        max_rows: int | None = MAX_ROWS,
    ) -> None:
        self.backend = backend
        self.db_url = db_url
        self.submission_id = submission_id
        self.mapping = mapping if mapping is not None else config.ad_mapping()
        self.max_rows = max_rows
        self._turn = 0  # the job the next bounded cycle starts from, among equally urgent ones
        self._known: dict[int, tuple[str, str]] | None = None  # proc -> (ad_hash, state) as stored
        self._by_hash: dict[str, int] = {}
        self._counts: Counter[str] = Counter()  # jobs by stored state (kept as rows are written)
        self._final: set[int] = set()  # jobs final as stored
        self._bad: set[int] = set()  # jobs whose latest ad could not be mapped
        self._lost: set[int] = set()
        self._misses: dict[int, int] = {}  # job -> whole-history reads in a row that did not find it
        self._feed = Feed()  # the first poll of a (new or restarted) tracker is a full one
        self._last: tuple[Submission, int, str | None] | None = None  # handle, offset, cursor as last committed
        self._waiting: dict[Any, _Pending] = {}  # changed ads of queued jobs a bound left for later, by job
        self._waiting_states: dict[int, tuple[_Pending, str]] = {}  # their states, read from the ads once

    def cycle(self) -> CycleResult:
        try:
            return self._cycle()
        except BaseException:
            # Nothing of the cycle was committed, but its poll may have moved the feed on (a full
            # query's horizon, the jobs to ask about again): the next poll is a full one, or the ads
            # of jobs whose events lie before that horizon would wait for the next reconciliation.
            self._feed.due = True
            raise

    def _cycle(self) -> CycleResult:
        quiet, polled_early = self._quiet_cycle()
        if quiet is not None:
            return quiet
        with connect(self.db_url) as conn:
            row = records.get_submission(conn, self.submission_id, lock=True)
            if row["cluster_id"] is None:
                raise LookupError(f"submission {self.submission_id} was never submitted; run submit_stage first")
            if self._known is None:
                self._load(records.job_fingerprints(conn, self.submission_id))
            handle = records.submission_handle(row)
            offset = int(row["event_log_offset"])
            if polled_early is not None and self._last is not None \
                    and (offset, row["history_cursor"]) == self._last[1:]:
                polled = polled_early  # read from where this tracker's last cycle left the stored row
            elif getattr(self.backend, "follows_event_log", False):
                polled = self.backend.poll(handle, offset, row["history_cursor"], feed=self._feed)  # type: ignore[call-arg]
            else:
                polled = self.backend.poll(handle, offset, row["history_cursor"])
            # A full poll has every queued job's current ad: what waited is in it again, maybe newer.
            mapped, pending = self._diff(polled.ads, {} if polled.complete else self._waiting)
            pending, left = self._bound(pending)
            deferred = len(left)
            if pending:
                # Rows of jobs with none yet go straight in by COPY; when every job has one, all take
                # the stage and merge (no empty COPY, and its savepoint, on the way).
                known = self._known
                assert known is not None  # loaded at the start of this cycle
                new = any(key not in known for key in pending)
                records.write_job_attempts(conn, self.submission_id, self._mapping(pending, mapped),
                                           existing=known if new else None)
            num_jobs = int(row["num_jobs"])
            behind = polled.more_events  # a full batch of records is no sign: skipped events make it smaller
            waiting = deferred > 0 or behind
            # Only a full poll shows that a job left the queue unseen; an event-log poll names the changed jobs.
            if not waiting and polled.complete and self._needs_recovery(mapped, num_jobs):
                recovered = self._recover(handle, mapped, num_jobs)
                records.write_job_attempts(conn, self.submission_id, recovered, existing=self._known)
            if polled.events:
                records.write_job_events(conn, self.submission_id, polled.events)
            problems = records.write_event_log_problems(conn, self.submission_id, polled.problems) \
                if polled.problems else 0
            if polled.offset != offset:
                records.save_event_offset(conn, self.submission_id, polled.offset)
            if polled.history_cursor is not None and polled.history_cursor != row["history_cursor"]:
                records.save_history_cursor(conn, self.submission_id, polled.history_cursor)
            done = not waiting and self._done(mapped, num_jobs)
            confirm = done and not polled.complete
            if confirm:
                # An event-log poll reads the log before the ads it asks for, which may show a job's
                # end whose event came after the read: only a full poll (ads, then the log) may end
                # the submission, or the events that came last would never be stored.
                done = False
            if done:
                records.finish_submission(conn, self.submission_id)
            conn.commit()
        self._remember(mapped)
        self._waiting = left
        cursor = polled.history_cursor if polled.history_cursor is not None else row["history_cursor"]
        self._last = None if waiting or done else (handle, polled.offset, cursor)
        # The jobs still looked for come again only in a full poll.
        self._feed.due = bool(self._misses) or confirm
        # Every written row is in the stored state now, and an unchanged ad's state is its stored one.
        result = CycleResult(
            polled=len(polled.ads), written=len(mapped.rows), events=len(polled.events), bad_ads=mapped.bad,
            states={state: n for state, n in self._counts.items() if n}, done=done, lost=len(self._lost), deferred=deferred,
            events_behind=behind, problems=problems, full=polled.complete, schedd_calls=polled.schedd_calls,
            confirm=confirm,
        )
        log.info(
            "Submission %d: %d ads, %d written, %d events, %d bad ads, %d bad events; states %s",
            self.submission_id, result.polled, result.written, result.events, mapped.bad, problems, result.states,
        )
        if waiting:
            log.info(
                "Submission %d: %d changed ad(s)%s left for the next cycle (per-cycle bound)", self.submission_id,
                deferred, " and the rest of the event log" if behind else "",
            )
        return result

    def _quiet_cycle(self) -> tuple[CycleResult | None, PollResult | None]:
        """Poll without the database from where this tracker's last cycle left the stored row:
        when nothing happened (no event, no ad, no problem), that is the cycle (no connection, no
        lock, nothing written); otherwise the poll, for the cycle to use if the row is still there.

        Only for a backend that follows the event log, once a cycle committed with nothing left
        for later; a full poll (a reconciliation) is never a quiet one.
        """
        last = self._last
        if last is None or self._waiting or not getattr(self.backend, "follows_event_log", False):
            return None, None
        handle, offset, cursor = last
        polled = self.backend.poll(handle, offset, cursor, feed=self._feed)  # type: ignore[call-arg]
        if polled.ads or polled.events or polled.problems or polled.more_events or polled.complete \
                or polled.offset != offset or polled.history_cursor not in (None, cursor):
            return None, polled
        log.debug("Submission %d: nothing happened (%d schedd calls)", self.submission_id, polled.schedd_calls)
        return CycleResult(
            polled=0, written=0, events=0, bad_ads=0, states={state: n for state, n in self._counts.items() if n},
            full=False, schedd_calls=polled.schedd_calls,
        ), None

    def _bound(
        self, pending: dict[Any, _Pending]
    ) -> tuple[dict[Any, _Pending], dict[Any, _Pending]]:
        """The changed ads this cycle maps and writes, and those that wait for the next one."""
        limit = self.max_rows
        if limit is None or len(pending) <= limit:
            self._waiting_states = {}
            return pending, {}
        assert self._known is not None
        known = self._known
        kept: dict[Any, _Pending] = {}
        urgent: list[int] = []
        other: list[int] = []
        cached = self._waiting_states
        states: dict[int, tuple[_Pending, str]] = {}
        for key, item in pending.items():
            state: str | None
            seen = cached.get(key)
            if seen is not None and seen[0] is item:  # the same waiting ad as last cycle
                state = seen[1]
            else:
                status = item[0].get("JobStatus")
                state = _STATE_OF_STATUS.get(status) if status.__class__ is int else None
                if key.__class__ is not int or state is None or state in _LEFT_QUEUE:
                    kept[key] = item  # from the history (read once), or a bad ad to count now
                    continue
            states[key] = (item, state)
            stored = known.get(key)
            (urgent if stored is None or stored[1] != state else other).append(key)
        turn = self._turn

        def in_turn(proc: int) -> int:
            return (proc - turn) % 2**31

        chosen = sorted(urgent, key=in_turn)[: max(limit - len(kept), 0)]
        chosen += sorted(other, key=in_turn)[: max(limit - len(kept) - len(chosen), 0)]
        if chosen:
            self._turn = chosen[-1] + 1
        for proc in chosen:
            kept[proc] = pending.pop(proc)
        for key in kept:
            pending.pop(key, None)
        self._waiting_states = {key: states[key] for key in pending}
        return kept, pending

    def _load(self, stored: dict[int, tuple[str, str]]) -> None:
        self._known = dict(stored)
        self._by_hash = {digest: proc for proc, (digest, _) in stored.items()}
        self._counts = Counter(state for _, state in stored.values())
        self._final = {proc for proc, (_, state) in stored.items() if state in _FINAL}
        self._feed.settled = self._final  # the same set, kept as rows are written

    def _diff(
        self, ads: Iterable[classad2.ClassAd], waiting: dict[Any, _Pending] | None = None
    ) -> tuple[_Mapped, dict[Any, _Pending]]:
        """Note the state of every job whose ad did not change; return the changed ads, one per job:
        those of ``waiting`` (left for later by an earlier cycle) and of ``ads``.

        A later ad of the same job (history after queue, a polled one after a waiting one) wins;
        a polled ad equal to the stored row drops the job's waiting one.
        """
        assert self._known is not None
        known, by_hash = self._known, self._by_hash
        out = _Mapped()
        pending: dict[Any, _Pending] = dict(waiting) if waiting else {}
        for ad in ads:
            key = ad.get("ProcId")
            if key.__class__ is int and key not in known:
                pending[key] = (ad, None, None)  # no row yet: changed whatever it says; its text waits for its turn
                continue
            text = ad_text(ad)
            digest = fingerprint(text)
            proc = by_hash.get(digest)
            if proc is not None:
                out.states[proc] = known[proc][1]
                out.bad_procs.discard(proc)
                pending.pop(proc, None)
                continue
            pending[key if key.__class__ is int else id(ad)] = (ad, text, digest)
        return out, pending

    def _mapping(
        self, pending: dict[Any, _Pending], out: _Mapped
    ) -> Iterator[dict[str, Any]]:
        """Map the changed ads one by one (the writer streams each row on), noting states and bad ads."""
        mapping = self.mapping
        for ad, text, digest in pending.values():
            if text is None or digest is None:  # both or neither: the ad's text waits for its turn
                text = ad_text(ad)
                digest = fingerprint(text)
            try:
                row = map_ad_text(ad, text, digest, mapping)
            except BadClassAd as err:
                out.bad += 1
                proc_id = ad.get("ProcId")
                if proc_id.__class__ is int:
                    out.bad_procs.add(proc_id)
                    out.states.pop(proc_id, None)
                log.warning("Skipped the ad of job %s: %s", job_id(ad), err)
                continue
            proc = row["proc_id"]
            out.rows.append(row)
            out.states[proc] = row["state"]
            out.bad_procs.discard(proc)
            yield row

    def _map(self, ads: Iterable[classad2.ClassAd]) -> _Mapped:
        """:meth:`_diff` and :meth:`_mapping` at once, for ads not streamed to the database."""
        out, pending = self._diff(ads)
        for _ in self._mapping(pending, out):
            pass
        return out

    def _accounted(self, mapped: _Mapped) -> set[int]:
        """Jobs that need no more tracking: final as stored or as polled, bad, or lost."""
        final = set(self._final)
        for proc, state in mapped.states.items():
            (final.add if state in _FINAL else final.discard)(proc)
        return final | (self._bad - set(mapped.states)) | mapped.bad_procs | self._lost

    def _needs_recovery(self, mapped: _Mapped, num_jobs: int) -> bool:
        """Nothing is left running, yet some jobs were never seen final: look them up in history."""
        if any(state not in _FINAL for state in mapped.states.values()):
            return False
        return len(self._accounted(mapped)) + self._anonymous_bad(mapped) < num_jobs

    def _recover(self, handle: Submission, mapped: _Mapped, num_jobs: int) -> list[dict[str, Any]]:
        """Read the whole history of the submission for jobs no cycle returned a final ad of.

        This happens after a restart lost the memory of a bad ad, or when a backend's
        history cursor went past a job. A job missing from :data:`LOST_AFTER` such reads in a
        row is lost: logged and counted so the submission can end, never marked failed.
        """
        accounted = self._accounted(mapped)
        missing = [proc for proc in range(num_jobs) if proc not in accounted]
        log.warning(
            "Submission %d: %d job(s) left the queue without a final ad on record (first: %s); "
            "reading the whole history of cluster %d",
            self.submission_id, len(missing), missing[:10], handle.cluster_id,
        )
        wanted = set(missing)
        found = self._map(ad for ad in self.backend.history(handle) if ad.get("ProcId") in wanted)
        rows = [row for row in found.rows if row["proc_id"] in wanted]
        mapped.rows.extend(rows)
        mapped.states.update((p, s) for p, s in found.states.items() if p in wanted)
        mapped.bad += found.bad
        mapped.bad_procs |= found.bad_procs & wanted
        absent = wanted - set(found.states) - found.bad_procs
        self._misses = {proc: self._misses.get(proc, 0) + 1 for proc in absent}
        lost = {proc for proc, misses in self._misses.items() if misses >= LOST_AFTER}
        if lost:
            log.error(
                "Submission %d: job(s) %s of cluster %d are neither in the queue nor in the schedd's history; "
                "counting them as lost (check the schedd's history retention, HISTORY / MAX_HISTORY_LOG)",
                self.submission_id, sorted(lost)[:20], handle.cluster_id,
            )
            self._lost |= lost
            for proc in lost:
                del self._misses[proc]
        return rows

    @staticmethod
    def _anonymous_bad(mapped: _Mapped) -> int:
        return mapped.bad - len(mapped.bad_procs)

    def _done(self, mapped: _Mapped, num_jobs: int) -> bool:
        if any(state not in _FINAL for state in mapped.states.values()):
            return False
        if len(self._final) + len(self._bad) + len(self._lost) + len(mapped.states) + 2 * mapped.bad < num_jobs:
            return False  # cannot be: spare the sets (an idle cycle of a big submission)
        return len(self._accounted(mapped)) + self._anonymous_bad(mapped) >= num_jobs

    def _remember(self, mapped: _Mapped) -> None:
        """After the commit: what is now stored is what the next cycle diffs against."""
        assert self._known is not None
        for row in mapped.rows:
            proc = row["proc_id"]
            previous = self._known.get(proc)
            if previous is not None:
                self._by_hash.pop(previous[0], None)
                self._counts[previous[1]] -= 1
            self._known[proc] = (row["ad_hash"], row["state"])
            self._counts[row["state"]] += 1
            (self._final.add if row["state"] in _FINAL else self._final.discard)(proc)
            self._by_hash[row["ad_hash"]] = proc
        self._bad = (self._bad - set(mapped.states)) | mapped.bad_procs
