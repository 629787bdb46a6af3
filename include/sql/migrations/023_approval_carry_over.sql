-- The approval race (issue 15, item 6): Airflow 3.3.2 can fail the try of the approval gate
-- that an approver answered the moment it opened. prodops' listener, in the scheduler, copies
-- the answer Airflow recorded onto the request and sets this flag; the gate's next try
-- completes with that answer instead of asking again, and recording it clears the flag.
ALTER TABLE requests ADD COLUMN IF NOT EXISTS answer_awaits_gate boolean NOT NULL DEFAULT false;
