-- Accounting (issue 13, item 4): where the grid hours go, rolled up incrementally by the
-- job_accounting DAG (prodops.accounting.rollup). The definitions are in docs/accounting.md.
--
-- accounting_attempts  one row per ended attempt as last accounted: its key and its figures
--                      (the ledger: a rerun or an overlapping run rewrites a row with the same
--                      values, and the rollups are summed from it, so nothing counts twice)
-- accounting_rollup    per request, stage, site, cpu model, worker subnet, time window and day
-- accounting_daily     per experiment, campaign and day, the figures of each site, each cpu model,
--                      each time window and each stage apart (`dimension`, `value`): what the
--                      stats page reads, which never crosses two of them (tens of rows a day)
-- accounting_cursor    the newest job_attempts.updated_at accounted so far
-- Phases (job_phases) are not a key yet: they land in another migration.

-- Why the work of an ended attempt was not kept (prodops.accounting.definitions.WasteCause,
-- held to this function over every combination by tests/integration/test_accounting.py).
-- NULL: its work was kept (its job's latest production attempt, and it succeeded).
CREATE OR REPLACE FUNCTION accounting_waste_cause(outcome text, latest boolean, debug boolean)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN outcome = 'unfinished' THEN NULL
        WHEN debug THEN 'debug_rerun'
        WHEN outcome IN ('failed', 'killed', 'held', 'removed') THEN outcome
        WHEN NOT latest THEN 'retried_away'
        ELSE NULL
    END
$$;

-- The worker's subnet: IPv4 /24, IPv6 /64; 'unknown' when there is no address or it is not one.
CREATE OR REPLACE FUNCTION accounting_subnet_v6(ip text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN network(set_masklen(ip::inet, 64))::text;
EXCEPTION WHEN others THEN
    RETURN 'unknown';
END
$$;

CREATE OR REPLACE FUNCTION accounting_subnet(ip text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN ip ~ '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'
            THEN network(set_masklen(ip::inet, 24))::text
        WHEN ip ~ '^[0-9a-fA-F:.]+$' AND ip LIKE '%:%' THEN accounting_subnet_v6(ip)
        ELSE 'unknown'
    END
$$;

-- The figures of an attempt (the ledger) and of a rollup row (their sums): wasted wall time
-- split by cause. The three tables take their columns from this one list (a template table,
-- dropped once copied).
CREATE TABLE accounting_figures (
    attempts             integer NOT NULL,
    succeeded            integer NOT NULL,
    failed               integer NOT NULL,
    killed               integer NOT NULL,
    held                 integer NOT NULL,
    removed              integer NOT NULL,
    wall_s               double precision NOT NULL,
    cpu_s                double precision NOT NULL,
    memory_measured      integer NOT NULL,
    memory_used_mb       double precision NOT NULL,
    memory_requested_mb  double precision NOT NULL,
    memory_over          integer NOT NULL,
    disk_measured        integer NOT NULL,
    disk_used_kb         double precision NOT NULL,
    disk_requested_kb    double precision NOT NULL,
    disk_over            integer NOT NULL,
    files_in             bigint NOT NULL,
    bytes_in             double precision NOT NULL,
    files_out            bigint NOT NULL,
    bytes_out            double precision NOT NULL,
    wasted_failed_s      double precision NOT NULL,
    wasted_killed_s      double precision NOT NULL,
    wasted_held_s        double precision NOT NULL,
    wasted_removed_s     double precision NOT NULL,
    wasted_retried_away_s double precision NOT NULL,
    wasted_debug_rerun_s double precision NOT NULL,
    wasted_evicted_s     double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS accounting_attempts (
    submission_id        bigint NOT NULL,
    proc_id              integer NOT NULL,
    request_id           bigint NOT NULL,
    experiment           text NOT NULL,
    campaign             text NOT NULL,
    stage                text NOT NULL,
    site                 text NOT NULL,
    cpu_model            text NOT NULL,
    subnet               text NOT NULL,
    time_window          text NOT NULL,
    day                  date NOT NULL,
    waste_cause          text,
    LIKE accounting_figures,
    PRIMARY KEY (submission_id, proc_id)
);

-- A run sums again a changed stage's rollup rows, and the daily rows of the days it touched.
CREATE INDEX IF NOT EXISTS accounting_attempts_stage ON accounting_attempts (request_id, stage);
CREATE INDEX IF NOT EXISTS accounting_attempts_slice ON accounting_attempts (experiment, campaign, day);

CREATE TABLE IF NOT EXISTS accounting_rollup (
    request_id           bigint NOT NULL,
    stage                text NOT NULL,
    site                 text NOT NULL,
    cpu_model            text NOT NULL,
    subnet               text NOT NULL,
    time_window          text NOT NULL,
    day                  date NOT NULL,
    LIKE accounting_figures,
    PRIMARY KEY (request_id, stage, site, cpu_model, subnet, time_window, day)
);

CREATE TABLE IF NOT EXISTS accounting_daily (
    experiment           text NOT NULL,
    campaign             text NOT NULL,
    day                  date NOT NULL,
    dimension            text NOT NULL CHECK (dimension IN ('site', 'cpu_model', 'time_window', 'stage')),
    value                text NOT NULL,
    LIKE accounting_figures,
    PRIMARY KEY (experiment, campaign, day, dimension, value)
);

DROP TABLE accounting_figures;

CREATE INDEX IF NOT EXISTS accounting_daily_day ON accounting_daily (day);

CREATE TABLE IF NOT EXISTS accounting_cursor (
    id           integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    updated_at   timestamptz,
    last_run_at  timestamptz
);
INSERT INTO accounting_cursor (id) VALUES (1) ON CONFLICT (id) DO NOTHING;

-- Each run finds the attempts that changed since the cursor by this index.
CREATE INDEX IF NOT EXISTS job_attempts_updated_at ON job_attempts (updated_at);
