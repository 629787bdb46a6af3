-- Debug reruns (022_debug_rerun.sql, prodops.rerun).

-- name: debug_rerun_candidates
-- Each job's production attempt (the latest: what the request counts), with its verdict, for
-- choosing what to rerun by job index or by a triage filter.
SELECT v.stage, v.job_index, v.attempt, v.submission_id, v.proc_id, j.outcome, j.site, j.request_memory_mb,
       t.category, t.signature, t.rule, t.action, t.action_state
  FROM stage_job_attempts v
  JOIN job_attempts j USING (submission_id, proc_id)
  LEFT JOIN triage_verdicts t USING (submission_id, proc_id)
 WHERE v.request_id = %(request_id)s AND v.latest
   AND (%(stage)s::text IS NULL OR v.stage = %(stage)s::text)
 ORDER BY v.stage, v.job_index;

-- name: debug_rerun_of_run
-- The rerun an Airflow run already submitted (or claimed) for a stage: a re-run task finds it.
SELECT * FROM submissions
 WHERE request_id = %(request_id)s AND stage = %(stage)s AND kind = 'debug'
   AND spec -> 'debug' ->> 'run_id' = %(run_id)s;

-- name: next_attempt
-- The stage's next attempt number (production and debug share the numbering).
SELECT coalesce(max(attempt), 0) + 1 AS attempt FROM submissions
 WHERE request_id = %(request_id)s AND stage = %(stage)s;

-- name: claim_debug_submission
-- Like claim_submission, but a row of another kind or run with this attempt is never taken over:
-- nothing comes back, and the caller asks for the next attempt.
INSERT INTO submissions (request_id, stage, attempt, backend, num_jobs, workdir, spec)
VALUES (%(request_id)s, %(stage)s, %(attempt)s, %(backend)s, %(num_jobs)s, %(workdir)s, %(spec)s)
ON CONFLICT (request_id, stage, attempt) DO NOTHING
RETURNING *;

-- name: record_debug_rerun
INSERT INTO debug_reruns (submission_id, proc_id, request_id, stage, job_index, rerun_of_submission_id,
                          rerun_of_proc_id, run_id, requested_by, settings)
VALUES (%(submission_id)s, %(proc_id)s, %(request_id)s, %(stage)s, %(job_index)s, %(rerun_of_submission_id)s,
        %(rerun_of_proc_id)s, %(run_id)s, %(requested_by)s, %(settings)s)
ON CONFLICT (submission_id, proc_id) DO NOTHING;

-- name: debug_reruns_of_request
-- Each rerun attempt beside the attempt it reruns (the request page's side-by-side view): exit,
-- outcome, verdict and evidence of both, and where their logs are. Newest reruns first.
SELECT d.stage, d.job_index, d.run_id, d.requested_by, d.settings, d.created_at,
       d.rerun_of_submission_id AS o_submission_id, d.rerun_of_proc_id AS o_proc_id, os.attempt AS o_attempt,
       os.workdir AS o_workdir, os.event_log AS o_event_log, oj.cluster_id AS o_cluster_id,
       oj.outcome AS o_outcome, oj.exit_code AS o_exit_code, oj.hold_reason AS o_hold_reason, oj.site AS o_site,
       ov.category AS o_category, ov.rule AS o_rule, ov.evidence AS o_evidence,
       d.submission_id AS r_submission_id, d.proc_id AS r_proc_id, rs.attempt AS r_attempt,
       rs.workdir AS r_workdir, rs.event_log AS r_event_log, rs.cluster_id AS r_cluster_id,
       rj.outcome AS r_outcome, rj.exit_code AS r_exit_code, rj.hold_reason AS r_hold_reason, rj.site AS r_site,
       rv.category AS r_category, rv.rule AS r_rule, rv.evidence AS r_evidence
  FROM debug_reruns d
  JOIN submissions os ON os.id = d.rerun_of_submission_id
  JOIN job_attempts oj ON oj.submission_id = d.rerun_of_submission_id AND oj.proc_id = d.rerun_of_proc_id
  LEFT JOIN triage_verdicts ov ON ov.submission_id = oj.submission_id AND ov.proc_id = oj.proc_id
  JOIN submissions rs ON rs.id = d.submission_id
  LEFT JOIN job_attempts rj ON rj.submission_id = d.submission_id AND rj.proc_id = d.proc_id
  LEFT JOIN triage_verdicts rv ON rv.submission_id = d.submission_id AND rv.proc_id = d.proc_id
 WHERE d.request_id = %(request_id)s
 ORDER BY d.created_at DESC, d.stage, d.job_index
 LIMIT %(limit)s;
