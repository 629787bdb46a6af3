-- How a request ended, and why: `report` runs whatever failed (trigger rule all_done) and
-- records the end; a chain stopped by a critical data-quality expectation is its own state.
ALTER TABLE requests DROP CONSTRAINT IF EXISTS requests_state_check;
ALTER TABLE requests ADD CONSTRAINT requests_state_check
    CHECK (state IN ('pending_approval', 'approved', 'rejected', 'expired',
                     'running', 'succeeded', 'failed', 'stopped_by_dq'));
ALTER TABLE requests ADD COLUMN IF NOT EXISTS ended_reason text;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS ended_at timestamptz;
