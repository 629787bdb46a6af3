-- The request list and the campaign page (issue 18): requests are read by experiment and
-- campaign, by state and by creation date, newest first and a page at a time.
CREATE INDEX IF NOT EXISTS requests_campaign ON requests (experiment, campaign, id DESC);
CREATE INDEX IF NOT EXISTS requests_state ON requests (state, id DESC);
CREATE INDEX IF NOT EXISTS requests_created ON requests (created_at DESC, id DESC);
