-- Ingest with derived writes at the push API's rate (issue 17): an in-order batch derives each
-- service from its stream heads (status_streams), read in two index lookups per service instead of
-- a scan of every head: the heads that can change the state from now on (not a plain `up`), and
-- the newest heads first (the latest report; whether any stored event is at or after a batch).
CREATE INDEX IF NOT EXISTS status_streams_carried ON status_streams (service)
    WHERE NOT (state = 'up' AND valid_until IS NULL AND stream <> '*');
CREATE INDEX IF NOT EXISTS status_streams_newest ON status_streams (service, observed_at DESC, event_id DESC);
