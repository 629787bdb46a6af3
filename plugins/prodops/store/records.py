"""Idempotent writes and reads of requests, stages, submissions, job attempts and events.

Every function takes an open psycopg connection and leaves the transaction to the caller,
so one tracking cycle (rows, events, event-log offset) commits or rolls back as a whole.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any

import msgspec
import psycopg
from psycopg.adapt import Dumper
from psycopg.postgres import adapters as postgres
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from prodops.batch.base import JobEventRecord, Submission, SubmissionSpec
from prodops.batch.classads import COLUMNS
from prodops.exceptions import BadEventLog
from prodops.store.db import Conn, one_row, q


def upsert_request(conn: Conn, *, dag_id: str, run_id: str, form: Mapping[str, Any]) -> int:
    row = one_row(conn.execute(
        q("upsert_request"),
        {
            "dag_id": dag_id,
            "run_id": run_id,
            "experiment": form["experiment"],
            "campaign": form["campaign"],
            "workflow": form["workflow"],
            "input_dataset": form.get("input_dataset") or None,
            "n_jobs": form.get("n_jobs"),
            "request_memory_mb": form["request_memory_mb"],
            "request_disk_mb": form["request_disk_mb"],
            "max_wall_time_min": form["max_wall_time_min"],
            "requested_priority": form["priority"],
            "justification": form["justification"],
            "contact": form["contact"],
            "workflow_options": Jsonb(form.get("workflow_options") or {}),
            "form": Jsonb(dict(form)),
        },
    ))
    return int(row["id"])


def upsert_stages(conn: Conn, request_id: int, stage_names: Sequence[str]) -> None:
    for position, name in enumerate(stage_names):
        conn.execute(q("upsert_stage"), {"request_id": request_id, "name": name, "position": position})


def record_decision(
    conn: Conn,
    request_id: int,
    *,
    state: str,
    priority: int | None,
    decided_by: str | None,
    note: str | None,
    decided_at: datetime | None,
) -> None:
    conn.execute(
        q("set_request_decision"),
        {
            "request_id": request_id,
            "state": state,
            "priority": priority,
            "decided_by": decided_by,
            "decision_note": note,
            "decided_at": decided_at,
        },
    )


def set_request_state(conn: Conn, request_id: int, state: str) -> None:
    conn.execute(q("set_request_state"), {"request_id": request_id, "state": state})


def set_stage_state(conn: Conn, request_id: int, stage: str, state: str) -> None:
    conn.execute(q("set_stage_state"), {"request_id": request_id, "stage": stage, "state": state})


def get_request(conn: Conn, request_id: int) -> dict[str, Any] | None:
    return conn.execute(q("get_request"), {"request_id": request_id}).fetchone()


def require_request(conn: Conn, request_id: int) -> dict[str, Any]:
    """The request row where the request must exist (its DAG run made it); a clear error otherwise."""
    request = get_request(conn, request_id)
    if request is None:
        raise LookupError(f"request {request_id} is not in the prodops database; check the request id")
    return request


def claim_submission(conn: Conn, spec: SubmissionSpec, backend: str) -> dict[str, Any]:
    """The submission row for ``spec.key``, created if new; ``cluster_id`` is set once submitted."""
    return one_row(conn.execute(
        q("claim_submission"),
        {
            "request_id": spec.request_id,
            "stage": spec.stage,
            "attempt": spec.attempt,
            "backend": backend,
            "num_jobs": len(spec.items),
            "workdir": spec.workdir,
            "spec": Jsonb(spec.to_dict()),
        },
    ))


def record_submitted(conn: Conn, submission_id: int, submission: Submission) -> None:
    conn.execute(
        q("record_submitted"),
        {
            "submission_id": submission_id,
            "cluster_id": submission.cluster_id,
            "schedd": submission.schedd,
            "event_log": submission.event_log,
            "workdir": submission.workdir,
            "num_jobs": submission.num_jobs,
        },
    )


def get_submission(conn: Conn, submission_id: int, *, lock: bool = False) -> dict[str, Any]:
    row = conn.execute(q("lock_submission" if lock else "get_submission"), {"submission_id": submission_id}).fetchone()
    if row is None:
        raise LookupError(f"submission {submission_id} is not in the prodops database")
    return row


def submission_handle(row: Mapping[str, Any]) -> Submission:
    return Submission(
        backend=row["backend"],
        cluster_id=int(row["cluster_id"]),
        num_jobs=int(row["num_jobs"]),
        event_log=row["event_log"],
        workdir=row["workdir"],
        schedd=row["schedd"],
        key=f"{row['request_id']}/{row['stage']}/{row['attempt']}",
        submitted=row["submitted_at"].timestamp() if row.get("submitted_at") is not None else None,
    )


def save_event_offset(conn: Conn, submission_id: int, offset: int) -> None:
    conn.execute(q("save_event_offset"), {"submission_id": submission_id, "offset": offset})


def finish_submission(conn: Conn, submission_id: int) -> None:
    conn.execute(q("finish_submission"), {"submission_id": submission_id})


def save_history_cursor(conn: Conn, submission_id: int, cursor: str) -> None:
    conn.execute(q("save_history_cursor"), {"submission_id": submission_id, "cursor": cursor})


def job_fingerprints(conn: Conn, submission_id: int) -> dict[int, tuple[str, str]]:
    """proc -> (ad_hash, state) of every stored attempt of the submission."""
    rows = conn.execute(q("job_fingerprints"), {"submission_id": submission_id})
    return {r["proc_id"]: (r["ad_hash"], r["state"]) for r in rows}


_JOB_TYPES: dict[str, str] = {
    "proc_id": "int4", "cluster_id": "int8", "state": "text", "job_status": "int4",
    "q_date": "timestamptz", "job_start_date": "timestamptz", "job_current_start_date": "timestamptz",
    "completion_date": "timestamptz", "entered_current_status": "timestamptz", "exit_code": "int4",
    "exit_by_signal": "bool", "exit_signal": "int4", "hold_reason": "text", "hold_reason_code": "int4",
    "hold_reason_subcode": "int4", "num_holds": "int4", "remove_reason": "text", "last_remote_host": "text",
    "worker_ip": "text", "site": "text", "cpu_model": "text", "cpu_vendor": "text",
    "remote_wall_clock_time": "float8", "remote_user_cpu": "float8", "remote_sys_cpu": "float8",
    "memory_usage_mb": "int8", "resident_set_size_kb": "int8", "disk_usage_kb": "int8",
    "request_memory_mb": "int8", "request_disk_kb": "int8", "num_job_starts": "int4", "num_shadow_starts": "int4",
    "transfer_input_size_mb": "float8", "bytes_recvd": "float8", "bytes_sent": "float8", "time_window": "text",
    "ad": "jsonb", "ad_hash": "text", "files_in_count": "int8", "files_in_bytes": "int8",
    "files_out_count": "int8", "files_out_bytes": "int8",
}
JOB_COPY_TYPES: tuple[str, ...] = ("int8", *(_JOB_TYPES[c] for c in COLUMNS))
"""PostgreSQL types of a binary COPY row of job_attempts: submission_id, then :data:`COLUMNS`."""
EVENT_COPY_TYPES: tuple[str, ...] = ("int8", "int8", "int8", "int4", "text", "timestamptz", "jsonb")
_columns_of = itemgetter(*COLUMNS)


class _JsonText(Dumper):
    """JSON text (str or bytes) as binary jsonb: a version byte and the text, parsed once by PostgreSQL."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: str | bytes) -> bytes:
        return b"\x01" + (obj.encode() if isinstance(obj, str) else obj)


@contextmanager
def binary_copy(cur: psycopg.Cursor[Any], statement: str, types: Sequence[str]) -> Iterator[psycopg.Copy]:
    """A binary COPY of rows whose values already have the columns' types (jsonb as JSON text).

    Binary rows cost a third of text rows to format, and PostgreSQL reads numbers and
    times without parsing them.
    """
    cur.adapters.register_dumper(None, _JsonText)
    with cur.copy(statement) as copy:
        copy.set_types(list(types))
        yield copy


def write_job_attempts(
    conn: Conn,
    submission_id: int,
    rows: Iterable[Mapping[str, Any]],
    *,
    existing: Container[int] | None = None,
) -> int:
    """Upsert mapped job rows (one per job); returns how many were written.

    With ``existing`` (the jobs that already have a row), the others go straight into
    job_attempts by COPY as ``rows`` yields them, so a generator that maps ads overlaps its
    work with PostgreSQL's; the rest take one COPY into the stage table and one merge.
    Should a "new" row exist after all (another tracker wrote it), the COPY fails inside
    a savepoint and every row takes the merge. Without ``existing``, all rows are merged.
    """
    cur = conn.cursor()
    merge: list[Mapping[str, Any]] = []
    copied: list[Mapping[str, Any]] = []
    if existing is None:
        merge = list(rows)
    else:
        pending = iter(rows)
        cur.execute("SAVEPOINT new_job_rows")  # inside the caller's transaction, never a commit of its own
        try:
            with binary_copy(cur, q("copy_job_attempts"), JOB_COPY_TYPES) as copy:
                for row in pending:
                    if row["proc_id"] in existing:
                        merge.append(row)
                    else:
                        copied.append(row)
                        copy.write_row((submission_id, *_columns_of(row)))
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT new_job_rows")
            merge += copied + list(pending)
            copied = []
        cur.execute("RELEASE SAVEPOINT new_job_rows")
    if merge:
        cur.execute(q("create_job_stage"))
        with binary_copy(cur, q("copy_job_stage"), JOB_COPY_TYPES) as copy:
            for row in merge:
                copy.write_row((submission_id, *_columns_of(row)))
        cur.execute(q("merge_job_stage"))
        cur.execute("TRUNCATE job_attempts_stage")
    return len(merge) + len(copied)


_encode_event = msgspec.json.Encoder(enc_hook=str).encode


def write_job_events(conn: Conn, submission_id: int, events: Sequence[JobEventRecord]) -> None:
    """Insert events once each (keyed by log offset), by COPY.

    Events come after the submission's stored offset, which commits with them, so they go
    straight into job_events; should one be stored already (the offset was reset to read
    the log again), the COPY fails inside a savepoint and the batch merges, keeping each once.
    """
    if not events:
        return
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT new_job_events")
        try:
            _copy_events(cur, q("copy_job_events"), submission_id, events)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT new_job_events")
            cur.execute(q("create_event_stage"))
            _copy_events(cur, q("copy_event_stage"), submission_id, events)
            cur.execute(q("merge_event_stage"))
            cur.execute("TRUNCATE job_events_stage")
        cur.execute("RELEASE SAVEPOINT new_job_events")


def _copy_events(cur: psycopg.Cursor[Any], statement: str, submission_id: int, events: Sequence[JobEventRecord]) -> None:
    with binary_copy(cur, statement, EVENT_COPY_TYPES) as copy:
        for e in events:
            copy.write_row((
                submission_id, e.log_offset, e.cluster_id, e.proc_id, e.event_type,
                datetime.fromtimestamp(e.event_time, tz=timezone.utc), _encode_event(e.data),
            ))


def write_event_log_problems(conn: Conn, submission_id: int, problems: Sequence[BadEventLog]) -> int:
    """Store the garbled or unknown events a cycle's read skipped, once each; returns how many are new.

    One row per skipped event (its ``log_offset``, the end of the event in the log's stream):
    should the read find several problems in one event (an XML event with two bad attributes),
    their messages are joined in one row, the place and line being the first one's. A problem
    without a place in the log (there is none from the reader) cannot be keyed and is left out.
    """
    by_event: dict[int, list[BadEventLog]] = {}
    for problem in problems:
        if problem.log_offset is not None:
            by_event.setdefault(int(problem.log_offset), []).append(problem)
    if not by_event:
        return 0
    names = ("log_offsets", "paths", "byte_offsets", "lines", "messages", "jobs")
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for log_offset, found in by_event.items():
        first = found[0]
        named = next((p for p in found if p.cluster_id is not None), None)
        job = None if named is None else f"{named.cluster_id}.{'?' if named.proc_id is None else named.proc_id}"
        for name, value in zip(names, (log_offset, first.path or "", first.offset, first.line,
                                       "; ".join(dict.fromkeys(p.reason for p in found)), job)):
            columns[name].append(value)
    new = conn.execute(q("insert_event_log_problems"), {"submission_id": submission_id, **columns}).fetchall()
    return len(new)


def event_log_problems(conn: Conn, submission_id: int) -> list[dict[str, Any]]:
    """The events tracking skipped in the submission's event log, in log order."""
    return conn.execute(q("event_log_problems_of_submission"), {"submission_id": submission_id}).fetchall()


def jobs_of_stage(conn: Conn, request_id: int, stage: str) -> list[dict[str, Any]]:
    return conn.execute(q("jobs_of_stage"), {"request_id": request_id, "stage": stage}).fetchall()


def upsert_stage_report(conn: Conn, request_id: int, stage: str, report: Mapping[str, Any]) -> None:
    conn.execute(q("upsert_stage_report"), {"request_id": request_id, "stage": stage, "report": Jsonb(dict(report))})


def get_stage_report(conn: Conn, request_id: int, stage: str) -> dict[str, Any] | None:
    row = conn.execute(q("get_stage_report"), {"request_id": request_id, "stage": stage}).fetchone()
    return None if row is None else row["report"]
