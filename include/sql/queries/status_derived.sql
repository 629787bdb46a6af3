-- Derived service-board rows (migration 014; written by prodops.status.derive, read by
-- prodops.status.board and prodops.triage.outages). Every statement takes arrays: one round trip
-- for all the services of an ingest batch.

-- name: lock_derived_services
-- One writer per service until the transaction ends; taken in name order (no deadlock). JIT off
-- for the rest of the transaction: the derivation's statements are index lookups over a few
-- services, which the planner's estimates (thousands of events a service) would compile for ~7 ms.
-- Until write_derived ends the derivation: generic plans (the planner made custom plans for the
-- reads and the outage insert on every batch, about 1 ms a statement of a 100-event batch's 9 on
-- the server, for the same index lookups), and no sequential scans (each statement is index lookups
-- or a delete by row address, which the planner would rather do by reading a small table whole:
-- 1.5 ms of a 3.7 ms write to delete 8 segments of 6,000; the plan is kept for the connection).
SELECT count(pg_advisory_xact_lock(hashtext('prodops.status.derive'), hashtext(s))) AS locked,
       set_config('jit', 'off', true) AS jit, set_config('plan_cache_mode', 'force_generic_plan', true) AS plans,
       set_config('enable_seqscan', 'off', true) AS scans
  FROM (SELECT s FROM unnest(%(services)b::text[]) AS s ORDER BY s) x;

-- name: delete_stream_heads
DELETE FROM status_streams WHERE service = ANY(%(services)b::text[]);

-- name: rebuild_stream_heads
INSERT INTO status_streams (service, stream, event_id, observed_at, state, valid_until)
SELECT DISTINCT ON (service, stream) service, stream, id, observed_at, state, valid_until
  FROM status_events WHERE service = ANY(%(services)b::text[])
 ORDER BY service, stream, observed_at DESC, id DESC;

-- name: derive_plan
-- Per service changed from time t: what it was derived with, the segment holding t (holding_start),
-- the last one starting before t (since: written again from there, cut at t or merged with what
-- follows), the newest stream head (older than t: no stored event at or after t but the batch's
-- own), and what the re-derivation starts from, each an index probe or a range from since on:
-- r, the start of the outage run the segment ending at since is in (migration 025; else since),
-- the stored day row of since's day (re-counted from the segments it loses and gains), the stored
-- segments from the one ending at since on (seg_*) and the outages from r on with their counts
-- (out_*). Nothing before since is read, however long the outage running through it. Segments are
-- found by start (the primary key; the one ending at since is the last starting before it: they are
-- contiguous): every batch replaces the open segment, so an index on end_at held one dead entry a
-- batch at the horizon until vacuum (600 walked for 2 rows after 600 batches; dropped, migration 026).
WITH x AS MATERIALIZED (
    SELECT x.service, x.t, s.stale_after_s, (d.service IS NOT NULL) AS derived, d.stale_after_s AS derived_stale_s,
           ARRAY(SELECT g.start_at FROM status_segments g WHERE g.service = x.service AND g.start_at <= x.t
                  ORDER BY g.start_at DESC LIMIT 2) AS starts,
           (SELECT h.observed_at FROM status_streams h WHERE h.service = x.service
             ORDER BY h.observed_at DESC LIMIT 1) AS last_head
      FROM unnest(%(services)b::text[], %(times)b::timestamptz[]) AS x (service, t)
      JOIN services s ON s.name = x.service
      LEFT JOIN status_derived d ON d.service = x.service),
p AS MATERIALIZED (
    SELECT service, t, stale_after_s, derived, derived_stale_s, starts[1] AS holding_start,
           CASE WHEN starts[1] < t THEN starts[1] ELSE starts[2] END AS since, last_head
      FROM x)
SELECT p.*, coalesce(pr.run_start, p.since) AS r,
       dd.up_s AS day_up_s, dd.degraded_s AS day_degraded_s, dd.down_s AS day_down_s,
       dd.maintenance_s AS day_maintenance_s,
       g.seg_start, g.seg_end, g.seg_state, g.seg_run_start, g.seg_run_worst, g.seg_run_episodes,
       o.out_start, o.out_end, o.out_n, o.out_first, o.out_last
  FROM p
  LEFT JOIN LATERAL (SELECT g.start_at, g.run_start FROM status_segments g
                      WHERE g.service = p.service AND g.start_at < p.since
                      ORDER BY g.start_at DESC LIMIT 1) pr ON true
  LEFT JOIN status_daily dd ON dd.service = p.service AND dd.day = (p.since AT TIME ZONE 'UTC')::date
  LEFT JOIN LATERAL (SELECT array_agg(g.start_at ORDER BY g.start_at) AS seg_start,
                            array_agg(g.end_at ORDER BY g.start_at) AS seg_end,
                            array_agg(g.state ORDER BY g.start_at) AS seg_state,
                            array_agg(g.run_start ORDER BY g.start_at) AS seg_run_start,
                            array_agg(g.run_worst ORDER BY g.start_at) AS seg_run_worst,
                            array_agg(g.run_episodes ORDER BY g.start_at) AS seg_run_episodes
                       FROM status_segments g
                      WHERE g.service = p.service AND g.start_at >= coalesce(pr.start_at, p.since)) g ON true
  LEFT JOIN LATERAL (SELECT array_agg(o.start_at ORDER BY o.start_at) AS out_start,
                            array_agg(o.end_at ORDER BY o.start_at) AS out_end,
                            array_agg(o.event_count ORDER BY o.start_at) AS out_n,
                            array_agg(o.first_event_id ORDER BY o.start_at) AS out_first,
                            array_agg(o.last_event_id ORDER BY o.start_at) AS out_last
                       FROM status_outages o
                      WHERE o.service = p.service AND o.start_at >= coalesce(pr.run_start, p.since)) o ON true
 ORDER BY p.service;

-- name: derive_carried_events
-- Each stream's last event before t: the state the stream carries into the re-derived span. A
-- stream's head older than t is that event; only a stream with newer events is looked up.
-- A stream whose head is `up` with no expiry changes nothing from then on but the stale clock
-- and an older override, which the latest monitoring head changes too: only that one is read.
SELECT x.service, st.event_id AS id, st.observed_at, st.state, st.stream, st.valid_until
  FROM unnest(%(services)b::text[], %(t)b::timestamptz[]) AS x (service, t)
  JOIN status_streams st ON st.service = x.service AND st.observed_at < x.t
 WHERE NOT (st.state = 'up' AND st.valid_until IS NULL AND st.stream <> '*')
UNION ALL
SELECT x.service, h.event_id, h.observed_at, h.state, h.stream, h.valid_until
  FROM unnest(%(services)b::text[], %(t)b::timestamptz[]) AS x (service, t)
  JOIN LATERAL (SELECT * FROM status_streams st
                 WHERE st.service = x.service AND st.observed_at < x.t AND st.stream <> 'inferred'
                 ORDER BY st.observed_at DESC, st.event_id DESC LIMIT 1) h
    ON h.state = 'up' AND h.valid_until IS NULL AND h.stream <> '*'
UNION ALL
SELECT x.service, e.id, e.observed_at, e.state, e.stream, e.valid_until
  FROM unnest(%(services)b::text[], %(t)b::timestamptz[]) AS x (service, t)
  JOIN LATERAL (SELECT st.stream FROM status_streams st
                 WHERE st.service = x.service AND st.observed_at >= x.t OFFSET 0) st ON true
  JOIN LATERAL (SELECT id, observed_at, state, stream, valid_until FROM status_events e
                 WHERE e.service = x.service AND e.stream = st.stream AND e.observed_at < x.t
                 ORDER BY e.observed_at DESC, e.id DESC LIMIT 1) e ON true;

-- name: derive_events_after_heads
-- derive_events_from for the services with a stored event at or after t (a stream head there): the
-- others' events from t are the batch's own, which the caller has.
WITH x AS MATERIALIZED (
    SELECT x.service, x.t FROM unnest(%(services)b::text[], %(t)b::timestamptz[]) AS x (service, t)
     WHERE EXISTS (SELECT 1 FROM status_streams h WHERE h.service = x.service AND h.observed_at >= x.t))
SELECT x.service, e.id, e.observed_at, e.state, e.stream, e.valid_until
  FROM x JOIN LATERAL (SELECT id, observed_at, state, stream, valid_until FROM status_events e
                        WHERE e.service = x.service AND e.observed_at >= x.t OFFSET 0) e ON true;

-- name: derive_events_from
SELECT x.service, e.id, e.observed_at, e.state, e.stream, e.valid_until
  FROM unnest(%(services)b::text[], %(t)b::timestamptz[]) AS x (service, t)
  JOIN LATERAL (SELECT id, observed_at, state, stream, valid_until FROM status_events e
                 WHERE e.service = x.service AND e.observed_at >= x.t OFFSET 0) e ON true;

-- name: write_derived
-- Every write of a derivation in one statement (one message, one plan; the heads move after the
-- reads of the batch's derivation, which saw the old ones). What a re-derivation replaces goes first
-- (each an index range per service, deleted by row address): segments from the last one starting
-- before t (written again, cut at t or merged) and days from its day, for the services whose
-- segments changed (rewritten); outages from r for those whose outages changed (recounted). The
-- new rows are inserted once those deletes ran (they read `gone`), so a row written again with its
-- old key does not meet itself. Then each stream's last new event (one per stream, chosen by the
-- caller) if newer than the stored one, rows locked in (service, stream) order; the marks of the
-- services derived from their start; and the planner's settings back to their defaults for the rest
-- of the transaction.
-- Outages: with each its event count and first and last event (any stream, start <= time <= end).
-- Given n: the caller counted the outage's events in three parts, in time order: a (from the stored
-- row: its first and last, or its last looked up here before probe_to), b (counted here: the events
-- strictly between b_from and b_to, a gap the outage now reaches across) and c (the events at or
-- after the change, which the caller has); n is a + c. Without n: counted here from the events.
WITH gone_segments AS (
    DELETE FROM status_segments WHERE ctid = ANY(ARRAY(
        SELECT g.ctid FROM unnest(%(rewritten)b::text[], %(since)b::timestamptz[]) AS x (service, since)
          JOIN LATERAL (SELECT ctid FROM status_segments g
                         WHERE g.service = x.service AND g.start_at >= x.since OFFSET 0) g ON true))
    RETURNING 1),
gone_days AS (
    DELETE FROM status_daily WHERE ctid = ANY(ARRAY(
        SELECT d.ctid FROM unnest(%(rewritten)b::text[], %(first_day)b::date[]) AS x (service, day)
          JOIN LATERAL (SELECT ctid FROM status_daily d WHERE d.service = x.service AND d.day >= x.day OFFSET 0) d
            ON true))
    RETURNING 1),
gone_outages AS (
    DELETE FROM status_outages WHERE ctid = ANY(ARRAY(
        SELECT o.ctid FROM unnest(%(recounted)b::text[], %(r)b::timestamptz[]) AS x (service, r)
          JOIN LATERAL (SELECT ctid FROM status_outages o WHERE o.service = x.service AND o.start_at >= x.r OFFSET 0) o
            ON true))
    RETURNING 1),
gone AS MATERIALIZED (
    SELECT (SELECT count(*) FROM gone_segments) + (SELECT count(*) FROM gone_days)
         + (SELECT count(*) FROM gone_outages) AS n),
new_segments AS (
    INSERT INTO status_segments (service, start_at, end_at, state, run_start, run_worst, run_episodes)
    SELECT s.* FROM unnest(%(seg_service)b::text[], %(seg_start)b::timestamptz[], %(seg_end)b::timestamptz[],
                           %(seg_state)b::text[], %(seg_run_start)b::timestamptz[], %(seg_run_worst)b::text[],
                           %(seg_run_episodes)b::integer[]) AS s
     WHERE (SELECT n FROM gone) >= 0
    RETURNING 1),
new_outages AS (
    INSERT INTO status_outages (service, start_at, end_at, worst, flapping, episodes, event_count, first_event_id,
                                last_event_id)
    SELECT o.service, o.start_at, o.end_at, o.worst, o.flapping, o.episodes,
           CASE WHEN o.n IS NULL THEN c.n ELSE o.n + b.n END,
           CASE WHEN o.n IS NULL THEN f.id ELSE coalesce(o.a_first, b.first, o.c_first) END,
           CASE WHEN o.n IS NULL THEN l.id ELSE coalesce(o.c_last, b.last, o.a_last, pr.id) END
      FROM unnest(%(out_service)b::text[], %(out_start_at)b::timestamptz[], %(out_end_at)b::timestamptz[],
                  %(out_worst)b::text[], %(out_flapping)b::boolean[], %(out_episodes)b::integer[], %(out_n)b::integer[],
                  %(out_a_first)b::bigint[], %(out_a_last)b::bigint[], %(out_c_first)b::bigint[],
                  %(out_c_last)b::bigint[], %(out_b_from)b::timestamptz[], %(out_b_to)b::timestamptz[],
                  %(out_probe_to)b::timestamptz[])
           AS o (service, start_at, end_at, worst, flapping, episodes, n, a_first, a_last, c_first, c_last, b_from, b_to,
                 probe_to)
      LEFT JOIN LATERAL (SELECT count(*) AS n FROM status_events e
                          WHERE o.n IS NULL AND e.service = o.service AND e.observed_at >= o.start_at
                            AND (o.end_at IS NULL OR e.observed_at <= o.end_at)) c ON true
      LEFT JOIN LATERAL (SELECT e.id FROM status_events e
                          WHERE o.n IS NULL AND e.service = o.service AND e.observed_at >= o.start_at
                            AND (o.end_at IS NULL OR e.observed_at <= o.end_at)
                          ORDER BY e.observed_at, e.id LIMIT 1) f ON true
      LEFT JOIN LATERAL (SELECT e.id FROM status_events e
                          WHERE o.n IS NULL AND e.service = o.service AND e.observed_at >= o.start_at
                            AND (o.end_at IS NULL OR e.observed_at <= o.end_at)
                          ORDER BY e.observed_at DESC, e.id DESC LIMIT 1) l ON true
      LEFT JOIN LATERAL (SELECT count(*) AS n, (array_agg(e.id ORDER BY e.observed_at, e.id))[1] AS first,
                                (array_agg(e.id ORDER BY e.observed_at DESC, e.id DESC))[1] AS last
                           FROM status_events e
                          WHERE o.b_from IS NOT NULL AND e.service = o.service AND e.observed_at > o.b_from
                            AND e.observed_at < o.b_to) b ON true
      LEFT JOIN LATERAL (SELECT e.id FROM status_events e
                          WHERE o.probe_to IS NOT NULL AND e.service = o.service AND e.observed_at >= o.start_at
                            AND e.observed_at < o.probe_to
                          ORDER BY e.observed_at DESC, e.id DESC LIMIT 1) pr ON true
     WHERE (SELECT n FROM gone) >= 0
    RETURNING 1),
new_days AS (
    INSERT INTO status_daily (service, day, up_s, degraded_s, down_s, maintenance_s)
    SELECT d.* FROM unnest(%(day_service)b::text[], %(day)b::date[], %(up_s)b::float8[], %(degraded_s)b::float8[],
                           %(down_s)b::float8[], %(maintenance_s)b::float8[]) AS d
     WHERE (SELECT n FROM gone) >= 0
    RETURNING 1),
heads AS (
    INSERT INTO status_streams (service, stream, event_id, observed_at, state, valid_until)
    SELECT service, stream, id, observed_at, state, valid_until
      FROM unnest(%(head_service)b::text[], %(head_stream)b::text[], %(head_id)b::bigint[],
                  %(head_observed_at)b::timestamptz[], %(head_state)b::text[], %(head_valid_until)b::timestamptz[])
           AS e (service, stream, id, observed_at, state, valid_until)
     ORDER BY service, stream
    ON CONFLICT (service, stream) DO UPDATE SET
        event_id = EXCLUDED.event_id, observed_at = EXCLUDED.observed_at, state = EXCLUDED.state,
        valid_until = EXCLUDED.valid_until
    WHERE (EXCLUDED.observed_at, EXCLUDED.event_id) > (status_streams.observed_at, status_streams.event_id)
    RETURNING 1),
marks AS (
    INSERT INTO status_derived (service, stale_after_s, derived_at)
    SELECT * FROM unnest(%(marked)b::text[], %(stale_after_s)b::integer[], %(now)b::timestamptz[])
    ON CONFLICT (service) DO UPDATE SET stale_after_s = EXCLUDED.stale_after_s, derived_at = EXCLUDED.derived_at
    RETURNING 1)
SELECT (SELECT count(*) FROM new_segments) AS segments, (SELECT count(*) FROM new_outages) AS outages,
       (SELECT count(*) FROM new_days) AS days, (SELECT count(*) FROM heads) AS heads,
       (SELECT count(*) FROM marks) AS marks, set_config('plan_cache_mode', 'auto', true) AS plans,
       set_config('enable_seqscan', 'on', true) AS scans;

-- name: clear_derived_marks
-- A rebuild starts from nothing: without its mark a service is derived again from its first event.
DELETE FROM status_derived WHERE service = ANY(%(services)b::text[]);

-- name: services_with_events
SELECT name AS service FROM services s WHERE EXISTS (SELECT 1 FROM status_events e WHERE e.service = s.name)
 ORDER BY name;

-- name: services_not_derived
-- Services whose rows were never derived (events stored before migration 014, or none yet), or
-- derived with another staleness limit than their registry entry's now.
SELECT s.name AS service FROM services s LEFT JOIN status_derived d ON d.service = s.name
 WHERE d.service IS NULL OR d.stale_after_s IS DISTINCT FROM s.stale_after_s
 ORDER BY s.name;

-- name: window_by_key
SELECT id, services, starts_at, ends_at, cancelled_at FROM maintenance_windows
 WHERE (feed, external_id) = (%(feed)s, %(external_id)s) OR id = %(id)s;

-- name: derived_service_names
-- What a global window covers: every service.
SELECT name AS service FROM services ORDER BY name;

-- Reads (prodops.status.board, prodops.triage.outages): indexed lookups, never a scan of history.

-- name: derived_now
-- Per service: the segment holding the instant before `now`, and monitoring's last report before
-- `now` (each stream's head, or for a head at or after `now` its last event before it).
SELECT x.service, g.start_at, g.end_at, g.state,
       (SELECT max(CASE WHEN st.observed_at < %(now)s THEN st.observed_at
                        ELSE (SELECT e.observed_at FROM status_events e
                               WHERE e.service = st.service AND e.stream = st.stream AND e.observed_at < %(now)s
                               ORDER BY e.observed_at DESC, e.id DESC LIMIT 1) END)
          FROM status_streams st WHERE st.service = x.service AND st.stream <> 'inferred') AS last_report
  FROM unnest(%(services)b::text[]) AS x (service)
  LEFT JOIN LATERAL (SELECT start_at, end_at, state FROM status_segments g
                      WHERE g.service = x.service AND g.start_at < %(now)s
                      ORDER BY g.start_at DESC LIMIT 1) g ON true;

-- name: derived_spans
-- The segments overlapping each [a, b): the one holding a, and those starting inside.
SELECT x.service, x.k, g.start_at, g.end_at, g.state
  FROM unnest(%(services)b::text[], %(k)b::integer[], %(a)b::timestamptz[], %(b)b::timestamptz[]) AS x (service, k, a, b)
  JOIN LATERAL ((SELECT start_at, end_at, state FROM status_segments g
                  WHERE g.service = x.service AND g.start_at <= x.a ORDER BY g.start_at DESC LIMIT 1)
                UNION ALL
                (SELECT start_at, end_at, state FROM status_segments g
                  WHERE g.service = x.service AND g.start_at > x.a AND g.start_at < x.b OFFSET 0)) g ON true;

-- name: derived_days
SELECT service, day, up_s, degraded_s, down_s, maintenance_s
  FROM status_daily
 WHERE service = ANY(%(services)b::text[]) AND day >= %(first)s AND day < %(last)s;

-- name: derived_outages_recent
-- Each service's latest outages touching [start, end), newest first, at most `limit` each, with how
-- many touch it in all (in_range, counted once a service by the (service, end_at) index).
WITH x AS MATERIALIZED (
    SELECT x.service,
           (SELECT count(*) FROM status_outages c
             WHERE c.service = x.service AND c.end_at > %(start)s AND c.start_at < %(end)s)
         + (SELECT count(*) FROM status_outages c
             WHERE c.service = x.service AND c.end_at IS NULL AND c.start_at < %(end)s) AS in_range
      FROM unnest(%(services)b::text[]) AS x (service))
SELECT o.*, x.in_range
  FROM x JOIN LATERAL (SELECT * FROM status_outages o
                        WHERE o.service = x.service AND o.start_at < %(end)s
                          AND (o.end_at IS NULL OR o.end_at > %(start)s)
                        ORDER BY o.start_at DESC LIMIT %(limit)s) o ON true
 ORDER BY o.service, o.start_at DESC;

-- name: derived_outages_overlapping
-- Outages of the services touching [start, end) (triage's join), oldest first.
SELECT o.*
  FROM status_outages o
 WHERE o.service = ANY(%(services)b::text[]) AND o.start_at < %(end)s
   AND (o.end_at IS NULL OR o.end_at > %(start)s)
 ORDER BY o.start_at, o.service;

-- name: derived_outage
SELECT * FROM status_outages WHERE service = %(service)s AND start_at = %(start)s;

-- name: outage_events_page
-- The events of one outage (start <= time <= end), in time order, after the cursor.
SELECT id, service, state, observed_at, source, feed, external_id, stream, valid_until, convention, code, message
  FROM status_events
 WHERE service = %(service)s AND observed_at >= %(start)s AND observed_at <= %(end)s
   AND (observed_at, id) > (%(after_at)s, %(after_id)s)
 ORDER BY observed_at, id
 LIMIT %(limit)s;
