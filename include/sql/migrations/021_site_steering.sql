-- Site steering (issue 13, item 6): a site whose failure rate for a workflow crossed the threshold
-- over the recent window is avoided by that workflow's new submissions and retry rounds (a
-- Requirements clause) until `until`, or until a person lifts it. One row per episode: the figures
-- that decided it are kept beside it. The rules are in prodops.steering; the thresholds are the
-- `steering:` section of include/triage/triage.yaml.
CREATE TABLE IF NOT EXISTS site_steering (
    id             bigserial PRIMARY KEY,
    workflow       text NOT NULL,
    site           text NOT NULL,
    since          timestamptz NOT NULL,
    until          timestamptz NOT NULL CHECK (until > since),
    -- the figures that decided it: attempts that ended at the site in the window, those failed with
    -- an infrastructure or service verdict, and the settings they were held to
    window_start   timestamptz NOT NULL,
    attempts       integer NOT NULL CHECK (attempts > 0),
    failures       integer NOT NULL CHECK (failures >= 0 AND failures <= attempts),
    failure_rate   double precision NOT NULL,
    threshold      double precision NOT NULL,
    min_attempts   integer NOT NULL,
    lifted_by      text,
    lifted_at      timestamptz,
    lift_note      text NOT NULL DEFAULT '' CHECK (length(lift_note) <= 2000),
    CHECK ((lifted_by IS NULL) = (lifted_at IS NULL))
);

-- the open episode of a workflow and site (deciding again while it is open adds nothing), and the
-- newest one, whose end starts the next window
CREATE INDEX IF NOT EXISTS site_steering_workflow ON site_steering (workflow, site, since DESC);
-- the board's "avoided now" list
CREATE INDEX IF NOT EXISTS site_steering_open ON site_steering (until) WHERE lifted_at IS NULL;

-- the attempts that ended at a site recently, whatever the request (steering's window)
CREATE INDEX IF NOT EXISTS job_attempts_site_ended
    ON job_attempts ((coalesce(completion_date, entered_current_status)))
    WHERE site IS NOT NULL AND outcome <> 'unfinished';
