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
SELECT * FROM submissions WHERE id = %(submission_id)s FOR UPDATE;

-- name: save_event_offset
UPDATE submissions SET event_log_offset = %(offset)s WHERE id = %(submission_id)s;

-- name: finish_submission
UPDATE submissions SET state = 'done', finished_at = coalesce(finished_at, now())
 WHERE id = %(submission_id)s;

-- name: save_history_cursor
UPDATE submissions SET history_cursor = %(cursor)s WHERE id = %(submission_id)s;
