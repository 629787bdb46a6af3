-- Requests, stages, submissions, job attempts and their events.
-- Every table has a natural key so that every write is an upsert.

CREATE TABLE IF NOT EXISTS requests (
    id                  bigserial PRIMARY KEY,
    dag_id              text NOT NULL,
    run_id              text NOT NULL,
    experiment          text NOT NULL,
    campaign            text NOT NULL,
    workflow            text NOT NULL,
    input_dataset       text,
    n_jobs              integer,
    request_memory_mb   integer NOT NULL,
    request_disk_mb     integer NOT NULL,
    max_wall_time_min   integer NOT NULL,
    requested_priority  integer NOT NULL,
    priority            integer,
    justification       text NOT NULL,
    contact             text NOT NULL,
    workflow_options    jsonb NOT NULL DEFAULT '{}'::jsonb,
    form                jsonb NOT NULL,
    state               text NOT NULL DEFAULT 'pending_approval'
        CHECK (state IN ('pending_approval', 'approved', 'rejected', 'expired',
                         'running', 'succeeded', 'failed')),
    decided_by          text,
    decision_note       text,
    decided_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dag_id, run_id)
);

CREATE TABLE IF NOT EXISTS stages (
    request_id  bigint NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    name        text NOT NULL,
    position    integer NOT NULL,
    state       text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'submitted', 'running', 'done', 'failed')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, name)
);

CREATE TABLE IF NOT EXISTS submissions (
    id                bigserial PRIMARY KEY,
    request_id        bigint NOT NULL,
    stage             text NOT NULL,
    attempt           integer NOT NULL DEFAULT 1,
    backend           text NOT NULL,
    schedd            text NOT NULL DEFAULT '',
    cluster_id        bigint,
    num_jobs          integer NOT NULL,
    workdir           text NOT NULL,
    event_log         text NOT NULL DEFAULT '',
    event_log_offset  bigint NOT NULL DEFAULT 0,
    spec              jsonb NOT NULL,
    state             text NOT NULL DEFAULT 'submitting'
        CHECK (state IN ('submitting', 'running', 'done')),
    submitted_at      timestamptz,
    finished_at       timestamptz,
    UNIQUE (request_id, stage, attempt),
    FOREIGN KEY (request_id, stage) REFERENCES stages (request_id, name) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS job_attempts (
    submission_id           bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    proc_id                 integer NOT NULL,
    cluster_id              bigint NOT NULL,
    state                   text NOT NULL,
    job_status              integer,
    q_date                  timestamptz,
    job_start_date          timestamptz,
    job_current_start_date  timestamptz,
    completion_date         timestamptz,
    entered_current_status  timestamptz,
    exit_code               integer,
    exit_by_signal          boolean,
    exit_signal             integer,
    hold_reason             text,
    hold_reason_code        integer,
    hold_reason_subcode     integer,
    num_holds               integer,
    remove_reason           text,
    last_remote_host        text,
    worker_ip               text,
    site                    text,
    cpu_model               text,
    cpu_vendor              text,
    remote_wall_clock_time  double precision,
    remote_user_cpu         double precision,
    remote_sys_cpu          double precision,
    memory_usage_mb         bigint,
    resident_set_size_kb    bigint,
    disk_usage_kb           bigint,
    request_memory_mb       bigint,
    request_disk_kb         bigint,
    num_job_starts          integer,
    num_shadow_starts       integer,
    transfer_input_size_mb  double precision,
    bytes_recvd             double precision,
    bytes_sent              double precision,
    time_window             text,
    ad                      jsonb NOT NULL,
    ad_hash                 text NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, proc_id)
);

CREATE INDEX IF NOT EXISTS job_attempts_state ON job_attempts (submission_id, state);

CREATE TABLE IF NOT EXISTS job_events (
    submission_id  bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    log_offset     bigint NOT NULL,
    cluster_id     bigint NOT NULL,
    proc_id        integer NOT NULL,
    event_type     text NOT NULL,
    event_time     timestamptz NOT NULL,
    data           jsonb NOT NULL,
    PRIMARY KEY (submission_id, log_offset)
);

CREATE TABLE IF NOT EXISTS stage_reports (
    request_id  bigint NOT NULL,
    stage       text NOT NULL,
    report      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, stage),
    FOREIGN KEY (request_id, stage) REFERENCES stages (request_id, name) ON DELETE CASCADE
);
