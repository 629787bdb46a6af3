-- The full job record (issue 3): the files each attempt moved in and out (count and bytes of
-- its last run, from TransferInputStats / TransferOutputStats), and where tracking resumes
-- reading the schedd's history so a finished job is fetched once.
-- ADD COLUMN appends after updated_at: prodops.batch.classads.COLUMNS and the COPY list in
-- queries/jobs.sql name these last, in this order.

ALTER TABLE job_attempts
    ADD COLUMN IF NOT EXISTS files_in_count   bigint,
    ADD COLUMN IF NOT EXISTS files_in_bytes   bigint,
    ADD COLUMN IF NOT EXISTS files_out_count  bigint,
    ADD COLUMN IF NOT EXISTS files_out_bytes  bigint;

-- The job id ("cluster.proc") of the newest schedd history record tracking has stored:
-- Schedd.history(since=...) returns only records written after it. NULL: read from the start.
ALTER TABLE submissions
    ADD COLUMN IF NOT EXISTS history_cursor   text;
