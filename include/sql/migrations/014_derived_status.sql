-- The board at a lab's scale (issue 17): what the status events mean is derived when they arrive,
-- in the same transaction, and stored; the board, uptime, outage history, preflight and triage read
-- these rows instead of replaying 30 days of events on every read. prodops.status.derive writes them
-- (one service at a time, under that service's advisory lock) and rebuilds a service from its
-- events on request (python -m prodops.status.derive rebuild). The rules are prodops.status.timeline's.

-- a service whose rows are derived, and the staleness limit they were derived with
CREATE TABLE IF NOT EXISTS status_derived (
    service        text PRIMARY KEY REFERENCES services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    stale_after_s  integer,
    derived_at     timestamptz NOT NULL DEFAULT now()
);

-- the last event of each stream of a service (its current report)
CREATE TABLE IF NOT EXISTS status_streams (
    service      text NOT NULL REFERENCES services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    stream       text NOT NULL,
    event_id     bigint NOT NULL,
    observed_at  timestamptz NOT NULL,
    state        text NOT NULL,
    valid_until  timestamptz,
    PRIMARY KEY (service, stream)
);

-- the service's state over time: contiguous, adjacent equal states merged, from 1970 (unknown
-- before the first event) to the horizon 2200-01-01 (what the events so far say from then on, ttl
-- expiries and windows included; a read at `now` cuts there)
CREATE TABLE IF NOT EXISTS status_segments (
    service   text NOT NULL REFERENCES services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    start_at  timestamptz NOT NULL,
    end_at    timestamptz NOT NULL,
    state     text NOT NULL,
    PRIMARY KEY (service, start_at),
    CHECK (end_at > start_at)
);
CREATE INDEX IF NOT EXISTS status_segments_end ON status_segments (service, end_at);

-- outages (down/degraded, flapping merged); end_at NULL: still going on. The events of one are
-- read on their own (paged): here only their count and first and last event.
CREATE TABLE IF NOT EXISTS status_outages (
    service         text NOT NULL REFERENCES services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    start_at        timestamptz NOT NULL,
    end_at          timestamptz,
    worst           text NOT NULL,
    flapping        boolean NOT NULL,
    episodes        integer NOT NULL,
    event_count     integer NOT NULL,
    first_event_id  bigint,
    last_event_id   bigint,
    PRIMARY KEY (service, start_at)
);
CREATE INDEX IF NOT EXISTS status_outages_end ON status_outages (service, end_at);

-- time in each known state per UTC day, from the closed segments (unknown is the rest of the day;
-- the open last segment is added on read)
CREATE TABLE IF NOT EXISTS status_daily (
    service        text NOT NULL REFERENCES services (name) ON UPDATE CASCADE ON DELETE CASCADE,
    day            date NOT NULL,
    up_s           double precision NOT NULL DEFAULT 0,
    degraded_s     double precision NOT NULL DEFAULT 0,
    down_s         double precision NOT NULL DEFAULT 0,
    maintenance_s  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (service, day)
);
