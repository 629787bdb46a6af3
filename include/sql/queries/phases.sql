-- Phase markers (015_phases.sql): job tokens, and the phases jobs report.

-- name: insert_job_token
-- One token per submit try (017_job_tokens_per_try.sql): a submit re-run after a crash adds one,
-- and the first try's stays valid for the jobs the schedd may already have taken with it.
INSERT INTO job_tokens (submission_id, token_hash, issued_at, expires_at)
VALUES (%(submission_id)s, %(token_hash)s, %(issued_at)s, %(expires_at)s);

-- name: job_token
-- The submission a token hash belongs to, with what its expiry and its job indexes depend on.
SELECT t.submission_id, t.expires_at, s.finished_at, s.num_jobs, s.spec -> 'job_indexes' AS job_indexes
  FROM job_tokens t JOIN submissions s ON s.id = t.submission_id
 WHERE t.token_hash = %(token_hash)s;

-- name: upsert_job_phase
-- Idempotent, and the same whatever the order: a row is replaced only by a better one: an api
-- report replaces a stdout marker (never the reverse), and within one source a later reported
-- time replaces an earlier one. A repeat changes nothing. Returns a row when it was written.
INSERT INTO job_phases AS p (submission_id, job_index, phase, state, status_code, cpu_s, wall_s, events, source,
                             reported_at)
VALUES (%(submission_id)s, %(job_index)s, %(phase)s, %(state)s, %(status_code)s, %(cpu_s)s, %(wall_s)s, %(events)s,
        %(source)s, %(reported_at)s)
ON CONFLICT (submission_id, job_index, phase, state) DO UPDATE
   SET status_code = EXCLUDED.status_code, cpu_s = EXCLUDED.cpu_s, wall_s = EXCLUDED.wall_s,
       events = EXCLUDED.events, source = EXCLUDED.source, reported_at = EXCLUDED.reported_at,
       received_at = now()
 WHERE (EXCLUDED.source = 'api' AND p.source = 'stdout')
    OR (EXCLUDED.source = p.source
        AND coalesce(EXCLUDED.reported_at, '-infinity') > coalesce(p.reported_at, '-infinity'))
RETURNING submission_id;

-- name: phases_of_jobs
-- The phases of the given attempts (parallel arrays of submission ids and job indexes), in the
-- order the jobs reported them.
SELECT p.submission_id, p.job_index, p.phase, p.state, p.status_code, p.cpu_s, p.wall_s, p.events, p.source,
       p.reported_at, p.received_at
  FROM job_phases p
  JOIN unnest(%(submission_ids)s::bigint[], %(job_indexes)s::integer[]) AS j (submission_id, job_index)
    ON p.submission_id = j.submission_id AND p.job_index = j.job_index
 ORDER BY p.submission_id, p.job_index, coalesce(p.reported_at, p.received_at), p.phase, p.state DESC;

-- name: stage_submissions_to_harvest
-- Every submission of a stage that reached the batch system, with where its jobs' stdout is.
SELECT id, workdir, event_log, num_jobs, spec -> 'job_indexes' AS job_indexes
  FROM submissions
 WHERE request_id = %(request_id)s AND stage = %(stage)s AND cluster_id IS NOT NULL
 ORDER BY attempt;

-- name: attempt_phases
-- One attempt's phases (by its stage job index: a retry's ProcId is not its job index), for its page.
SELECT p.phase, p.state, p.status_code, p.cpu_s, p.wall_s, p.events, p.source, p.reported_at, p.received_at
  FROM submissions s
 CROSS JOIN LATERAL (SELECT coalesce((s.spec -> 'job_indexes' ->> %(proc_id)s::integer)::integer,
                                     %(proc_id)s::integer) AS job_index) x
  JOIN job_phases p ON p.submission_id = s.id AND p.job_index = x.job_index
 WHERE s.id = %(submission_id)s
 ORDER BY coalesce(p.reported_at, p.received_at), p.phase, p.state DESC;
