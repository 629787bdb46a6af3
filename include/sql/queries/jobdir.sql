-- The job directory every component must share (prodops.jobdir).

-- name: database_identity
-- Which database this is, the same from every host: the cluster's system identifier (initdb's,
-- readable without superuser) and the database's name. A job directory's marker names it.
SELECT system_identifier::text || '/' || current_database() AS identity FROM pg_control_system();

-- name: live_workdirs
-- Workdirs of submissions the batch system runs now: every worker and triggerer must see them.
SELECT id, workdir FROM submissions WHERE state = 'running' ORDER BY id DESC LIMIT %(limit)s;
