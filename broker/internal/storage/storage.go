package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SyncMode says when appended data is made durable.
type SyncMode int

const (
	// SyncEveryAck ("fsync", the default): an acks=all append is durable (its
	// segment fsynced, and its directory fsynced if the file is new) before
	// Sync returns; one fsync covers every append that arrived meanwhile
	// (group commit). Consumers see a record only once it is durable.
	SyncEveryAck SyncMode = iota
	// SyncInterval ("interval"): files are fsynced every Options.SyncInterval;
	// Sync returns once the data is in the page cache. A power cut loses at
	// most the last interval of acknowledged records.
	SyncInterval
	// SyncNever ("none"): the operating system decides when to write back.
	// A power cut may lose any acknowledged record not yet written back; for
	// tests and benchmarks.
	SyncNever
)

// String returns the name ParseSyncMode accepts.
func (m SyncMode) String() string {
	switch m {
	case SyncEveryAck:
		return "fsync"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses "fsync", "interval" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "fsync", "":
		return SyncEveryAck, nil
	case "interval":
		return SyncInterval, nil
	case "none":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("storage: unknown sync mode %q (want fsync, interval or none)", s)
}

// Options configures Open.
type Options struct {
	// Dir is the data directory; created if missing. Required.
	Dir string
	// Sync is the durability mode; default SyncEveryAck.
	Sync SyncMode
	// SyncInterval is the fsync period in SyncInterval mode; default 100ms.
	SyncInterval time.Duration
	// RetentionCheckInterval is how often retention runs; default 30s.
	RetentionCheckInterval time.Duration
	// Defaults are broker-wide topic config defaults overriding the built-in
	// ones (keys as in Kafka, e.g. "retention.ms").
	Defaults map[string]string
	// Logger receives recovery and retention messages; default slog.Default().
	Logger *slog.Logger
}

// Errors returned by the store. Wrapped errors can be matched with errors.Is.
var (
	// ErrTopicExists: CreateTopic of a name that exists.
	ErrTopicExists = errors.New("topic already exists")
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrUnknownPartition: the partition index is out of range.
	ErrUnknownPartition = errors.New("unknown partition")
	// ErrInvalidConfig: an unknown config name or an invalid value.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrInvalidPartitions: a partition count below 1 or not above the current one.
	ErrInvalidPartitions = errors.New("invalid partition count")
	// ErrInvalidTopicName: an empty, too long, "." or ".." name, or one with
	// characters outside [a-zA-Z0-9._-].
	ErrInvalidTopicName = errors.New("invalid topic name")
	// ErrCorruptBatch: a record batch with a bad magic, length or CRC.
	ErrCorruptBatch = errors.New("corrupt record batch")
	// ErrMessageTooLarge: a batch larger than the topic's max.message.bytes.
	ErrMessageTooLarge = errors.New("record batch too large")
	// ErrOffsetOutOfRange: a read below the log start or above the high watermark.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrOutOfOrderSequence: an idempotent producer's sequence has a gap.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent producer's epoch is older than the known one.
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrUnknownProducerID: a producer id the partition has no state for,
	// sending a sequence other than 0.
	ErrUnknownProducerID = errors.New("unknown producer id")
	// ErrDiskFull: the disk is full (ENOSPC, EDQUOT); the append is rolled
	// back completely and the store stays usable.
	ErrDiskFull = errors.New("disk full")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
)

var errNotImplemented = errors.New("storage: not implemented yet")

// Store is a set of topics with their partitions' logs in one data directory.
// It is safe for concurrent use.
type Store struct{}

// Open opens (creating if needed) the store in opts.Dir and recovers every
// partition: the tail of each active segment is CRC-checked and a torn write
// truncated.
func Open(opts Options) (*Store, error) { return &Store{}, nil }

// Close fsyncs everything and closes all files; it is idempotent.
func (s *Store) Close() error { return nil }

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte          // random UUID, stable across restarts
	Partitions int32             // partition count
	Configs    map[string]string // configs set explicitly on the topic
}

// TopicConfig is a topic's resolved configuration.
type TopicConfig struct {
	RetentionMs     int64  // retention.ms, default 604800000 (7 days); -1 = forever
	RetentionBytes  int64  // retention.bytes per partition, default -1 (unlimited)
	SegmentBytes    int64  // segment.bytes, default 1073741824
	SegmentMs       int64  // segment.ms, default 604800000
	MaxMessageBytes int32  // max.message.bytes, default 1048588 (size of one produced batch)
	CleanupPolicy   string // cleanup.policy, default "delete"; "compact" is stored but not performed
	TimestampType   string // message.timestamp.type, default "CreateTime"; "LogAppendTime" stamps batches
}

// Config returns the resolved configuration: explicit values, else the
// built-in defaults. Broker-wide defaults are applied by Store.TopicConfig.
func (t TopicInfo) Config() TopicConfig { return TopicConfig{} }

// ConfigEntry is one config as DescribeConfigs reports it.
type ConfigEntry struct {
	Name, Value string
	IsDefault   bool
	Source      int8 // kmsg config source: 1 topic, 5 default broker, ...
	Type        string
}

// DescribeTopicConfig lists every known topic config with its value and source.
func DescribeTopicConfig(t TopicInfo) []ConfigEntry { return nil }

// CreateTopic creates a topic with the given partition count and explicit configs.
func (s *Store) CreateTopic(name string, partitions int32, configs map[string]string) (TopicInfo, error) {
	return TopicInfo{}, errNotImplemented
}

// DeleteTopic deletes a topic and its data.
func (s *Store) DeleteTopic(name string) error { return errNotImplemented }

// CreatePartitions grows a topic to newTotal partitions.
func (s *Store) CreatePartitions(name string, newTotal int32) error { return errNotImplemented }

// Topics returns all topics sorted by name.
func (s *Store) Topics() []TopicInfo { return nil }

// Topic returns the named topic.
func (s *Store) Topic(name string) (TopicInfo, bool) { return TopicInfo{}, false }

// TopicByID returns the topic with the given id.
func (s *Store) TopicByID(id [16]byte) (TopicInfo, bool) { return TopicInfo{}, false }

// AlterConfigs changes a topic's explicit configs. A nil value deletes the
// config (resets it to its default); non-incremental replaces the whole set.
// Names and values are validated (ErrInvalidConfig).
func (s *Store) AlterConfigs(name string, configs map[string]*string, incremental bool) error {
	return errNotImplemented
}

// Partition returns one partition of a topic.
func (s *Store) Partition(topic string, p int32) (*Partition, error) { return nil, errNotImplemented }

// NextProducerID returns a producer id unique across restarts.
func (s *Store) NextProducerID() (int64, error) { return 0, errNotImplemented }

// DataDirUsage returns the bytes used on disk by the data directory.
func (s *Store) DataDirUsage() (used int64) { return 0 }

// Partition is one partition's log.
type Partition struct{}

// AppendResult reports where an append landed.
type AppendResult struct {
	BaseOffset, LastOffset int64 // offsets assigned to the first and last record
	LogAppendTime          int64 // -1 unless message.timestamp.type=LogAppendTime
	LogStartOffset         int64
	Duplicate              bool // an idempotent retry: nothing appended, offsets are the original ones
}

// Append validates and appends one or more concatenated record batches
// atomically.
func (p *Partition) Append(batches []byte) (AppendResult, error) { return AppendResult{}, errNotImplemented }

// Sync waits until offset last is durable per the SyncMode.
func (p *Partition) Sync(ctx context.Context, last int64) error { return errNotImplemented }

// ReadResult is what Read returns.
type ReadResult struct {
	HighWatermark, LogStartOffset int64
	// Data holds whole record batches starting at the batch containing the
	// offset; empty at the end of the log.
	Data []byte
}

// Read returns batches from offset, at most maxBytes (but at least one whole
// batch if any).
func (p *Partition) Read(offset int64, maxBytes int32) (ReadResult, error) {
	return ReadResult{}, errNotImplemented
}

// HighWatermark returns the offset after the last record consumers may see.
func (p *Partition) HighWatermark() int64 { return 0 }

// LogStartOffset returns the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return 0 }

// Wait returns a channel closed the next time the high watermark moves.
func (p *Partition) Wait() <-chan struct{} { return make(chan struct{}) }

// OffsetForTime returns the first offset with timestamp >= ts, or (-1, -1).
func (p *Partition) OffsetForTime(ts int64) (offset, timestamp int64) { return -1, -1 }

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp, or (-1, -1) if the log is empty.
func (p *Partition) MaxTimestamp() (offset, timestamp int64) { return -1, -1 }

// DeleteRecords advances the log start offset to before (-1 = the high
// watermark) and returns the new log start offset.
func (p *Partition) DeleteRecords(before int64) (logStart int64, err error) {
	return 0, errNotImplemented
}
