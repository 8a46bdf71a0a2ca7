// Package e2e holds the end-to-end tests of the POS and inventory services (issue 4): the real
// pos and inventory binaries as child processes, the FreshMart broker over TCP (brokertest) and
// a real Postgres (pgtest). It has no non-test code.
//
// Set FRESHMART_TEST_BROKER=kfake to run them against franz-go's kfake instead, a development
// aid only.
package e2e
