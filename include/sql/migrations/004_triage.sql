-- Failure triage: one verdict per failed job attempt, its evidence, the outages it ran into,
-- and the action decided and taken. Natural key = the attempt (submission, proc): re-running
-- triage updates the row in place; an action already carried out is never reset.

CREATE TABLE IF NOT EXISTS triage_verdicts (
    submission_id        bigint NOT NULL,
    proc_id              integer NOT NULL,
    request_id           bigint NOT NULL,
    stage                text NOT NULL,
    attempt              integer NOT NULL,
    -- the job's index in its stage (its ProcId in the first submission): retries of one job share it
    job_index            integer NOT NULL,
    cluster_id           bigint NOT NULL,
    category             text NOT NULL CHECK (category IN ('service', 'infrastructure', 'code', 'unknown')),
    service              text,
    -- pattern id, plugin:<id>, a facts rule (hold-34, signal-11, ...), outage:<service> or fallback
    rule                 text NOT NULL,
    source               text NOT NULL CHECK (source IN ('plugin', 'pattern', 'facts', 'outage', 'fallback')),
    explain              text NOT NULL,
    retryable            boolean NOT NULL,
    confidence           real NOT NULL CHECK (confidence > 0 AND confidence <= 1),
    resource             text CHECK (resource IS NULL OR resource IN ('memory', 'disk', 'time')),
    possibly_service     boolean NOT NULL DEFAULT false,
    -- [{stream, line, from_end, text, rule}], best first
    evidence             jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- [{service, kind (outage|maintenance), state, start, end, detail, id}]
    outages              jsonb NOT NULL DEFAULT '[]'::jsonb,
    action               text NOT NULL CHECK (action IN ('retry', 'retry_more_resources', 'debug_rerun', 'leave')),
    action_reason        text NOT NULL,
    -- which retry budget the action uses: service, resource, experiment (NULL: none)
    action_budget        text CHECK (action_budget IS NULL OR action_budget IN ('service', 'resource', 'experiment')),
    action_params        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- planned by triage; done / skipped / failed when the retry step (or a person) acted on it
    action_state         text NOT NULL DEFAULT 'planned'
        CHECK (action_state IN ('planned', 'done', 'skipped', 'failed')),
    action_note          text NOT NULL DEFAULT '',
    retry_submission_id  bigint REFERENCES submissions (id) ON DELETE SET NULL,
    acted_at             timestamptz,
    verdict_hash         text NOT NULL,
    triaged_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, proc_id),
    FOREIGN KEY (submission_id, proc_id) REFERENCES job_attempts (submission_id, proc_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS triage_verdicts_stage ON triage_verdicts (request_id, stage, category, rule);
CREATE INDEX IF NOT EXISTS triage_verdicts_job ON triage_verdicts (request_id, stage, job_index, attempt);
CREATE INDEX IF NOT EXISTS triage_verdicts_planned ON triage_verdicts (request_id, stage, action)
    WHERE action_state = 'planned';
