-- name: list_requests
SELECT r.id, r.experiment, r.campaign, r.workflow, r.state, r.n_jobs, r.input_dataset, r.requested_priority,
       r.priority, r.decided_by, r.created_at, r.updated_at,
       (SELECT count(*) FROM job_attempts j JOIN submissions s ON s.id = j.submission_id
         WHERE s.request_id = r.id) AS jobs
  FROM requests r
 ORDER BY r.id DESC
 LIMIT %(limit)s;

-- name: request_stages
SELECT st.name, st.position, st.state,
       s.id AS submission_id, s.attempt, s.backend, s.cluster_id, s.num_jobs, s.state AS submission_state,
       s.submitted_at, s.finished_at, rep.report
  FROM stages st
  LEFT JOIN submissions s ON s.request_id = st.request_id AND s.stage = st.name
  LEFT JOIN stage_reports rep ON rep.request_id = st.request_id AND rep.stage = st.name
 WHERE st.request_id = %(request_id)s
 ORDER BY st.position, s.attempt;

-- name: request_dq_results
SELECT stage, expectation_id, suite, expectation, data_table, severity, success, observed, checked_at
  FROM dq_results WHERE request_id = %(request_id)s
 ORDER BY stage, success, severity, expectation_id;

-- name: request_unsuccessful_jobs
-- Every attempt that has not succeeded (yet): its stored outcome (010_outcome.sql) says so.
SELECT s.stage, s.attempt, j.cluster_id, j.proc_id, j.state, j.outcome, j.exit_code, j.exit_by_signal,
       j.exit_signal, j.hold_reason_code, j.hold_reason, j.site, j.last_remote_host, j.remote_wall_clock_time
  FROM job_attempts j JOIN submissions s ON s.id = j.submission_id
 WHERE s.request_id = %(request_id)s
   AND j.outcome <> 'succeeded'
 ORDER BY s.stage, j.proc_id
 LIMIT %(limit)s;

-- name: request_live_triage
-- Verdicts so far by stage and category: the request page shows them while a stage runs
-- (tracking triages failures as they happen; the stage report has the final counts).
SELECT stage, category, count(*) AS n
  FROM triage_verdicts
 WHERE request_id = %(request_id)s
 GROUP BY stage, category
 ORDER BY stage, count(*) DESC;
