-- A job token per submit try (issue 15): a submit that crashed after the schedd took the jobs is
-- run again and finds the cluster already there (prodops' job attributes); those jobs carry the
-- first try's token. The second try's token no longer replaces it: each try adds one, every one
-- ends with the submission, so no job of the submission loses its phase reports.
ALTER TABLE job_tokens DROP CONSTRAINT IF EXISTS job_tokens_pkey;
ALTER TABLE job_tokens DROP CONSTRAINT IF EXISTS job_tokens_token_hash_key;
ALTER TABLE job_tokens ADD PRIMARY KEY (token_hash);
CREATE INDEX IF NOT EXISTS job_tokens_submission ON job_tokens (submission_id);
