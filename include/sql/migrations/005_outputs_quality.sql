-- Output manifests per job attempt, and data-quality results per stage.

CREATE TABLE IF NOT EXISTS job_outputs (
    submission_id  bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    proc_id        integer NOT NULL,
    file           text NOT NULL,
    path           text NOT NULL,
    size_bytes     bigint NOT NULL,
    checksum       text,
    events         bigint,
    readable       boolean NOT NULL,
    PRIMARY KEY (submission_id, file)
);

CREATE TABLE IF NOT EXISTS job_inputs (
    submission_id  bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    proc_id        integer NOT NULL,
    file           text NOT NULL,
    PRIMARY KEY (submission_id, proc_id, file)
);

CREATE TABLE IF NOT EXISTS manifest_problems (
    submission_id  bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    proc_id        integer NOT NULL,
    problem        text NOT NULL,
    PRIMARY KEY (submission_id, proc_id)
);

CREATE TABLE IF NOT EXISTS dq_results (
    request_id      bigint NOT NULL,
    stage           text NOT NULL,
    expectation_id  text NOT NULL,
    suite           text NOT NULL,
    expectation     text NOT NULL,
    data_table      text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('critical', 'warning')),
    success         boolean NOT NULL,
    observed        jsonb,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    checked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, stage, expectation_id),
    FOREIGN KEY (request_id, stage) REFERENCES stages (request_id, name) ON DELETE CASCADE
);
