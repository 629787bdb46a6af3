-- name: create_job_stage
-- INCLUDING COMPRESSION: the staged ads are compressed as job_attempts.ad is (lz4, 007), not
-- with pglz, and the merge copies them compressed as they are (about a sixth of a 1,000-row write).
CREATE TEMP TABLE IF NOT EXISTS job_attempts_stage
    (LIKE job_attempts INCLUDING DEFAULTS INCLUDING COMPRESSION) ON COMMIT DELETE ROWS;

-- name: copy_job_stage
COPY job_attempts_stage (submission_id, proc_id, cluster_id, state, job_status, q_date, job_start_date,
    job_current_start_date, completion_date, entered_current_status, exit_code, exit_by_signal,
    exit_signal, hold_reason, hold_reason_code, hold_reason_subcode, num_holds, remove_reason,
    last_remote_host, worker_ip, site, cpu_model, cpu_vendor, remote_wall_clock_time, remote_user_cpu,
    remote_sys_cpu, memory_usage_mb, resident_set_size_kb, disk_usage_kb, request_memory_mb,
    request_disk_kb, num_job_starts, num_shadow_starts, transfer_input_size_mb, bytes_recvd, bytes_sent,
    time_window, ad, ad_hash,
    -- 003_job_record.sql
    files_in_count, files_in_bytes, files_out_count, files_out_bytes) FROM STDIN (FORMAT BINARY);

-- name: copy_job_attempts
-- Rows of jobs the submission has no row for yet go straight in (no stage, no merge); a row
-- that does exist after all fails the COPY, and the caller merges through the stage instead.
-- Binary COPY (both): values in the columns' types, see prodops.store.records.JOB_COPY_TYPES.
COPY job_attempts (submission_id, proc_id, cluster_id, state, job_status, q_date, job_start_date,
    job_current_start_date, completion_date, entered_current_status, exit_code, exit_by_signal,
    exit_signal, hold_reason, hold_reason_code, hold_reason_subcode, num_holds, remove_reason,
    last_remote_host, worker_ip, site, cpu_model, cpu_vendor, remote_wall_clock_time, remote_user_cpu,
    remote_sys_cpu, memory_usage_mb, resident_set_size_kb, disk_usage_kb, request_memory_mb,
    request_disk_kb, num_job_starts, num_shadow_starts, transfer_input_size_mb, bytes_recvd, bytes_sent,
    time_window, ad, ad_hash,
    -- 003_job_record.sql
    files_in_count, files_in_bytes, files_out_count, files_out_bytes) FROM STDIN (FORMAT BINARY);

-- name: merge_job_stage
-- One statement for the whole batch; a row that did not change is not rewritten. The columns
-- are named (the COPY's, prodops.batch.classads.COLUMNS): job_attempts.outcome is generated
-- (010_outcome.sql) and takes no value, and updated_at takes its default.
INSERT INTO job_attempts AS j (submission_id, proc_id, cluster_id, state, job_status, q_date, job_start_date,
    job_current_start_date, completion_date, entered_current_status, exit_code, exit_by_signal,
    exit_signal, hold_reason, hold_reason_code, hold_reason_subcode, num_holds, remove_reason,
    last_remote_host, worker_ip, site, cpu_model, cpu_vendor, remote_wall_clock_time, remote_user_cpu,
    remote_sys_cpu, memory_usage_mb, resident_set_size_kb, disk_usage_kb, request_memory_mb,
    request_disk_kb, num_job_starts, num_shadow_starts, transfer_input_size_mb, bytes_recvd, bytes_sent,
    time_window, ad, ad_hash, files_in_count, files_in_bytes, files_out_count, files_out_bytes)
SELECT submission_id, proc_id, cluster_id, state, job_status, q_date, job_start_date,
    job_current_start_date, completion_date, entered_current_status, exit_code, exit_by_signal,
    exit_signal, hold_reason, hold_reason_code, hold_reason_subcode, num_holds, remove_reason,
    last_remote_host, worker_ip, site, cpu_model, cpu_vendor, remote_wall_clock_time, remote_user_cpu,
    remote_sys_cpu, memory_usage_mb, resident_set_size_kb, disk_usage_kb, request_memory_mb,
    request_disk_kb, num_job_starts, num_shadow_starts, transfer_input_size_mb, bytes_recvd, bytes_sent,
    time_window, ad, ad_hash, files_in_count, files_in_bytes, files_out_count, files_out_bytes
  FROM job_attempts_stage
ON CONFLICT (submission_id, proc_id) DO UPDATE SET
    cluster_id = EXCLUDED.cluster_id, state = EXCLUDED.state, job_status = EXCLUDED.job_status,
    q_date = EXCLUDED.q_date, job_start_date = EXCLUDED.job_start_date,
    job_current_start_date = EXCLUDED.job_current_start_date, completion_date = EXCLUDED.completion_date,
    entered_current_status = EXCLUDED.entered_current_status, exit_code = EXCLUDED.exit_code,
    exit_by_signal = EXCLUDED.exit_by_signal, exit_signal = EXCLUDED.exit_signal,
    hold_reason = EXCLUDED.hold_reason, hold_reason_code = EXCLUDED.hold_reason_code,
    hold_reason_subcode = EXCLUDED.hold_reason_subcode, num_holds = EXCLUDED.num_holds,
    remove_reason = EXCLUDED.remove_reason, last_remote_host = EXCLUDED.last_remote_host,
    worker_ip = EXCLUDED.worker_ip, site = EXCLUDED.site, cpu_model = EXCLUDED.cpu_model,
    cpu_vendor = EXCLUDED.cpu_vendor, remote_wall_clock_time = EXCLUDED.remote_wall_clock_time,
    remote_user_cpu = EXCLUDED.remote_user_cpu, remote_sys_cpu = EXCLUDED.remote_sys_cpu,
    memory_usage_mb = EXCLUDED.memory_usage_mb, resident_set_size_kb = EXCLUDED.resident_set_size_kb,
    disk_usage_kb = EXCLUDED.disk_usage_kb, request_memory_mb = EXCLUDED.request_memory_mb,
    request_disk_kb = EXCLUDED.request_disk_kb, num_job_starts = EXCLUDED.num_job_starts,
    num_shadow_starts = EXCLUDED.num_shadow_starts, transfer_input_size_mb = EXCLUDED.transfer_input_size_mb,
    bytes_recvd = EXCLUDED.bytes_recvd, bytes_sent = EXCLUDED.bytes_sent, time_window = EXCLUDED.time_window,
    ad = EXCLUDED.ad, ad_hash = EXCLUDED.ad_hash, files_in_count = EXCLUDED.files_in_count,
    files_in_bytes = EXCLUDED.files_in_bytes, files_out_count = EXCLUDED.files_out_count,
    files_out_bytes = EXCLUDED.files_out_bytes, updated_at = now()
WHERE j.ad_hash IS DISTINCT FROM EXCLUDED.ad_hash;

-- name: job_fingerprints
-- What the last cycle wrote, to diff the next poll against without rereading whole rows.
SELECT proc_id, ad_hash, state FROM job_attempts WHERE submission_id = %(submission_id)s;

-- name: create_event_stage
CREATE TEMP TABLE IF NOT EXISTS job_events_stage
    (LIKE job_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: copy_job_events
-- Events after the stored offset go straight in; one stored already fails the COPY, and the
-- caller merges through the stage instead.
COPY job_events (submission_id, log_offset, cluster_id, proc_id, event_type, event_time, data)
FROM STDIN (FORMAT BINARY);

-- name: copy_event_stage
COPY job_events_stage (submission_id, log_offset, cluster_id, proc_id, event_type, event_time, data)
FROM STDIN (FORMAT BINARY);

-- name: merge_event_stage
-- An event already stored (the log read again from a reset offset) is kept once.
INSERT INTO job_events (submission_id, log_offset, cluster_id, proc_id, event_type, event_time, data)
SELECT submission_id, log_offset, cluster_id, proc_id, event_type, event_time, data FROM job_events_stage
ON CONFLICT (submission_id, log_offset) DO NOTHING;

-- name: jobs_of_stage
-- Every attempt of every job of the stage; `latest` marks each job's newest attempt (its outcome).
-- The typed columns only: the whole ad (jsonb, ~2 kB a job) is for a person looking at one job.
SELECT j.submission_id, j.proc_id, j.cluster_id, j.state, j.job_status, j.q_date, j.job_start_date,
       j.job_current_start_date, j.completion_date, j.entered_current_status, j.exit_code, j.exit_by_signal,
       j.exit_signal, j.hold_reason, j.hold_reason_code, j.hold_reason_subcode, j.num_holds, j.remove_reason,
       j.last_remote_host, j.worker_ip, j.site, j.cpu_model, j.cpu_vendor, j.remote_wall_clock_time,
       j.remote_user_cpu, j.remote_sys_cpu, j.memory_usage_mb, j.resident_set_size_kb, j.disk_usage_kb,
       j.request_memory_mb, j.request_disk_kb, j.num_job_starts, j.num_shadow_starts, j.transfer_input_size_mb,
       j.bytes_recvd, j.bytes_sent, j.time_window, j.files_in_count, j.files_in_bytes, j.files_out_count,
       j.files_out_bytes, j.outcome, j.updated_at, v.attempt, v.job_index, v.latest
  FROM stage_job_attempts v JOIN job_attempts j USING (submission_id, proc_id)
 WHERE v.request_id = %(request_id)s AND v.stage = %(stage)s
 ORDER BY v.job_index, v.attempt;

-- name: upsert_stage_report
INSERT INTO stage_reports (request_id, stage, report) VALUES (%(request_id)s, %(stage)s, %(report)s)
ON CONFLICT (request_id, stage) DO UPDATE SET report = EXCLUDED.report, created_at = now();

-- name: get_stage_report
SELECT report FROM stage_reports WHERE request_id = %(request_id)s AND stage = %(stage)s;
