-- Accounting by phase (issue 13, item 4): what the jobs said of their own phases (job_phases,
-- 015_phases.sql), accounted with their attempts by the same run of prodops.accounting.rollup.
-- The definitions are in docs/accounting.md.
--
-- accounting_phase_attempts  one row per phase of an ended attempt as last accounted (the ledger)
-- accounting_phase_daily     per experiment, campaign, day, stage and phase: their sums, what the
--                            stats page reads
--
-- A phase a job reported after its attempt was accounted (a stdout marker harvested at the end of
-- the stage, a late post) brings its job into the next run: that run reads job_phases received
-- since its cursor, by the index below.

CREATE TABLE IF NOT EXISTS accounting_phase_attempts (
    submission_id  bigint NOT NULL,
    proc_id        integer NOT NULL,
    phase          text NOT NULL,
    experiment     text NOT NULL,
    campaign       text NOT NULL,
    day            date NOT NULL,
    stage          text NOT NULL,
    attempts       integer NOT NULL,   -- 1: the attempt reported the phase (started or finished)
    finished       integer NOT NULL,   -- it reported the phase finished
    failed         integer NOT NULL,   -- finished with a status code other than 0
    unfinished     integer NOT NULL,   -- started, never finished, and the attempt ended
    cpu_s          double precision NOT NULL,
    wall_s         double precision NOT NULL,
    events         bigint NOT NULL,
    PRIMARY KEY (submission_id, proc_id, phase)
);

CREATE INDEX IF NOT EXISTS accounting_phase_attempts_slice
    ON accounting_phase_attempts (experiment, campaign, day);

CREATE TABLE IF NOT EXISTS accounting_phase_daily (
    experiment     text NOT NULL,
    campaign       text NOT NULL,
    day            date NOT NULL,
    stage          text NOT NULL,
    phase          text NOT NULL,
    attempts       bigint NOT NULL,
    finished       bigint NOT NULL,
    failed         bigint NOT NULL,
    unfinished     bigint NOT NULL,
    cpu_s          double precision NOT NULL,
    wall_s         double precision NOT NULL,
    events         bigint NOT NULL,
    PRIMARY KEY (experiment, campaign, day, stage, phase)
);

CREATE INDEX IF NOT EXISTS accounting_phase_daily_day ON accounting_phase_daily (day);

CREATE INDEX IF NOT EXISTS job_phases_received_at ON job_phases (received_at);
