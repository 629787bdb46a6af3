-- The contact is told of a decision once (issue 15, item 8). In the approval race the gate's
-- failed try may record and announce the answer, and its next try completes with the same
-- answer carried over: the decision the contact was last told of, as `state@decided_at`, lets
-- only the first of them send the notice.
ALTER TABLE requests ADD COLUMN IF NOT EXISTS noticed_decision text;
