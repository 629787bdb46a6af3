-- name: upsert_request
-- A re-run of validate_request for the same Airflow run updates the same row.
INSERT INTO requests (dag_id, run_id, experiment, campaign, workflow, input_dataset, n_jobs,
                      request_memory_mb, request_disk_mb, max_wall_time_min, requested_priority,
                      justification, contact, workflow_options, form)
VALUES (%(dag_id)s, %(run_id)s, %(experiment)s, %(campaign)s, %(workflow)s, %(input_dataset)s, %(n_jobs)s,
        %(request_memory_mb)s, %(request_disk_mb)s, %(max_wall_time_min)s, %(requested_priority)s,
        %(justification)s, %(contact)s, %(workflow_options)s, %(form)s)
ON CONFLICT (dag_id, run_id) DO UPDATE SET
    experiment = EXCLUDED.experiment, campaign = EXCLUDED.campaign, workflow = EXCLUDED.workflow,
    input_dataset = EXCLUDED.input_dataset, n_jobs = EXCLUDED.n_jobs,
    request_memory_mb = EXCLUDED.request_memory_mb, request_disk_mb = EXCLUDED.request_disk_mb,
    max_wall_time_min = EXCLUDED.max_wall_time_min, requested_priority = EXCLUDED.requested_priority,
    justification = EXCLUDED.justification, contact = EXCLUDED.contact,
    workflow_options = EXCLUDED.workflow_options, form = EXCLUDED.form, updated_at = now()
RETURNING id, state;

-- name: upsert_stage
INSERT INTO stages (request_id, name, position) VALUES (%(request_id)s, %(name)s, %(position)s)
ON CONFLICT (request_id, name) DO UPDATE SET position = EXCLUDED.position;

-- name: set_request_decision
UPDATE requests
   SET state = %(state)s, priority = %(priority)s, decided_by = %(decided_by)s,
       decision_note = %(decision_note)s, decided_at = %(decided_at)s, updated_at = now()
 WHERE id = %(request_id)s;

-- name: settle_carried_over_answer
-- The gate completed with the answer carried over to it: the answer is the gate's own now, and a
-- gate cleared later asks again. (A decision recorded otherwise leaves the flag: the try that
-- recorded it may be the one Airflow failed meanwhile.)
UPDATE requests SET answer_awaits_gate = false, updated_at = now() WHERE id = %(request_id)s;

-- name: carry_over_answer
-- The answer Airflow recorded for a try of the approval gate it then failed (the answer race of
-- Airflow 3.3.2), put on the run's request while it still waits for a decision, or flagged when
-- that try had recorded this very answer before Airflow failed it; the gate's next try completes
-- with it (settle_carried_over_answer clears the flag). Any other decision or end is kept.
UPDATE requests
   SET state = %(state)s, priority = coalesce(%(priority)s, requested_priority), decided_by = %(decided_by)s,
       decision_note = %(decision_note)s, decided_at = %(decided_at)s, answer_awaits_gate = true,
       updated_at = now()
 WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
   AND (state = 'pending_approval' OR (state = %(state)s AND decided_at = %(decided_at)s))
RETURNING id;

-- name: set_request_state
UPDATE requests SET state = %(state)s, updated_at = now() WHERE id = %(request_id)s;

-- name: get_request
SELECT * FROM requests WHERE id = %(request_id)s;

-- name: get_request_by_run
SELECT * FROM requests WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s;

-- name: set_stage_state
UPDATE stages SET state = %(state)s, updated_at = now()
 WHERE request_id = %(request_id)s AND name = %(stage)s;

-- name: end_request
-- The request's end as `report` decided it (idempotent: a re-run writes the same).
UPDATE requests SET state = %(state)s, ended_reason = %(reason)s, ended_at = coalesce(ended_at, now()),
       updated_at = now()
 WHERE id = %(request_id)s;

-- name: end_request_of_failed_run
-- A run that failed before `report` recorded an end (e.g. Airflow failed the approval gate in a
-- race, or a person marked the run failed): its request ends `failed` instead of waiting for ever.
-- A request that already ended keeps its end.
UPDATE requests SET state = 'failed', ended_reason = %(reason)s, ended_at = coalesce(ended_at, now()),
       updated_at = now()
 WHERE dag_id = %(dag_id)s AND run_id = %(run_id)s
   AND state IN ('pending_approval', 'approved', 'running')
RETURNING id, state;

-- name: claim_decision_notice
-- Returns the request when its contact has not yet been told of its current decision, and marks
-- it told (027_decision_notice_once.sql): a decision recorded twice is announced once.
UPDATE requests
   SET noticed_decision = state || '@' || coalesce(decided_at::text, '')
 WHERE id = %(request_id)s
   AND noticed_decision IS DISTINCT FROM state || '@' || coalesce(decided_at::text, '')
RETURNING id;
