-- Inferred outages: the failures they are inferred from, the successes that clear them, and
-- what people said about them (prodops.status.inferred; rules in prodops.status.inference).

-- name: lock_inferred_outages
-- One inference (or one person's review) at a time, until the transaction ends: two triages
-- finishing together must not both post the same outage.
SELECT pg_advisory_xact_lock(hashtext('prodops.inferred_outages')) AS locked;

-- name: last_inferred_events
-- Each service's last inferred event: an outage is open while it is not `up`.
SELECT DISTINCT ON (service) id, service, state, observed_at, code, message, details
  FROM status_events
 WHERE source = 'inferred'
 ORDER BY service, observed_at DESC, id DESC;

-- name: inferred_event
SELECT id, service, state, observed_at, code, message, details
  FROM status_events
 WHERE id = %(id)s AND source = 'inferred';

-- name: inferred_events_for_range
-- Inferred events of the period with what people said about each (for the board's history).
SELECT e.id, e.service, e.state, e.observed_at, e.code, e.message, e.details,
       coalesce(jsonb_agg(jsonb_build_object('action', r.action, 'by', r.reviewed_by, 'at', r.reviewed_at,
                                             'note', r.note, 'min_jobs', r.min_jobs)
                          ORDER BY r.reviewed_at) FILTER (WHERE r.action IS NOT NULL), '[]'::jsonb) AS reviews
  FROM status_events e
  LEFT JOIN inferred_outage_reviews r ON r.event_id = e.id
 WHERE e.source = 'inferred' AND e.service = ANY(%(services)s::text[])
   AND e.observed_at >= %(start)s AND e.observed_at < %(end)s
 GROUP BY e.id
 ORDER BY e.service, e.observed_at, e.id;

-- name: recent_service_failures
-- Failed attempts with a service verdict from their own logs (not from an outage overlap) that
-- ended in [since, now], across every request. A verdict is written after its attempt ended, so
-- its triage time is at least the end too: that bounds the scan (partial index, 012).
SELECT v.service, v.signature, v.rule, v.request_id, v.stage, v.cluster_id, v.proc_id,
       coalesce(j.completion_date, j.entered_current_status) AS ended
  FROM triage_verdicts v
  JOIN job_attempts j USING (submission_id, proc_id)
 WHERE v.category = 'service' AND v.service IS NOT NULL AND v.source <> 'outage'
   AND v.triaged_at >= %(since)s
   AND coalesce(j.completion_date, j.entered_current_status) BETWEEN %(since)s AND %(now)s;

-- name: running_job_count
-- Jobs running now, in the submissions still tracked.
SELECT count(*) AS n
  FROM submissions s JOIN job_attempts j ON j.submission_id = s.id
 WHERE s.state <> 'done' AND j.state = 'running';

-- name: succeeded_attempts_since
-- Attempts that succeeded in (since, now], the first n of each workflow stage, earliest first.
SELECT workflow, stage, completion_date
  FROM (SELECT r.workflow, s.stage, j.completion_date,
               row_number() OVER (PARTITION BY r.workflow, s.stage ORDER BY j.completion_date) AS k
          FROM submissions s
          JOIN requests r ON r.id = s.request_id
          JOIN job_attempts j ON j.submission_id = s.id
         WHERE (s.state <> 'done' OR s.finished_at >= %(since)s)
           AND j.outcome = 'succeeded' AND j.completion_date > %(since)s AND j.completion_date <= %(now)s) x
 WHERE k <= %(n)s
 ORDER BY completion_date;

-- name: inferred_thresholds
SELECT signature, min_jobs FROM inferred_outage_thresholds;

-- name: upsert_inferred_threshold
INSERT INTO inferred_outage_thresholds (signature, min_jobs, set_by, set_at, event_id, note)
VALUES (%(signature)s, %(min_jobs)s, %(set_by)s, %(set_at)s, %(event_id)s, %(note)s)
ON CONFLICT (signature) DO UPDATE SET
    min_jobs = EXCLUDED.min_jobs, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at,
    event_id = EXCLUDED.event_id, note = EXCLUDED.note;

-- name: upsert_inferred_review
-- Saying it again (same outage, same action) records the latest who, when and why.
INSERT INTO inferred_outage_reviews (event_id, action, service, signature, reviewed_by, reviewed_at, note, min_jobs)
VALUES (%(event_id)s, %(action)s, %(service)s, %(signature)s, %(reviewed_by)s, %(reviewed_at)s, %(note)s,
        %(min_jobs)s)
ON CONFLICT (event_id, action) DO UPDATE SET
    reviewed_by = EXCLUDED.reviewed_by, reviewed_at = EXCLUDED.reviewed_at, note = EXCLUDED.note,
    min_jobs = coalesce(EXCLUDED.min_jobs, inferred_outage_reviews.min_jobs);
