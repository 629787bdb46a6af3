-- Job ads compressed with lz4 instead of pglz: a job-attempt row (its ad is ~2 kB of jsonb) is
-- compressed on every write, and pglz was about a fifth of PostgreSQL's time in the tracking
-- COPY of a 20,000-job submission (bench/tracking.py); lz4 is several times faster both ways.
-- Rows already stored keep pglz until they are rewritten. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE job_attempts ALTER COLUMN ad SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'PostgreSQL was built without lz4: job ads stay compressed with pglz';
END
$$;
