-- Accounting (018_accounting.sql, docs/accounting.md): one run of prodops.accounting.rollup,
-- in one transaction under an advisory lock, in the order of the statements below.

-- name: accounting_lock
-- One run at a time (a manual run beside the scheduled one waits for it).
SELECT pg_advisory_xact_lock(7080687968);

-- name: accounting_cursor
SELECT updated_at FROM accounting_cursor WHERE id = 1 FOR UPDATE;

-- name: accounting_changed
-- Attempts written since the cursor (less the overlap; NULL: all of them) and the jobs they
-- belong to: a new attempt of a job changes what its earlier attempts count as (retried away).
-- The job index is read as in the stage_job_attempts view (006_retries.sql).
-- A phase a job reported since then (020_accounting_phases.sql) brings its job in too.
CREATE TEMP TABLE accounting_changed ON COMMIT DROP AS
SELECT s.request_id, s.stage, coalesce((s.spec -> 'job_indexes' ->> j.proc_id)::integer, j.proc_id) AS job_index,
       j.updated_at, true AS attempt
  FROM job_attempts j JOIN submissions s ON s.id = j.submission_id
 WHERE %(since)s::timestamptz IS NULL OR j.updated_at > %(since)s::timestamptz
UNION ALL
SELECT s.request_id, s.stage, p.job_index, p.received_at, false
  FROM job_phases p JOIN submissions s ON s.id = p.submission_id
 WHERE %(since)s::timestamptz IS NULL OR p.received_at > %(since)s::timestamptz;

-- name: accounting_changed_summary
SELECT count(*) FILTER (WHERE attempt) AS changed, count(*) AS rows, max(updated_at) AS newest
  FROM accounting_changed;

-- name: accounting_changed_jobs
-- The jobs (and their stages) whose attempts are accounted again, with statistics for the planner.
CREATE TEMP TABLE accounting_jobs ON COMMIT DROP AS
SELECT DISTINCT request_id, stage, job_index FROM accounting_changed;
ANALYZE accounting_jobs;

-- name: accounting_fresh
-- Every attempt of the jobs that changed, with its key and figures as docs/accounting.md
-- defines them. `latest`: the job's newest production attempt (a debug rerun never is one);
-- `debug`: its submission is a debug rerun (its spec has a `debug` entry). The window runs
-- over whole stages first, then keeps the changed jobs.
CREATE TEMP TABLE accounting_fresh ON COMMIT DROP AS
WITH stage_attempts AS MATERIALIZED (
    SELECT j.submission_id, j.proc_id, j.outcome, j.completion_date, j.entered_current_status, j.updated_at,
           j.site, j.cpu_model, j.worker_ip, j.time_window, j.remote_wall_clock_time, j.remote_user_cpu,
           j.remote_sys_cpu, j.memory_usage_mb, j.request_memory_mb, j.disk_usage_kb, j.request_disk_kb,
           j.files_in_count, j.files_in_bytes, j.bytes_recvd, j.files_out_count, j.files_out_bytes, j.bytes_sent,
           -- CommittedTime: the wall time of the run whose work was kept (HTCondor); else the
           -- last run's; else all of it (no eviction known)
           coalesce(CASE WHEN jsonb_typeof(j.ad -> 'CommittedTime') = 'number' THEN (j.ad ->> 'CommittedTime')::float8 END,
                    CASE WHEN jsonb_typeof(j.ad -> 'LastRemoteWallClockTime') = 'number'
                         THEN (j.ad ->> 'LastRemoteWallClockTime')::float8 END,
                    j.remote_wall_clock_time, 0) AS committed,
           s.request_id, s.stage, s.attempt,
           coalesce(jsonb_typeof(s.spec -> 'debug'), 'null') <> 'null' AS debug,
           coalesce((s.spec -> 'job_indexes' ->> j.proc_id)::integer, j.proc_id) AS job_index
      FROM (SELECT DISTINCT request_id, stage FROM accounting_jobs) st
      JOIN submissions s ON s.request_id = st.request_id AND s.stage = st.stage
      JOIN job_attempts j ON j.submission_id = s.id
), windowed AS MATERIALIZED (
    SELECT a.*,
           NOT a.debug AND a.attempt IS NOT DISTINCT FROM
               max(a.attempt) FILTER (WHERE NOT a.debug) OVER (PARTITION BY a.request_id, a.stage, a.job_index)
               AS latest
      FROM stage_attempts a
), judged AS (
    SELECT w.* FROM windowed w JOIN accounting_jobs USING (request_id, stage, job_index)
), figured AS (
    SELECT t.*,
           accounting_waste_cause(t.outcome, t.latest, t.debug) AS cause,
           coalesce(t.remote_wall_clock_time, 0) AS wall,
           t.memory_usage_mb IS NOT NULL AND t.request_memory_mb IS NOT NULL AS memory_known,
           t.disk_usage_kb IS NOT NULL AND t.request_disk_kb IS NOT NULL AS disk_known
      FROM judged t
)
SELECT f.submission_id, f.proc_id, f.outcome <> 'unfinished' AS ended,
       f.request_id, r.experiment, r.campaign, f.stage,
       coalesce(nullif(f.site, ''), 'unknown') AS site,
       coalesce(nullif(f.cpu_model, ''), 'unknown') AS cpu_model,
       accounting_subnet(f.worker_ip) AS subnet,
       coalesce(nullif(f.time_window, ''), 'unknown') AS time_window,
       (coalesce(f.completion_date, f.entered_current_status, f.updated_at) AT TIME ZONE 'UTC')::date AS day,
       f.cause AS waste_cause,
       1 AS attempts,
       (f.outcome = 'succeeded')::int AS succeeded,
       (f.outcome = 'failed')::int AS failed,
       (f.outcome = 'killed')::int AS killed,
       (f.outcome = 'held')::int AS held,
       (f.outcome = 'removed')::int AS removed,
       f.wall AS wall_s,
       coalesce(f.remote_user_cpu, 0) + coalesce(f.remote_sys_cpu, 0) AS cpu_s,
       f.memory_known::int AS memory_measured,
       CASE WHEN f.memory_known THEN f.memory_usage_mb ELSE 0 END AS memory_used_mb,
       CASE WHEN f.memory_known THEN f.request_memory_mb ELSE 0 END AS memory_requested_mb,
       (f.memory_known AND f.memory_usage_mb > f.request_memory_mb)::int AS memory_over,
       f.disk_known::int AS disk_measured,
       CASE WHEN f.disk_known THEN f.disk_usage_kb ELSE 0 END AS disk_used_kb,
       CASE WHEN f.disk_known THEN f.request_disk_kb ELSE 0 END AS disk_requested_kb,
       (f.disk_known AND f.disk_usage_kb > f.request_disk_kb)::int AS disk_over,
       coalesce(f.files_in_count, 0) AS files_in,
       coalesce(f.files_in_bytes, f.bytes_recvd, 0) AS bytes_in,
       coalesce(f.files_out_count, 0) AS files_out,
       coalesce(f.files_out_bytes, f.bytes_sent, 0) AS bytes_out,
       CASE WHEN f.cause = 'failed' THEN f.wall ELSE 0 END AS wasted_failed_s,
       CASE WHEN f.cause = 'killed' THEN f.wall ELSE 0 END AS wasted_killed_s,
       CASE WHEN f.cause = 'held' THEN f.wall ELSE 0 END AS wasted_held_s,
       CASE WHEN f.cause = 'removed' THEN f.wall ELSE 0 END AS wasted_removed_s,
       CASE WHEN f.cause = 'retried_away' THEN f.wall ELSE 0 END AS wasted_retried_away_s,
       CASE WHEN f.cause = 'debug_rerun' THEN f.wall ELSE 0 END AS wasted_debug_rerun_s,
       -- eviction badput of a kept attempt, as cms-htcondor-es: RemoteWallClockTime - CommittedTime
       CASE WHEN f.cause IS NULL AND f.outcome <> 'unfinished' THEN greatest(f.wall - f.committed, 0) ELSE 0 END
           AS wasted_evicted_s,
       f.job_index
  FROM figured f JOIN requests r ON r.id = f.request_id;
ANALYZE accounting_fresh;

-- name: accounting_slices
-- The daily rows to sum again: each experiment, campaign and day the changed attempts counted
-- in before or count in now. (A rollup row is summed again with its whole stage.)
CREATE TEMP TABLE accounting_slices ON COMMIT DROP AS
SELECT a.experiment, a.campaign, a.day
  FROM accounting_attempts a JOIN accounting_fresh f USING (submission_id, proc_id)
UNION
SELECT experiment, campaign, day FROM accounting_fresh WHERE ended;
ANALYZE accounting_slices;

-- name: accounting_forget
DELETE FROM accounting_attempts a USING accounting_fresh f
 WHERE a.submission_id = f.submission_id AND a.proc_id = f.proc_id;

-- name: accounting_record
-- The ledger: each ended attempt once, as it is now.
INSERT INTO accounting_attempts (submission_id, proc_id, request_id, experiment, campaign, stage, site, cpu_model,
    subnet, time_window, day, waste_cause, attempts, succeeded, failed, killed, held, removed, wall_s, cpu_s,
    memory_measured, memory_used_mb, memory_requested_mb, memory_over, disk_measured, disk_used_kb,
    disk_requested_kb, disk_over, files_in, bytes_in, files_out, bytes_out, wasted_failed_s, wasted_killed_s,
    wasted_held_s, wasted_removed_s, wasted_retried_away_s, wasted_debug_rerun_s, wasted_evicted_s)
SELECT submission_id, proc_id, request_id, experiment, campaign, stage, site, cpu_model,
    subnet, time_window, day, waste_cause, attempts, succeeded, failed, killed, held, removed, wall_s, cpu_s,
    memory_measured, memory_used_mb, memory_requested_mb, memory_over, disk_measured, disk_used_kb,
    disk_requested_kb, disk_over, files_in, bytes_in, files_out, bytes_out, wasted_failed_s, wasted_killed_s,
    wasted_held_s, wasted_removed_s, wasted_retried_away_s, wasted_debug_rerun_s, wasted_evicted_s
  FROM accounting_fresh WHERE ended;

-- name: accounting_rollup_clear
-- The rollup rows of the changed jobs' stages (the ledger holds what they are summed from).
DELETE FROM accounting_rollup r USING (SELECT DISTINCT request_id, stage FROM accounting_jobs) st
 WHERE r.request_id = st.request_id AND r.stage = st.stage;

-- name: accounting_rollup_sum
INSERT INTO accounting_rollup
SELECT a.request_id, a.stage, a.site, a.cpu_model, a.subnet, a.time_window, a.day,
       sum(a.attempts), sum(a.succeeded), sum(a.failed), sum(a.killed), sum(a.held), sum(a.removed),
       sum(a.wall_s), sum(a.cpu_s), sum(a.memory_measured), sum(a.memory_used_mb), sum(a.memory_requested_mb),
       sum(a.memory_over), sum(a.disk_measured), sum(a.disk_used_kb), sum(a.disk_requested_kb), sum(a.disk_over),
       sum(a.files_in), sum(a.bytes_in), sum(a.files_out), sum(a.bytes_out),
       sum(a.wasted_failed_s), sum(a.wasted_killed_s), sum(a.wasted_held_s), sum(a.wasted_removed_s),
       sum(a.wasted_retried_away_s), sum(a.wasted_debug_rerun_s), sum(a.wasted_evicted_s)
  FROM accounting_attempts a
  JOIN (SELECT DISTINCT request_id, stage FROM accounting_jobs) st ON a.request_id = st.request_id AND a.stage = st.stage
 GROUP BY a.request_id, a.stage, a.site, a.cpu_model, a.subnet, a.time_window, a.day;

-- name: accounting_daily_clear
DELETE FROM accounting_daily d USING accounting_slices k
 WHERE (d.experiment, d.campaign, d.day) = (k.experiment, k.campaign, k.day);

-- name: accounting_daily_sum
-- Each attempt counts once under its site, once under its cpu model, its time window and its stage.
INSERT INTO accounting_daily
SELECT a.experiment, a.campaign, a.day, d.dimension, d.value,
       sum(a.attempts), sum(a.succeeded), sum(a.failed), sum(a.killed), sum(a.held), sum(a.removed),
       sum(a.wall_s), sum(a.cpu_s), sum(a.memory_measured), sum(a.memory_used_mb), sum(a.memory_requested_mb),
       sum(a.memory_over), sum(a.disk_measured), sum(a.disk_used_kb), sum(a.disk_requested_kb), sum(a.disk_over),
       sum(a.files_in), sum(a.bytes_in), sum(a.files_out), sum(a.bytes_out),
       sum(a.wasted_failed_s), sum(a.wasted_killed_s), sum(a.wasted_held_s), sum(a.wasted_removed_s),
       sum(a.wasted_retried_away_s), sum(a.wasted_debug_rerun_s), sum(a.wasted_evicted_s)
  FROM accounting_attempts a
  JOIN accounting_slices k ON (a.experiment, a.campaign, a.day) = (k.experiment, k.campaign, k.day)
 CROSS JOIN LATERAL (VALUES ('site', a.site), ('cpu_model', a.cpu_model), ('time_window', a.time_window),
                            ('stage', a.stage)) d (dimension, value)
 GROUP BY a.experiment, a.campaign, a.day, d.dimension, d.value;

-- name: accounting_phase_forget
DELETE FROM accounting_phase_attempts a USING accounting_fresh f
 WHERE a.submission_id = f.submission_id AND a.proc_id = f.proc_id;

-- name: accounting_phase_record
-- Each phase an ended attempt reported, once: its finished report's cpu, wall and events.
INSERT INTO accounting_phase_attempts (submission_id, proc_id, phase, experiment, campaign, day, stage, attempts,
    finished, failed, unfinished, cpu_s, wall_s, events)
SELECT f.submission_id, f.proc_id, p.phase, f.experiment, f.campaign, f.day, f.stage, 1,
       bool_or(p.state = 'finished')::int,
       bool_or(p.state = 'finished' AND coalesce(p.status_code, 0) <> 0)::int,
       (NOT bool_or(p.state = 'finished'))::int,
       coalesce(max(p.cpu_s) FILTER (WHERE p.state = 'finished'), 0),
       coalesce(max(p.wall_s) FILTER (WHERE p.state = 'finished'), 0),
       coalesce(max(p.events) FILTER (WHERE p.state = 'finished'), 0)
  FROM accounting_fresh f
  JOIN job_phases p ON p.submission_id = f.submission_id AND p.job_index = f.job_index
 WHERE f.ended
 GROUP BY f.submission_id, f.proc_id, p.phase, f.experiment, f.campaign, f.day, f.stage;

-- name: accounting_phase_daily_clear
DELETE FROM accounting_phase_daily d USING accounting_slices k
 WHERE (d.experiment, d.campaign, d.day) = (k.experiment, k.campaign, k.day);

-- name: accounting_phase_daily_sum
INSERT INTO accounting_phase_daily
SELECT a.experiment, a.campaign, a.day, a.stage, a.phase, sum(a.attempts), sum(a.finished), sum(a.failed),
       sum(a.unfinished), sum(a.cpu_s), sum(a.wall_s), sum(a.events)
  FROM accounting_phase_attempts a
  JOIN accounting_slices k ON (a.experiment, a.campaign, a.day) = (k.experiment, k.campaign, k.day)
 GROUP BY a.experiment, a.campaign, a.day, a.stage, a.phase;

-- name: accounting_cleanup
-- The run's temporary tables go with its transaction, or here when it ran inside a caller's.
DROP TABLE IF EXISTS accounting_changed, accounting_jobs, accounting_fresh, accounting_slices;

-- name: accounting_advance
-- The cursor never moves back (a run that saw nothing new keeps it).
UPDATE accounting_cursor
   SET updated_at = greatest(updated_at, %(newest)s::timestamptz), last_run_at = now()
 WHERE id = 1;

-- name: accounting_waste_cause
-- The SQL definition of a waste cause, for the test that holds its Python mirror to it.
SELECT accounting_waste_cause(%(outcome)s, %(latest)s, %(debug)s) AS cause;

-- name: accounting_stats
-- The stats page: the daily rollup filtered (each filter optional: NULL is any), summed by site,
-- by cpu model, by time window and by stage; the totals are the stages' sums (every attempt
-- has one stage).
SELECT dimension, value,
       sum(attempts)::bigint AS attempts, sum(succeeded)::bigint AS succeeded, sum(failed)::bigint AS failed,
       sum(killed)::bigint AS killed, sum(held)::bigint AS held, sum(removed)::bigint AS removed,
       sum(wall_s) AS wall_s, sum(cpu_s) AS cpu_s,
       sum(memory_measured)::bigint AS memory_measured, sum(memory_used_mb) AS memory_used_mb,
       sum(memory_requested_mb) AS memory_requested_mb, sum(memory_over)::bigint AS memory_over,
       sum(disk_measured)::bigint AS disk_measured, sum(disk_used_kb) AS disk_used_kb,
       sum(disk_requested_kb) AS disk_requested_kb, sum(disk_over)::bigint AS disk_over,
       sum(files_in)::bigint AS files_in, sum(bytes_in) AS bytes_in,
       sum(files_out)::bigint AS files_out, sum(bytes_out) AS bytes_out,
       sum(wasted_failed_s) AS wasted_failed_s, sum(wasted_killed_s) AS wasted_killed_s,
       sum(wasted_held_s) AS wasted_held_s, sum(wasted_removed_s) AS wasted_removed_s,
       sum(wasted_retried_away_s) AS wasted_retried_away_s, sum(wasted_debug_rerun_s) AS wasted_debug_rerun_s,
       sum(wasted_evicted_s) AS wasted_evicted_s
  FROM accounting_daily
 WHERE (%(experiment)s::text IS NULL OR experiment = %(experiment)s::text)
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s::text)
   AND day >= %(day_from)s::date AND day <= %(day_to)s::date
 GROUP BY dimension, value
 ORDER BY dimension, value;

-- name: accounting_phase_stats
-- The stats page's phases: the filtered days of the phase rollup, per stage and phase.
SELECT stage, phase, sum(attempts)::bigint AS attempts, sum(finished)::bigint AS finished,
       sum(failed)::bigint AS failed, sum(unfinished)::bigint AS unfinished,
       sum(cpu_s) AS cpu_s, sum(wall_s) AS wall_s, sum(events)::bigint AS events
  FROM accounting_phase_daily
 WHERE (%(experiment)s::text IS NULL OR experiment = %(experiment)s::text)
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s::text)
   AND day >= %(day_from)s::date AND day <= %(day_to)s::date
 GROUP BY stage, phase
 ORDER BY stage, sum(wall_s) DESC, phase;
