-- The service board: registry, status events, maintenance windows, announcements, feeder tokens.
-- Outages are not stored: they are derived from status_events on read (prodops.status.timeline),
-- so late or out-of-order events can never leave a stale interval behind.

CREATE TABLE IF NOT EXISTS services (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]*$'),
    description     text NOT NULL DEFAULT '',
    grp             text NOT NULL DEFAULT 'other',
    workflows       text[] NOT NULL DEFAULT '{}',
    feed            text NOT NULL DEFAULT '',
    stale_after_s   integer CHECK (stale_after_s IS NULL OR stale_after_s > 0),
    position        integer NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS status_events (
    id            bigserial PRIMARY KEY,
    service       text NOT NULL REFERENCES services (name) ON UPDATE CASCADE,
    state         text NOT NULL CHECK (state IN ('up', 'degraded', 'down', 'maintenance', 'unknown')),
    observed_at   timestamptz NOT NULL,
    -- where it came from: a monitoring feed, a person, or prodops itself (e.g. staleness)
    source        text NOT NULL CHECK (source IN ('feed', 'manual', 'system')),
    feed          text NOT NULL,
    -- the sender's own id (event id, Alertmanager fingerprint, check name); '' when it has none
    external_id   text NOT NULL DEFAULT '',
    -- events of one stream replace each other; several streams of a service overlap (worst wins)
    stream        text NOT NULL,
    valid_until   timestamptz,
    convention    text NOT NULL,
    code          text NOT NULL DEFAULT '',
    message       text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now(),
    -- a repeated event (same sender id and time) is stored once
    UNIQUE (service, feed, external_id, observed_at)
);

CREATE INDEX IF NOT EXISTS status_events_service_time ON status_events (service, observed_at);
-- the state each stream carries into a period: its last event before the period starts
CREATE INDEX IF NOT EXISTS status_events_stream_time ON status_events (service, stream, observed_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS maintenance_windows (
    id            bigserial PRIMARY KEY,
    feed          text NOT NULL,
    external_id   text NOT NULL,
    -- empty: every service (a global window)
    services      text[] NOT NULL DEFAULT '{}',
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    reason        text NOT NULL,
    source        text NOT NULL CHECK (source IN ('feed', 'manual', 'system')),
    created_by    text NOT NULL DEFAULT '',
    cancelled_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    UNIQUE (feed, external_id)
);

CREATE INDEX IF NOT EXISTS maintenance_windows_time ON maintenance_windows (starts_at, ends_at);

CREATE TABLE IF NOT EXISTS announcements (
    id            bigserial PRIMARY KEY,
    feed          text NOT NULL,
    external_id   text NOT NULL,
    text          text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz,
    author        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at > starts_at),
    UNIQUE (feed, external_id)
);

CREATE TABLE IF NOT EXISTS feeder_tokens (
    id            bigserial PRIMARY KEY,
    feeder        text NOT NULL CHECK (feeder ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'),
    -- sha256 of the whole token; the token itself is shown once, at issue, and never stored
    token_hash    text NOT NULL UNIQUE,
    prefix        text NOT NULL,
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
