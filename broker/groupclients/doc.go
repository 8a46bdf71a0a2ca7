// Package groupclients holds integration tests (no library code) that run
// consumer groups of client families not written in Go against the real
// freshmart-broker binary: confluent-kafka (librdkafka) and kafka-python
// processes (testdata/consumer.py, testdata/admin.py) and kafkajs
// (testdata/kafkajs, installed with npm ci from its lock file into a scratch
// directory), plus kcat -L and the broker's /metrics. The tests need kcat,
// python3 with python3-confluent-kafka and python3-kafka, node and npm; they
// fail with what to install when one is missing.
package groupclients
