// Package storage is the broker's log storage: topics, their partitions'
// segment files, indexes, retention and crash recovery.
package storage
