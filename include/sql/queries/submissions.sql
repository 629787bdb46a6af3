-- name: claim_submission
-- The row exists before the batch system is asked, so a crash between the two is found again.
INSERT INTO submissions (request_id, stage, attempt, backend, num_jobs, workdir, spec)
VALUES (%(request_id)s, %(stage)s, %(attempt)s, %(backend)s, %(num_jobs)s, %(workdir)s, %(spec)s)
ON CONFLICT (request_id, stage, attempt) DO UPDATE SET request_id = EXCLUDED.request_id
RETURNING *;

-- name: record_submitted
UPDATE submissions
   SET cluster_id = %(cluster_id)s, schedd = %(schedd)s, event_log = %(event_log)s,
       workdir = %(workdir)s, num_jobs = %(num_jobs)s, state = 'running',
       submitted_at = coalesce(submitted_at, now())
 WHERE id = %(submission_id)s;

-- name: get_submission
SELECT * FROM submissions WHERE id = %(submission_id)s;

-- name: lock_submission
-- Every column but spec: tracking locks the row each cycle that writes, and a 20,000-job spec is
-- hundreds of kilobytes of JSON to send and decode (~10 ms a cycle) that tracking never reads.
SELECT id, request_id, stage, attempt, backend, schedd, cluster_id, num_jobs, workdir, event_log,
       event_log_offset, history_cursor, state, submitted_at, finished_at
  FROM submissions WHERE id = %(submission_id)s FOR UPDATE;

-- name: save_event_offset
UPDATE submissions SET event_log_offset = %(offset)s WHERE id = %(submission_id)s;

-- name: finish_submission
UPDATE submissions SET state = 'done', finished_at = coalesce(finished_at, now())
 WHERE id = %(submission_id)s;

-- name: save_history_cursor
UPDATE submissions SET history_cursor = %(cursor)s WHERE id = %(submission_id)s;

-- name: insert_event_log_problems
-- The problems of one cycle's read, in one statement (arrays, one element per skipped event);
-- a problem stored already (the same bytes read again) is kept once. Returns the new ones.
INSERT INTO event_log_problems (submission_id, log_offset, path, byte_offset, line, message, job)
SELECT %(submission_id)s, p.log_offset, p.path, p.byte_offset, p.line, p.message, p.job
  FROM unnest(%(log_offsets)s::bigint[], %(paths)s::text[], %(byte_offsets)s::bigint[], %(lines)s::text[],
              %(messages)s::text[], %(jobs)s::text[]) AS p (log_offset, path, byte_offset, line, message, job)
ON CONFLICT (submission_id, log_offset) DO NOTHING
RETURNING log_offset;

-- name: event_log_problems_of_submission
-- What tracking skipped in the submission's event log, in log order, for a person to look at.
SELECT log_offset, path, byte_offset, line, message, job, recorded_at
  FROM event_log_problems
 WHERE submission_id = %(submission_id)s
 ORDER BY log_offset;
