-- Failure triage: failed attempts in, verdicts out.

-- name: failed_attempts_of_stage
-- Every attempt of the stage that ended without success (its stored outcome: failed, killed, held
-- or removed; 010_outcome.sql), with where its logs are (its submission's record).
SELECT j.submission_id, j.proc_id, j.cluster_id, j.state, j.outcome, j.exit_code, j.exit_by_signal, j.exit_signal,
       j.hold_reason, j.hold_reason_code, j.hold_reason_subcode, j.remove_reason, j.site, j.last_remote_host,
       j.q_date, j.job_start_date, j.job_current_start_date, j.completion_date, j.entered_current_status,
       j.memory_usage_mb, j.request_memory_mb, j.disk_usage_kb, j.request_disk_kb, j.remote_wall_clock_time,
       j.num_job_starts, s.attempt, s.workdir, s.event_log, v.job_index
  FROM stage_job_attempts v JOIN job_attempts j USING (submission_id, proc_id)
  JOIN submissions s ON s.id = v.submission_id
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s
   AND (%(submission_id)s::bigint IS NULL OR s.id = %(submission_id)s::bigint)
   AND j.outcome IN ('failed', 'killed', 'held', 'removed')
   -- while the stage runs, triage streams: only the attempts that have no verdict yet
   AND (NOT %(only_new)s OR NOT EXISTS (SELECT 1 FROM triage_verdicts t
                                         WHERE t.submission_id = j.submission_id AND t.proc_id = j.proc_id))
 ORDER BY s.attempt, j.proc_id;

-- name: retries_of_stage
-- Retries already decided for the stage's jobs, to count each job's budgets.
SELECT submission_id, proc_id, job_index, attempt, action_budget
  FROM triage_verdicts
 WHERE request_id = %(request_id)s AND stage = %(stage)s AND action_budget IS NOT NULL
   AND action IN ('retry', 'retry_more_resources') AND action_state <> 'skipped';

-- name: lock_stage_for_triage
-- Two triages of one stage write one after the other (until the transaction ends).
SELECT 1 AS locked FROM stages WHERE request_id = %(request_id)s AND name = %(stage)s FOR UPDATE;

-- name: stage_has_verdicts
-- Whether triage ran on the stage before: the first time, verdicts are copied straight in.
SELECT 1 AS yes FROM triage_verdicts WHERE request_id = %(request_id)s AND stage = %(stage)s LIMIT 1;

-- name: copy_verdicts
COPY triage_verdicts (submission_id, proc_id, request_id, stage, attempt, job_index, cluster_id, category,
    service, rule, source, explain, retryable, confidence, resource, possibly_service, evidence, outages, action,
    action_reason, action_budget, action_params, signature, decision, verdict_hash) FROM STDIN;

-- name: create_verdict_stage
CREATE TEMP TABLE IF NOT EXISTS triage_verdicts_stage
    (LIKE triage_verdicts INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: copy_verdict_stage
COPY triage_verdicts_stage (submission_id, proc_id, request_id, stage, attempt, job_index, cluster_id, category,
    service, rule, source, explain, retryable, confidence, resource, possibly_service, evidence, outages, action,
    action_reason, action_budget, action_params, signature, decision, verdict_hash) FROM STDIN;

-- name: merge_verdict_stage
-- One statement for the batch. A verdict that did not change is not rewritten, and neither is
-- one whose action was carried out (state not planned): it stays the record of why it was done.
INSERT INTO triage_verdicts AS v (submission_id, proc_id, request_id, stage, attempt, job_index, cluster_id,
    category, service, rule, source, explain, retryable, confidence, resource, possibly_service, evidence,
    outages, action, action_reason, action_budget, action_params, signature, decision, verdict_hash)
SELECT submission_id, proc_id, request_id, stage, attempt, job_index, cluster_id, category, service, rule, source,
       explain, retryable, confidence, resource, possibly_service, evidence, outages, action, action_reason,
       action_budget, action_params, signature, decision, verdict_hash
  FROM triage_verdicts_stage
ON CONFLICT (submission_id, proc_id) DO UPDATE SET
    category = EXCLUDED.category, service = EXCLUDED.service, rule = EXCLUDED.rule, source = EXCLUDED.source,
    explain = EXCLUDED.explain, retryable = EXCLUDED.retryable, confidence = EXCLUDED.confidence,
    resource = EXCLUDED.resource, possibly_service = EXCLUDED.possibly_service, evidence = EXCLUDED.evidence,
    outages = EXCLUDED.outages, action = EXCLUDED.action, action_reason = EXCLUDED.action_reason,
    action_budget = EXCLUDED.action_budget, action_params = EXCLUDED.action_params,
    signature = EXCLUDED.signature, decision = EXCLUDED.decision,
    verdict_hash = EXCLUDED.verdict_hash, triaged_at = now()
WHERE v.verdict_hash IS DISTINCT FROM EXCLUDED.verdict_hash AND v.action_state = 'planned';

-- name: verdicts_of_stage
SELECT v.*, j.site, j.exit_code, j.exit_signal, j.hold_reason_code, j.last_remote_host
  FROM triage_verdicts v JOIN job_attempts j USING (submission_id, proc_id)
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s
 ORDER BY v.attempt, v.proc_id;

-- name: planned_actions
-- What the retry step has to do: planned retries (with their parameters) and the debug-rerun list.
-- A debug rerun's attempts are for a person to read: nothing is planned from them (022_debug_rerun.sql).
SELECT v.submission_id, v.proc_id, v.job_index, v.attempt, v.cluster_id, v.category, v.service, v.rule, v.action,
       v.action_reason, v.action_budget, v.action_params, j.state
  FROM triage_verdicts v JOIN job_attempts j USING (submission_id, proc_id)
  JOIN submissions s ON s.id = v.submission_id AND s.kind = 'production'
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s AND v.action_state = 'planned'
   AND v.action = ANY(%(actions)s::text[])
 ORDER BY v.job_index, v.attempt;

-- name: record_action
-- The retry step (or a person) says what was done about attempts' planned actions.
UPDATE triage_verdicts
   SET action_state = %(state)s, action_note = %(note)s, retry_submission_id = %(retry_submission_id)s,
       acted_at = now()
 WHERE submission_id = %(submission_id)s AND proc_id = ANY(%(proc_ids)s::integer[])
RETURNING proc_id;

-- name: triage_groups
-- Failed attempts grouped by verdict and failure signature (the triage page): a thousand jobs
-- failing one new way are one group, whatever sites and exit codes they had (the most common
-- of each is shown, with how many there were). Production attempts only: a debug rerun's verdict
-- is shown beside the attempt it reruns (the request page), never counted as another failure.
SELECT v.category, v.rule, v.service, v.signature, count(*) AS jobs,
       mode() WITHIN GROUP (ORDER BY j.site) AS site, count(DISTINCT j.site) AS sites,
       mode() WITHIN GROUP (ORDER BY j.exit_code) AS exit_code, count(DISTINCT j.exit_code) AS exit_codes,
       count(*) FILTER (WHERE v.possibly_service) AS possibly_service,
       (array_agg(v.cluster_id || '.' || v.proc_id ORDER BY v.attempt, v.proc_id))[1:5] AS sample_jobs,
       (array_agg(v.submission_id || '/' || v.proc_id ORDER BY v.attempt, v.proc_id))[1:5] AS sample_attempts,
       (array_agg(v.evidence -> 0 ORDER BY v.attempt, v.proc_id)
            FILTER (WHERE jsonb_array_length(v.evidence) > 0))[1] AS example,
       (array_agg(v.submission_id || '/' || v.proc_id ORDER BY v.attempt, v.proc_id)
            FILTER (WHERE jsonb_array_length(v.evidence) > 0))[1] AS example_attempt,
       min(v.explain) AS explain,
       count(*) FILTER (WHERE v.action LIKE 'retry%%' AND v.action_state = 'done') AS retried,
       count(*) FILTER (WHERE v.action LIKE 'retry%%' AND v.action_state = 'planned') AS retry_planned,
       count(*) FILTER (WHERE v.action LIKE 'retry%%' AND v.action_state IN ('skipped', 'failed')) AS retry_not_done,
       count(*) FILTER (WHERE v.action = 'debug_rerun') AS debug_rerun,
       count(*) FILTER (WHERE v.action = 'leave') AS left_alone
  FROM triage_verdicts v JOIN job_attempts j USING (submission_id, proc_id)
  JOIN submissions s ON s.id = v.submission_id AND s.kind = 'production'
 WHERE v.request_id = %(request_id)s AND (%(stage)s::text IS NULL OR v.stage = %(stage)s::text)
 GROUP BY v.category, v.rule, v.service, v.signature
 ORDER BY count(*) DESC, v.category, v.rule;

-- name: triage_group_outages
-- The outages and maintenance windows that overlapped the failed attempts of each group.
SELECT DISTINCT v.category, v.rule, v.service, v.signature, o ->> 'service' AS outage_service,
       o ->> 'kind' AS kind, o ->> 'state' AS state, o ->> 'start' AS start, o ->> 'end' AS "end",
       o ->> 'detail' AS detail
  FROM triage_verdicts v
  JOIN submissions s ON s.id = v.submission_id AND s.kind = 'production'
 CROSS JOIN LATERAL jsonb_array_elements(v.outages) o
 WHERE v.request_id = %(request_id)s AND (%(stage)s::text IS NULL OR v.stage = %(stage)s::text)
 ORDER BY 1, 2, 3, 4, start;

-- name: get_verdict
SELECT v.*, s.workdir, s.event_log, j.state, j.exit_code, j.exit_signal, j.hold_reason, j.site
  FROM triage_verdicts v JOIN submissions s ON s.id = v.submission_id
  JOIN job_attempts j USING (submission_id, proc_id)
 WHERE v.submission_id = %(submission_id)s AND v.proc_id = %(proc_id)s;

-- name: triage_counts_of_stage
-- The stage report's triage line: verdicts of production attempts by category and action, and
-- how far each action got (debug reruns are no production attempt).
SELECT v.category, v.action, v.action_state, count(*) AS n
  FROM triage_verdicts v
  JOIN submissions s ON s.id = v.submission_id AND s.kind = 'production'
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s
 GROUP BY v.category, v.action, v.action_state
 ORDER BY count(*) DESC;

-- name: stage_progress
-- Every submission of the stage (its first and its retry rounds): whether it is still tracked,
-- whether some of its failed attempts have no verdict yet, and when it was submitted. The
-- stage's tracking step reads it each cycle to know what to track, triage and wait for.
SELECT s.id, s.attempt, s.kind, s.state, s.cluster_id, s.num_jobs, s.submitted_at,
       EXISTS (SELECT 1 FROM job_attempts j
                WHERE j.submission_id = s.id
                  AND j.outcome IN ('failed', 'killed', 'held', 'removed')
                  AND NOT EXISTS (SELECT 1 FROM triage_verdicts v
                                   WHERE v.submission_id = j.submission_id AND v.proc_id = j.proc_id)
              ) AS untriaged
  FROM submissions s
 WHERE s.request_id = %(request_id)s AND s.stage = %(stage)s
 ORDER BY s.attempt;

-- name: attempt_job_facts
-- What the batch system recorded of one attempt, for the attempt page beside its tail.
SELECT j.state, j.outcome, j.exit_code, j.exit_by_signal, j.exit_signal, j.hold_reason, j.hold_reason_code,
       j.hold_reason_subcode, j.num_holds, j.remove_reason, j.last_remote_host, j.worker_ip, j.site, j.cpu_model,
       j.cpu_vendor, j.remote_wall_clock_time, j.remote_user_cpu, j.remote_sys_cpu, j.memory_usage_mb,
       j.request_memory_mb, j.disk_usage_kb, j.request_disk_kb, j.files_in_count, j.files_in_bytes,
       j.files_out_count, j.files_out_bytes, j.bytes_recvd, j.bytes_sent, j.time_window, j.job_start_date,
       j.job_current_start_date, j.completion_date, j.entered_current_status, j.num_job_starts
  FROM job_attempts j
 WHERE j.submission_id = %(submission_id)s AND j.proc_id = %(proc_id)s;

-- name: attempt_chain
-- Every attempt of the same job (request, stage, job index), first to latest, with its verdict.
SELECT a.attempt, a.submission_id, a.proc_id, a.job_index, a.latest, j.cluster_id, j.state, j.exit_code,
       j.exit_signal, j.hold_reason_code, j.site, v.category, v.rule, v.action, v.action_state
  FROM stage_job_attempts a
  JOIN job_attempts j ON j.submission_id = a.submission_id AND j.proc_id = a.proc_id
  LEFT JOIN triage_verdicts v ON v.submission_id = a.submission_id AND v.proc_id = a.proc_id
 WHERE (a.request_id, a.stage, a.job_index) =
       (SELECT request_id, stage, job_index FROM stage_job_attempts
         WHERE submission_id = %(submission_id)s AND proc_id = %(proc_id)s)
 ORDER BY a.attempt;
