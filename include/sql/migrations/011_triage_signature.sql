-- Triage by structure: a verdict may come from a framework report's innermost exception
-- (source 'framework'); each verdict keeps its failure signature (its rule and its evidence
-- line with numbers, paths and hosts masked: the triage page's group key) and the decision
-- path (the candidates each piece of knowledge proposed, and why the winner won).
ALTER TABLE triage_verdicts ADD COLUMN IF NOT EXISTS signature text NOT NULL DEFAULT '';
ALTER TABLE triage_verdicts ADD COLUMN IF NOT EXISTS decision jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE triage_verdicts DROP CONSTRAINT IF EXISTS triage_verdicts_source_check;
ALTER TABLE triage_verdicts ADD CONSTRAINT triage_verdicts_source_check
    CHECK (source IN ('plugin', 'framework', 'pattern', 'facts', 'outage', 'fallback'));
CREATE INDEX IF NOT EXISTS triage_verdicts_signature ON triage_verdicts (request_id, stage, signature);
