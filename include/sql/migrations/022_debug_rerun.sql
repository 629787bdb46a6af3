-- Debug reruns (issue 13, item 1): a job of a stage run again with debug turned up, by the
-- debug_rerun DAG (prodops.rerun). The rerun is a submission of the stage like a retry round
-- (its own attempt number, its job indexes in spec.job_indexes), marked by a `debug` entry in its
-- spec: the settings it ran with. That entry is the one truth; `kind` is derived from it.
--
-- A debug attempt is never a job's production attempt: it is never `latest` in
-- stage_job_attempts (so never the stage's outputs, DQ, or the job's outcome), and accounting
-- counts its wall time as wasted (`debug_rerun`, 018_accounting.sql).

ALTER TABLE submissions ADD COLUMN IF NOT EXISTS kind text
    GENERATED ALWAYS AS (CASE WHEN coalesce(jsonb_typeof(spec -> 'debug'), 'null') <> 'null'
                              THEN 'debug' ELSE 'production' END) STORED;

-- The latest attempt of a job is its newest production attempt; `kind` says which attempts are
-- debug reruns (columns may only be added at the end of a view).
CREATE OR REPLACE VIEW stage_job_attempts AS
SELECT s.request_id, s.stage, s.attempt, j.submission_id, j.proc_id, x.job_index,
       s.kind = 'production' AND s.attempt IS NOT DISTINCT FROM
           max(s.attempt) FILTER (WHERE s.kind = 'production')
               OVER (PARTITION BY s.request_id, s.stage, x.job_index) AS latest,
       s.kind
  FROM job_attempts j
  JOIN submissions s ON s.id = j.submission_id
 CROSS JOIN LATERAL (SELECT coalesce((s.spec -> 'job_indexes' ->> j.proc_id)::integer, j.proc_id) AS job_index) x;

-- Lineage: each attempt of a debug rerun and the attempt it reruns (same request, stage and job
-- index), with who asked, from which Airflow run, and the settings (also in the rerun's spec).
CREATE TABLE IF NOT EXISTS debug_reruns (
    submission_id          bigint NOT NULL,
    proc_id                integer NOT NULL,
    request_id             bigint NOT NULL,
    stage                  text NOT NULL,
    job_index              integer NOT NULL,
    rerun_of_submission_id bigint NOT NULL,
    rerun_of_proc_id       integer NOT NULL,
    run_id                 text NOT NULL,
    requested_by           text NOT NULL DEFAULT '',
    settings               jsonb NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, proc_id),
    FOREIGN KEY (submission_id) REFERENCES submissions (id) ON DELETE CASCADE,
    FOREIGN KEY (rerun_of_submission_id) REFERENCES submissions (id) ON DELETE CASCADE,
    FOREIGN KEY (request_id, stage) REFERENCES stages (request_id, name) ON DELETE CASCADE
);

-- the request page's side-by-side view, newest first
CREATE INDEX IF NOT EXISTS debug_reruns_request ON debug_reruns (request_id, created_at DESC);
-- a rerun's own submission, found again by its Airflow run (a re-run task submits nothing twice)
CREATE INDEX IF NOT EXISTS submissions_debug_run ON submissions ((spec -> 'debug' ->> 'run_id'))
    WHERE kind = 'debug';
