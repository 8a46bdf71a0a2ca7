// Package groupclients holds integration tests (no library code) that run
// consumer groups of client families not written in Go against the real
// freshmart-broker binary: confluent-kafka (librdkafka) and kafka-python
// processes from testdata/, with kcat -L and the Python admin clients. The
// tests need python3 with python3-confluent-kafka and python3-kafka, and
// kcat; they fail with what to install when one is missing.
package groupclients
