-- Phase markers: what a job says about its own phases ("copy-out started", "reco finished,
-- status 0"), posted to the API with its submission's job token, or printed on its stdout as a
-- marker line and harvested when it ends (docs/instrumenting.md).

CREATE TABLE IF NOT EXISTS job_phases (
    submission_id  bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    job_index      integer NOT NULL CHECK (job_index >= 0),
    phase          text NOT NULL CHECK (phase ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    state          text NOT NULL CHECK (state IN ('started', 'finished')),
    status_code    integer,
    cpu_s          double precision CHECK (cpu_s >= 0),
    wall_s         double precision CHECK (wall_s >= 0),
    events         bigint CHECK (events >= 0),
    -- api: posted by the job; stdout: a marker line harvested from its output when it ended.
    -- For one (job, phase, state) the api row wins over the stdout one, whichever came first.
    source         text NOT NULL CHECK (source IN ('api', 'stdout')),
    reported_at    timestamptz,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, job_index, phase, state)
);

CREATE TABLE IF NOT EXISTS job_tokens (
    submission_id  bigint PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
    -- sha256 of the token; the token itself goes only into the jobs' environment
    token_hash     text NOT NULL UNIQUE,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    -- the latest a job may still post; the submission's end (plus a grace period) ends it sooner
    expires_at     timestamptz NOT NULL
);
