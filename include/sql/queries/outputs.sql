-- name: clear_stage_outputs
-- Collecting again replaces what a previous collection of the same submission wrote.
DELETE FROM job_outputs WHERE submission_id = %(submission_id)s;

-- name: clear_stage_inputs
DELETE FROM job_inputs WHERE submission_id = %(submission_id)s;

-- name: clear_manifest_problems
DELETE FROM manifest_problems WHERE submission_id = %(submission_id)s;

-- name: insert_job_output
INSERT INTO job_outputs (submission_id, proc_id, file, path, size_bytes, checksum, events, readable)
VALUES (%(submission_id)s, %(proc_id)s, %(file)s, %(path)s, %(size)s, %(checksum)s, %(events)s, %(readable)s)
ON CONFLICT (submission_id, file) DO UPDATE SET
    proc_id = EXCLUDED.proc_id, path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes,
    checksum = EXCLUDED.checksum, events = EXCLUDED.events, readable = EXCLUDED.readable;

-- name: insert_job_input
INSERT INTO job_inputs (submission_id, proc_id, file) VALUES (%(submission_id)s, %(proc_id)s, %(file)s)
ON CONFLICT DO NOTHING;

-- name: insert_manifest_problem
INSERT INTO manifest_problems (submission_id, proc_id, problem) VALUES (%(submission_id)s, %(proc_id)s, %(problem)s)
ON CONFLICT (submission_id, proc_id) DO UPDATE SET problem = EXCLUDED.problem;

-- name: stage_outputs
-- The outputs of each job's latest attempt: the stage's outputs, the next stage's inputs.
SELECT o.*, v.job_index FROM job_outputs o JOIN stage_job_attempts v USING (submission_id, proc_id)
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s AND v.latest
 ORDER BY v.job_index, o.file;

-- name: stage_inputs
SELECT i.*, v.job_index FROM job_inputs i JOIN stage_job_attempts v USING (submission_id, proc_id)
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s AND v.latest
 ORDER BY v.job_index, i.file;

-- name: submissions_of_stage
SELECT * FROM submissions WHERE request_id = %(request_id)s AND stage = %(stage)s ORDER BY attempt;

-- name: upsert_dq_result
INSERT INTO dq_results (request_id, stage, expectation_id, suite, expectation, data_table, severity, success,
                        observed, details)
VALUES (%(request_id)s, %(stage)s, %(expectation_id)s, %(suite)s, %(expectation)s, %(data_table)s, %(severity)s,
        %(success)s, %(observed)s, %(details)s)
ON CONFLICT (request_id, stage, expectation_id) DO UPDATE SET
    suite = EXCLUDED.suite, expectation = EXCLUDED.expectation, data_table = EXCLUDED.data_table,
    severity = EXCLUDED.severity, success = EXCLUDED.success, observed = EXCLUDED.observed,
    details = EXCLUDED.details, checked_at = now();

-- name: dq_results_of_request
SELECT * FROM dq_results WHERE request_id = %(request_id)s ORDER BY stage, expectation_id;

-- name: stages_submitted
SELECT DISTINCT stage FROM submissions WHERE request_id = %(request_id)s;
