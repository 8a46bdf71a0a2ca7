// Package e2e holds the end-to-end smoke test of `make run`: it builds every binary, runs
// scripts/run.sh twice on a temporary data directory and on other ports than the documented
// ones (FRESHMART_DATA_DIR, FRESHMART_PORT_BASE, so it runs beside a developer's own `make run`),
// and checks that the broker, Postgres and every started service answer, that SIGINT (Ctrl-C)
// stops everything cleanly, and that the data in Postgres and in the broker survive a restart.
package e2e
