-- One definition of how an attempt ended (issue 12, item 2): a stored column computed by
-- PostgreSQL from the attempt's state, exit code and signal, read by tracking, triage, the
-- reports, the pages and every query, instead of each deciding "failed" on its own (they
-- disagreed: a completed attempt without an exit code was failed for the report and never
-- triaged). The vocabulary is prodops.constants.Outcome; prodops.batch.classads.outcome_of
-- is the Python mirror for rows not stored yet, held to this expression by a test over every
-- combination (tests/integration/test_outcome.py).
--   held, removed          the batch system's state says it
--   unfinished             any other state but completed (idle, running, transferring, suspended)
--   killed                 completed by a signal
--   succeeded              completed with exit code 0
--   failed                 completed otherwise: a non-zero exit code, or none at all
ALTER TABLE job_attempts ADD COLUMN IF NOT EXISTS outcome text GENERATED ALWAYS AS (
    CASE
        WHEN state = 'held' THEN 'held'
        WHEN state = 'removed' THEN 'removed'
        WHEN state <> 'completed' THEN 'unfinished'
        WHEN coalesce(exit_by_signal, false) THEN 'killed'
        WHEN exit_code = 0 THEN 'succeeded'
        ELSE 'failed'
    END
) STORED;

COMMENT ON COLUMN job_attempts.outcome IS
    'how the attempt ended (prodops.constants.Outcome): succeeded, failed, killed, held, removed, unfinished';
