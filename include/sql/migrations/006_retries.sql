-- Retries: a job of a stage may run in several submissions (attempts). Its job index is its
-- ProcId in the stage's first submission, and a retry submission's spec maps each ProcId to
-- the job index it runs again (spec.job_indexes). A job's outcome is its latest attempt's.

CREATE OR REPLACE VIEW stage_job_attempts AS
SELECT s.request_id, s.stage, s.attempt, j.submission_id, j.proc_id, x.job_index,
       s.attempt = max(s.attempt) OVER (PARTITION BY s.request_id, s.stage, x.job_index) AS latest
  FROM job_attempts j
  JOIN submissions s ON s.id = j.submission_id
 CROSS JOIN LATERAL (SELECT coalesce((s.spec -> 'job_indexes' ->> j.proc_id)::integer, j.proc_id) AS job_index) x;
