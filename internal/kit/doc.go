// Package kit is the one way a FreshMart service is built: from a few Options and the
// environment `make run` passes, New builds everything a service shares with the others, so a
// service's main.go reads only its own flags and its app package wires only its domain.
//
//	kit.Main(kit.Options{Name: "inventory", Addr: "127.0.0.1:8082", Database: true, Producer: true},
//		func(ctx context.Context, s *kit.Service) error { _, err := app.New(s); return err })
//
// What New builds:
//
//   - the logger: one format for every process (LOG_FORMAT text or json, LOG_LEVEL), tagged
//     with the service's name;
//   - one Prometheus registry for everything on /metrics: Go and process collectors, the
//     shared libraries' metrics (freshmart_kafka_* from franz-go's kprom with label client=role,
//     freshmart_consumer_*, freshmart_events_skipped_total, freshmart_outbox_*,
//     freshmart_http_*) and the service's own;
//   - with Options.Database, the pgx pool with the platform migrations applied;
//   - with Options.Producer, the idempotent acks=all producer (events.Producer) whose source is
//     "freshmart/<name>";
//   - the HTTP router: /healthz (the process is up), /readyz (every named check, "broker",
//     "postgres", "consumer" and the service's own, each answered within CheckTimeout and each
//     shown in the answer), /metrics, request logging and metrics, panic recovery (500
//     problem+json), and a deadline on every request (RequestTimeout), so a frozen broker or
//     database turns into a 503 with Retry-After instead of a request that never ends.
//
// Service.Consumer and Service.Relay build the exactly-once consumer and the outbox relay
// (package stream) with everything the kit knows filled in; Service.Go adds background work.
// Run serves and runs all of it until the context ends (SIGTERM or SIGINT under Main), then
// stops gracefully: the HTTP server drains, background work returns, the producer and the pool
// close.
//
// The environment (every variable optional unless said):
//
//	KAFKA_BROKERS    comma-separated seed brokers                 127.0.0.1:9092
//	KAFKA_TLS        true: connect with TLS                       false
//	KAFKA_TLS_CA     PEM file of the CAs trusted for the brokers  the system roots
//	KAFKA_SASL_MECHANISM  PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512   none
//	KAFKA_SASL_USERNAME   SASL user (with a mechanism)
//	KAFKA_SASL_PASSWORD   SASL password (with a mechanism)
//	DATABASE_URL     Postgres connection string                   (required with Options.Database)
//	HTTP_ADDR        the service's listen address                 Options.Addr (pos 127.0.0.1:8081 ...)
//	LOG_LEVEL        debug | info | warn | error                  info
//	LOG_FORMAT       text | json                                  text
//	REQUEST_TIMEOUT  deadline of every HTTP request               Options.RequestTimeout (6s)
//	POS_URL          the POS API                                  http://127.0.0.1:8081
//	INVENTORY_URL    the inventory API                            http://127.0.0.1:8082
//	BROKER_HTTP_URL  the broker's health and metrics              http://127.0.0.1:9644
package kit
