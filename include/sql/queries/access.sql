-- Who may do what: feeder tokens' scope and expiry, and who made a window or an announcement.

-- name: feeder_token_access
-- A valid token's feeder and the services it may report: the token's own list, else the
-- services the registry says its feed reports.
SELECT t.id, t.feeder, t.last_used_at, t.expires_at,
       coalesce(t.services, ARRAY(SELECT s.name FROM services s WHERE s.active AND s.feed = t.feeder
                                   ORDER BY s.name)) AS services
  FROM feeder_tokens t
 WHERE t.token_hash = %(token_hash)s AND t.revoked_at IS NULL
   AND (t.expires_at IS NULL OR t.expires_at > now());

-- name: insert_scoped_feeder_token
INSERT INTO feeder_tokens (feeder, token_hash, prefix, note, services, expires_at)
VALUES (%(feeder)s, %(token_hash)s, %(prefix)s, %(note)s, %(services)s, %(expires_at)s)
RETURNING id, created_at;

-- name: list_scoped_feeder_tokens
SELECT id, feeder, prefix, note, services, expires_at, created_at, revoked_at, last_used_at
  FROM feeder_tokens ORDER BY feeder, id;

-- name: maintenance_window_owner
SELECT id, feed, source FROM maintenance_windows WHERE id = %(id)s;

-- name: announcement_owner
SELECT id, feed, source FROM announcements WHERE id = %(id)s;

-- name: set_announcement_source
UPDATE announcements SET source = %(source)s WHERE id = %(id)s AND source <> %(source)s;

-- name: dashboard_announcements
-- The active announcements as Airflow's dashboard shows them, with who made them.
SELECT id, text, severity, author, source
  FROM announcements
 WHERE starts_at <= %(now)s AND (ends_at IS NULL OR ends_at > %(now)s)
 ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, starts_at DESC, id DESC;

-- name: touch_feeder_token
-- At most one write a minute per token, so a busy feeder does not queue on its own row.
UPDATE feeder_tokens SET last_used_at = now()
 WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds');

-- name: revoke_feeder_tokens
UPDATE feeder_tokens SET revoked_at = now()
 WHERE revoked_at IS NULL AND (id = %(id)s OR prefix = %(prefix)s OR feeder = %(feeder)s)
RETURNING id, feeder, prefix;
