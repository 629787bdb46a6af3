-- A flapping outage extended batch by batch costs the batch, not the outage (issue 17, item 4).
-- Each segment carries the outage run the scan of prodops.status.timeline.outages is in at its end:
-- for a down/degraded segment the run it belongs to (start, worst state, episodes so far); for an
-- up segment right after one, the run it may still join (a gap shorter than the flapping gap
-- followed by down/degraded); NULL otherwise. A change re-derives from the segment holding it,
-- seeded with the one before it, instead of re-reading every segment of the outage from its start.
ALTER TABLE status_segments ADD COLUMN IF NOT EXISTS run_start timestamptz;
ALTER TABLE status_segments ADD COLUMN IF NOT EXISTS run_worst text;
ALTER TABLE status_segments ADD COLUMN IF NOT EXISTS run_episodes integer;

-- Rows derived before this migration have no runs: every service is derived again from its events
-- (by the next registry sync, or by its next event: a service without its mark starts from its first).
DELETE FROM status_derived;
