// Package run is the process supervisor behind `make run`: it starts a local Postgres cluster
// (unless DATABASE_URL is set), the bundled broker (unless KAFKA_BROKERS is set), applies the
// migrations, then every built service as its own process with its name before each log line;
// it restarts a process that exits, with backoff, and on shutdown stops everything in reverse
// order (SIGTERM, then SIGKILL after a timeout, Postgres last with pg_ctl stop).
//
// Everything it needs is read from the environment by ConfigFromEnv; the defaults are the
// documented ports and the .data directory of the repository, so a second run reuses the same
// data. FRESHMART_DATA_DIR and FRESHMART_PORT_BASE move a whole platform elsewhere, which the
// end-to-end test uses to run beside a developer's own `make run`.
package run
