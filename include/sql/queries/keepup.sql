-- Keepup following (024_keepup.sql, prodops.keepup).

-- name: keepup_decision
SELECT * FROM keepup_decisions WHERE campaign = %(campaign)s AND definition_hash = %(definition_hash)s;

-- name: keepup_record_decision
-- The first answer for a definition stands: a gate answered twice (a retried try) changes nothing.
INSERT INTO keepup_decisions (campaign, definition_hash, definition, decision, decided_by, decided_at, note)
VALUES (%(campaign)s, %(definition_hash)s, %(definition)s, %(decision)s, %(decided_by)s, %(decided_at)s, %(note)s)
ON CONFLICT (campaign, definition_hash) DO NOTHING;

-- name: keepup_lock_campaign
-- Followers of one campaign claim one after the other (until the transaction ends): the cap and
-- the batch numbers are read and written by one at a time.
SELECT pg_advisory_xact_lock(hashtext('prodops.keepup'), hashtext(%(campaign)s));

-- name: keepup_claimed_among
SELECT path FROM keepup_files WHERE campaign = %(campaign)s AND path = ANY(%(paths)s);

-- name: keepup_jobs_since
SELECT coalesce(sum(jobs), 0)::bigint AS jobs FROM keepup_batches
 WHERE campaign = %(campaign)s AND claimed_at >= %(since)s;

-- name: keepup_next_batch
SELECT coalesce(max(batch), 0) + 1 AS batch FROM keepup_batches WHERE campaign = %(campaign)s;

-- name: keepup_insert_batch
INSERT INTO keepup_batches (campaign, batch, definition_hash, dag_id, run_id, conf, files, jobs, claimed_at)
VALUES (%(campaign)s, %(batch)s, %(definition_hash)s, %(dag_id)s, %(run_id)s, %(conf)s, %(files)s, %(jobs)s,
        %(claimed_at)s);

-- name: keepup_insert_file
-- No ON CONFLICT: under the campaign's lock a claimed file is never offered again, and if it were
-- the whole batch must fail rather than hold fewer files than it says.
INSERT INTO keepup_files (campaign, path, batch, events, size_bytes)
VALUES (%(campaign)s, %(path)s, %(batch)s, %(events)s, %(size_bytes)s);

-- name: keepup_unsubmitted_batches
-- Batches whose production request has not been recorded yet (triggered and waiting, or never
-- triggered because the follower stopped after claiming): triggered (again) by the next follower
-- run; a run that exists already is left alone.
SELECT b.* FROM keepup_batches b
 WHERE b.campaign = ANY(%(campaigns)s)
   AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.dag_id = b.dag_id AND r.run_id = b.run_id)
 ORDER BY b.campaign, b.batch;

-- name: keepup_batch_files
SELECT path, events, size_bytes FROM keepup_files
 WHERE campaign = %(campaign)s AND batch = %(batch)s ORDER BY path;

-- name: keepup_standing_approval_of_run
-- The batch a production request's run was triggered for, with the standing approval it was
-- claimed under.
SELECT b.campaign, b.batch, b.conf, d.decided_by, d.decided_at
  FROM keepup_batches b
  JOIN keepup_decisions d USING (campaign, definition_hash)
 WHERE b.dag_id = %(dag_id)s AND b.run_id = %(run_id)s AND d.decision = 'approved';
