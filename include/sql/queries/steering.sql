-- Site steering (prodops.steering; migration 021).

-- name: steering_lock_workflow
-- One decider per workflow at a time: two submissions deciding at once record one episode.
SELECT pg_advisory_xact_lock(hashtext('site_steering:' || %(workflow)s));

-- name: steering_site_counts
-- Per site, the attempts of the workflow's requests that ended in the window, and those of them
-- whose verdict is infrastructure or service from the job itself (an outage overlap is the board
-- speaking about a central service, not the site). A site's window starts after its last episode
-- ended (lifted or cooled off): what decided an episode never decides the next one.
WITH ended AS (
    SELECT j.site, j.submission_id, j.proc_id, coalesce(j.completion_date, j.entered_current_status) AS ended_at
      FROM job_attempts j
      JOIN submissions s ON s.id = j.submission_id
      JOIN requests r ON r.id = s.request_id
     WHERE r.workflow = %(workflow)s AND j.site IS NOT NULL AND j.site <> '' AND j.outcome <> 'unfinished'
       AND coalesce(j.completion_date, j.entered_current_status) > %(window_start)s
       AND coalesce(j.completion_date, j.entered_current_status) <= %(now)s
)
SELECT e.site, count(*) AS attempts,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM triage_verdicts t
            WHERE t.submission_id = e.submission_id AND t.proc_id = e.proc_id
              AND t.category IN ('infrastructure', 'service') AND t.source <> 'outage')) AS failures
  FROM ended e
  LEFT JOIN LATERAL (
      SELECT coalesce(st.lifted_at, st.until) AS ended_at
        FROM site_steering st
       WHERE st.workflow = %(workflow)s AND st.site = e.site
       ORDER BY st.since DESC, st.id DESC
       LIMIT 1) last ON true
 WHERE last.ended_at IS NULL OR e.ended_at > last.ended_at
 GROUP BY e.site
 ORDER BY e.site;

-- name: steering_record
-- A new episode, unless one is open for the workflow and site (deciding twice adds nothing).
INSERT INTO site_steering (workflow, site, since, until, window_start, attempts, failures, failure_rate,
                           threshold, min_attempts)
SELECT %(workflow)s, %(site)s, %(now)s, %(until)s, %(window_start)s, %(attempts)s, %(failures)s,
       %(failure_rate)s, %(threshold)s, %(min_attempts)s
 WHERE NOT EXISTS (SELECT 1 FROM site_steering
                    WHERE workflow = %(workflow)s AND site = %(site)s AND lifted_at IS NULL
                      AND until > %(now)s)
RETURNING *;

-- name: steering_open_of_workflow
-- The sites the workflow avoids now.
SELECT * FROM site_steering
 WHERE workflow = %(workflow)s AND lifted_at IS NULL AND since <= %(now)s AND until > %(now)s
 ORDER BY site;

-- name: steering_open
-- Every avoidance open now (the board's site section), and those that ended in the last day.
SELECT *, (lifted_at IS NULL AND until > %(now)s) AS open
  FROM site_steering
 WHERE since <= %(now)s AND coalesce(lifted_at, until) > %(now)s - interval '1 day'
 ORDER BY (lifted_at IS NULL AND until > %(now)s) DESC, site, workflow;

-- name: steering_of_request
-- The avoidances of a request's workflow that overlapped the request's life (its report).
SELECT st.* FROM site_steering st JOIN requests r ON r.workflow = st.workflow
 WHERE r.id = %(request_id)s AND coalesce(st.lifted_at, st.until) > r.created_at
 ORDER BY st.since, st.site;

-- name: steering_lift
-- A person lifts an open avoidance; lifting it again changes nothing.
UPDATE site_steering SET lifted_by = %(lifted_by)s, lifted_at = %(now)s, lift_note = %(note)s
 WHERE id = %(id)s AND lifted_at IS NULL AND until > %(now)s
RETURNING *;

-- name: steering_get
SELECT * FROM site_steering WHERE id = %(id)s;
