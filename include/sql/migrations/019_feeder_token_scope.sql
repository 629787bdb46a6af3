-- Who may do what (issue 15): a feeder token is scoped to services and may expire; an
-- announcement remembers whether a feeder or a person made it.

-- NULL: the services whose registry `feed` is the token's feeder (read at each use, so the
-- registry can move a service to another feed); a list: exactly those services.
ALTER TABLE feeder_tokens ADD COLUMN IF NOT EXISTS services text[];
-- NULL: never expires; past it the token is refused as if revoked.
ALTER TABLE feeder_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;

-- 'feed': posted with a feeder token (shown as plain text on Airflow's dashboard, and only its
-- feeder may end it); 'manual': posted by a person with their Airflow login. Rows from before
-- this migration cannot be told apart and are taken as a person's (a feeder cannot end them).
ALTER TABLE announcements ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'manual'
    CHECK (source IN ('feed', 'manual'));
