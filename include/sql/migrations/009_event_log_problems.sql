-- Garbled or unknown events of a submission's job event log (issue 12, item 7): the reader
-- skips each one and goes on with the next events; tracking records it here, in the same
-- transaction as the cycle's events and event-log offset, so a person sees what was skipped
-- and where. One row per skipped event, keyed like job_events by the byte offset in the log's
-- stream (its rotations and the current file) just after the event: a cycle that reads the
-- same bytes again (its offset was not committed) adds nothing.
CREATE TABLE IF NOT EXISTS event_log_problems (
    submission_id  bigint NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    log_offset     bigint NOT NULL,
    path           text NOT NULL,
    byte_offset    bigint,
    line           text,
    message        text NOT NULL,
    job            text,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, log_offset)
);

COMMENT ON TABLE event_log_problems IS
    'Events of a job event log that tracking skipped (garbled, unknown, cut): file, byte offset, line';
COMMENT ON COLUMN event_log_problems.log_offset IS
    'end of the skipped event in the log''s stream (rotations, then the current file): where reading resumed';
COMMENT ON COLUMN event_log_problems.path IS 'the file (the log or one of its rotations) the bad text is in';
COMMENT ON COLUMN event_log_problems.byte_offset IS 'byte of that file where the bad text starts';
COMMENT ON COLUMN event_log_problems.line IS 'the offending line as read (undecodable bytes replaced)';
COMMENT ON COLUMN event_log_problems.job IS 'cluster.proc when the event named its job';
