-- Platform-wide tables (schema platform): job_runs, where internal/schedule records every run of
-- a clock job (nightly analytics ETL per store, ...) and which makes a slot run once across the
-- replicas of a service.
CREATE SCHEMA IF NOT EXISTS platform;

{{ template "job_runs" "platform" }}

---- create above / drop below ----

DROP TABLE platform.job_runs;
DROP SCHEMA platform;
