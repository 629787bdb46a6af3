-- name: list_requests_page
-- The request list: every filter is optional (NULL: any), newest first, one page at a time;
-- `total` is the number of requests the filters match (indexes: 013_request_pages.sql).
SELECT r.id, r.experiment, r.campaign, r.workflow, r.state, r.n_jobs, r.input_dataset, r.requested_priority,
       r.priority, r.decided_by, r.created_at, r.updated_at, r.ended_reason,
       (SELECT count(*) FROM job_attempts j JOIN submissions s ON s.id = j.submission_id
         WHERE s.request_id = r.id) AS jobs,
       count(*) OVER () AS total
  FROM requests r
 WHERE (%(experiment)s::text IS NULL OR r.experiment = %(experiment)s)
   AND (%(campaign)s::text IS NULL OR r.campaign = %(campaign)s)
   AND (%(state)s::text IS NULL OR r.state = %(state)s)
   AND (%(created_from)s::timestamptz IS NULL OR r.created_at >= %(created_from)s)
   AND (%(created_before)s::timestamptz IS NULL OR r.created_at < %(created_before)s)
 ORDER BY r.id DESC
 LIMIT %(limit)s OFFSET %(offset)s;

-- name: request_filter_choices
-- What the list's filters offer: the experiments and campaigns on record.
SELECT DISTINCT experiment, campaign FROM requests ORDER BY experiment, campaign;

-- name: campaign_requests
-- Every request of one campaign (an experiment's campaign name), oldest first.
SELECT r.id, r.experiment, r.campaign, r.workflow, r.state, r.n_jobs, r.input_dataset, r.requested_priority,
       r.priority, r.decided_by, r.decided_at, r.decision_note, r.created_at, r.updated_at, r.ended_reason,
       r.ended_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('name', st.name, 'state', st.state) ORDER BY st.position)
                   FROM stages st WHERE st.request_id = r.id), '[]'::jsonb) AS stages
  FROM requests r
 WHERE r.experiment = %(experiment)s AND r.campaign = %(campaign)s
 ORDER BY r.id;

-- name: request_progress
-- Per request and stage, as prodops.report.build_report counts them (a job's outcome is its
-- latest attempt's; cpu and wall time count every attempt; wasted = wall time of the attempts
-- whose work was not kept, by accounting_waste_cause (migration 018), the one definition),
-- read live while stages run. tests/integration/web/test_campaign.py holds the two equal.
SELECT v.request_id, v.stage,
       count(*) FILTER (WHERE v.latest) AS jobs,
       count(*) FILTER (WHERE v.latest AND j.outcome = 'succeeded') AS done,
       count(*) FILTER (WHERE v.latest AND j.outcome = 'unfinished') AS running,
       count(*) FILTER (WHERE v.latest AND j.outcome NOT IN ('succeeded', 'unfinished')) AS failed,
       count(*) FILTER (WHERE v.latest AND v.attempt > 1) AS retried,
       count(*) AS attempts,
       coalesce(sum(j.remote_wall_clock_time), 0)::float8 AS wall_s,
       coalesce(sum(coalesce(j.remote_user_cpu, 0) + coalesce(j.remote_sys_cpu, 0)), 0)::float8 AS cpu_s,
       coalesce(sum(j.remote_wall_clock_time) FILTER (WHERE accounting_waste_cause(j.outcome, v.latest, false) IS NOT NULL), 0)::float8
           AS wasted_s
  FROM stage_job_attempts v JOIN job_attempts j USING (submission_id, proc_id)
 WHERE v.request_id = ANY(%(request_ids)s)
 GROUP BY v.request_id, v.stage;

-- name: failures_by_category
-- Triage verdicts per request and category (every failed production attempt judged so far).
SELECT v.request_id, v.category, count(*) AS n
  FROM triage_verdicts v
  JOIN submissions s ON s.id = v.submission_id AND s.kind = 'production'
 WHERE v.request_id = ANY(%(request_ids)s)
 GROUP BY v.request_id, v.category
 ORDER BY v.request_id, count(*) DESC, v.category;

-- name: dq_summary
-- Data-quality results per request: passed, failed, and the critical expectations that failed.
SELECT request_id, count(*) FILTER (WHERE success) AS passed, count(*) FILTER (WHERE NOT success) AS failed,
       coalesce(array_agg(stage || '/' || expectation_id ORDER BY stage, expectation_id)
                FILTER (WHERE NOT success AND severity = 'critical'), '{}') AS critical_failed
  FROM dq_results
 WHERE request_id = ANY(%(request_ids)s)
 GROUP BY request_id;

-- name: attempt_end_range
-- When the requests' attempts ended, first and last (for the outcomes chart's time buckets).
SELECT min(coalesce(j.completion_date, j.entered_current_status)) AS first,
       max(coalesce(j.completion_date, j.entered_current_status)) AS last
  FROM job_attempts j JOIN submissions s ON s.id = j.submission_id
 WHERE s.request_id = ANY(%(request_ids)s) AND j.outcome <> 'unfinished';

-- name: attempt_outcomes_over_time
-- Attempts that ended, by outcome, in buckets of %(bucket)s from %(origin)s.
SELECT date_bin(%(bucket)s, coalesce(j.completion_date, j.entered_current_status), %(origin)s) AS t,
       j.outcome, count(*) AS n
  FROM job_attempts j JOIN submissions s ON s.id = j.submission_id
 WHERE s.request_id = ANY(%(request_ids)s) AND j.outcome <> 'unfinished'
   AND coalesce(j.completion_date, j.entered_current_status) IS NOT NULL
 GROUP BY 1, 2
 ORDER BY 1, 2;
