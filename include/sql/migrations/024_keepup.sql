-- Keepup following (issue 14 item 4, prodops.keepup): a scheduled follower turns a campaign's new
-- detector files into production requests of the keepup workflow, under the campaign's standing
-- approval, within its cap of jobs per day, and never claims a file twice.

-- An approver's answer for one definition of a campaign (its dataset, cap and request fields,
-- hashed): approved, the follower submits its new files without asking again; any change to the
-- definition asks again.
CREATE TABLE IF NOT EXISTS keepup_decisions (
    campaign         text NOT NULL,
    definition_hash  text NOT NULL,
    definition       jsonb NOT NULL,
    decision         text NOT NULL CHECK (decision IN ('approved', 'rejected')),
    decided_by       text NOT NULL,
    decided_at       timestamptz NOT NULL,
    note             text,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign, definition_hash)
);

-- One production request the follower made: the Airflow run it triggers (or triggered) and its conf.
CREATE TABLE IF NOT EXISTS keepup_batches (
    campaign         text NOT NULL,
    batch            integer NOT NULL CHECK (batch > 0),
    definition_hash  text NOT NULL,
    dag_id           text NOT NULL,
    run_id           text NOT NULL,
    conf             jsonb NOT NULL,
    files            integer NOT NULL CHECK (files > 0),
    jobs             integer NOT NULL CHECK (jobs >= 0),
    claimed_at       timestamptz NOT NULL,
    PRIMARY KEY (campaign, batch),
    UNIQUE (dag_id, run_id),
    FOREIGN KEY (campaign, definition_hash) REFERENCES keepup_decisions (campaign, definition_hash)
);
CREATE INDEX IF NOT EXISTS keepup_batches_claimed ON keepup_batches (campaign, claimed_at);

-- Every file a campaign claimed, in the transaction that recorded its batch: the primary key is
-- what makes "never twice" hold whatever runs at the same time.
CREATE TABLE IF NOT EXISTS keepup_files (
    campaign    text NOT NULL,
    path        text NOT NULL,
    batch       integer NOT NULL,
    events      bigint,
    size_bytes  bigint NOT NULL,
    PRIMARY KEY (campaign, path),
    FOREIGN KEY (campaign, batch) REFERENCES keepup_batches (campaign, batch)
);
CREATE INDEX IF NOT EXISTS keepup_files_batch ON keepup_files (campaign, batch);
