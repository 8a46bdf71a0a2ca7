{{ define "job_runs" }}
-- Runs of the clock jobs scheduled with internal/schedule on schema {{ . }}: one row per job and
-- slot (the scheduled time), inserted by the one instance that takes the slot (the primary key
-- makes two replicas never both run it) and finished with the outcome: running, then ok or
-- failed (error says why); skipped when the job's previous run was still going.
CREATE TABLE IF NOT EXISTS {{ . }}.job_runs (
    job           text        NOT NULL,
    scheduled_for timestamptz NOT NULL,
    instance      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped')),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    error         text,
    PRIMARY KEY (job, scheduled_for)
);
CREATE INDEX IF NOT EXISTS job_runs_running ON {{ . }}.job_runs (job) WHERE status = 'running';
{{ end }}
