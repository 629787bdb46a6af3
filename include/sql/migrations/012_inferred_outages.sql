-- Inferred outages (issue 12, item 5): when many jobs fail with one service's signature while
-- the board shows that service up, prodops posts a status event itself (source 'inferred',
-- stream 'inferred', state degraded) with the evidence in `details`; it ends with an inferred
-- `up` (jobs needing the service succeeded again, a person closed it, or it was marked false).
-- The rules are in prodops.status.inference; the posting in prodops.status.inferred.
ALTER TABLE status_events DROP CONSTRAINT IF EXISTS status_events_source_check;
ALTER TABLE status_events ADD CONSTRAINT status_events_source_check
    CHECK (source IN ('feed', 'manual', 'system', 'inferred'));

-- structured evidence beside the one-line message: for an inferred outage its signature, count,
-- threshold, running jobs, sample jobs, first and last failure; '{}' for monitoring events
ALTER TABLE status_events ADD COLUMN IF NOT EXISTS details jsonb NOT NULL DEFAULT '{}'::jsonb;

-- the last inferred event of each service (is one open?) without reading the feeds' events
CREATE INDEX IF NOT EXISTS status_events_inferred ON status_events (service, observed_at DESC, id DESC)
    WHERE source = 'inferred';

-- the service failures of the last hour across every request: a verdict is written after its
-- attempt ended, so its triage time bounds the scan (prodops.status.inferred)
CREATE INDEX IF NOT EXISTS triage_verdicts_service_recent ON triage_verdicts (triaged_at)
    WHERE category = 'service';

-- What a person said about an inferred outage: closed (the service works) or false (it never was
-- down). `event_id` is the outage's opening event. Saying it again updates who and when.
CREATE TABLE IF NOT EXISTS inferred_outage_reviews (
    event_id     bigint NOT NULL REFERENCES status_events (id) ON DELETE CASCADE,
    action       text NOT NULL CHECK (action IN ('closed', 'false')),
    service      text NOT NULL,
    signature    text NOT NULL,
    reviewed_by  text NOT NULL,
    reviewed_at  timestamptz NOT NULL,
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    -- the threshold set for the signature with a "false" review (NULL: left as it was)
    min_jobs     integer CHECK (min_jobs IS NULL OR min_jobs > 0),
    PRIMARY KEY (event_id, action)
);

-- A signature's own threshold, raised by a person who marked an outage it caused false:
-- detection needs this many failed jobs in the window for it, whatever the share of running jobs.
CREATE TABLE IF NOT EXISTS inferred_outage_thresholds (
    signature    text PRIMARY KEY,
    min_jobs     integer NOT NULL CHECK (min_jobs > 0),
    set_by       text NOT NULL,
    set_at       timestamptz NOT NULL,
    -- the outage marked false that raised it
    event_id     bigint REFERENCES status_events (id) ON DELETE SET NULL,
    note         text NOT NULL DEFAULT ''
);
