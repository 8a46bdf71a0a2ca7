package storage

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// ParseSyncMode parses "fsync" (also the empty string), "interval" or "none".
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
	// ProducerIDExpiration is how long an idempotent producer's state is
	// kept after its newest batch's timestamp while it has no open
	// transaction (Kafka's producer.id.expiration.ms); default 24h. Checked
	// with retention.
	ProducerIDExpiration time.Duration
	// Defaults are broker-wide topic config defaults overriding the built-in
	// ones (keys as in Kafka, e.g. "retention.ms").
	Defaults map[string]string
	// Logger receives recovery and retention messages; default slog.Default().
	Logger *slog.Logger
	// CompactionCheckInterval is how often the cleaner looks for compacted
	// partitions to clean; default DefaultCompactionCheckInterval (15s).
	CompactionCheckInterval time.Duration
	// CompactionBufferBytes bounds the key map of one compaction pass;
	// default DefaultCompactionBufferBytes (32 MiB).
	CompactionBufferBytes int64
	// Clock is the cleaner's time (delete horizons, min.compaction.lag.ms);
	// default time.Now. Tests use a controllable clock.
	Clock func() time.Time
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

// Store is a set of topics with their partitions' logs in one data
// directory. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger
	lock *os.File // flock on the data directory

	mu     sync.RWMutex
	topics map[string]*topic
	byID   map[[16]byte]*topic
	closed bool

	pidMu       sync.Mutex
	nextPID     int64
	pidBlockEnd int64

	// writeAt writes log data; tests replace it to simulate a full disk.
	writeAt func(f *os.File, b []byte, off int64) (int, error)
	// fsyncFile fsyncs a segment in a group-commit round; tests hook it.
	fsyncFile func(f *os.File) error

	fsyncs        atomic.Int64
	syncRounds    atomic.Int64
	retentionRuns atomic.Int64

	cleaner *cleaner // log compaction (compact.go)

	dirtyMu sync.Mutex
	dirty   []*Partition
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

type topic struct {
	info  TopicInfo
	parts []*Partition
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte          // random UUID, stable across restarts
	Partitions int32             // partition count
	Configs    map[string]string // configs set explicitly on the topic

	defaults map[string]string // the store's broker-wide defaults
}

// TopicConfig is a topic's resolved configuration.
type TopicConfig struct {
	RetentionMs     int64  // retention.ms, default 604800000 (7 days); -1 = forever
	RetentionBytes  int64  // retention.bytes per partition, default -1 (unlimited)
	SegmentBytes    int64  // segment.bytes, default 1073741824
	SegmentMs       int64  // segment.ms, default 604800000
	MaxMessageBytes int32  // max.message.bytes, default 1048588 (size of one produced batch)
	CleanupPolicy   string // cleanup.policy, default "delete"; "compact" (alone or as "compact,delete") is performed by the cleaner; without "delete" no time or size retention applies
	TimestampType   string // message.timestamp.type, default "CreateTime"; with "LogAppendTime" the store stamps batches

	DeleteRetentionMs      int64   // delete.retention.ms, default 86400000: how long a tombstone or transaction marker outlives the first cleaning that kept it
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio, default 0.5: the share of uncleaned bytes that starts a cleaning
	MinCompactionLagMs     int64   // min.compaction.lag.ms, default 0: segments with records younger than this are not cleaned
}

// ConfigEntry is one topic config as DescribeConfigs reports it.
type ConfigEntry struct {
	Name, Value string
	IsDefault   bool   // not set on the topic
	Source      int8   // kmsg.ConfigSource: SourceTopic, SourceStaticBroker or SourceDefaultConfig
	Type        string // kmsg.ConfigType name: LONG, INT, STRING, LIST, BOOLEAN, DOUBLE
}

// TopicDef defines a topic for EnsureTopics.
type TopicDef struct {
	Name       string            `json:"name"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// metadata is the JSON content of <dir>/meta.json.
type metadata struct {
	Version            int             `json:"version"`
	ProducerIDBlockEnd int64           `json:"producer_id_block_end"`
	Topics             []metadataTopic `json:"topics"`
}

type metadataTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

const (
	metaName        = "meta.json"
	producerIDBlock = 1000
	maxPartitions   = 10000
)

// Open opens (creating if needed) the store in opts.Dir and recovers every
// partition: the tail of each active segment is CRC-checked and a torn write
// truncated; producer state and indexes are restored. Only one Store may
// use a directory at a time (it is locked with flock).
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("storage: Options.Dir is empty")
	}
	if opts.Sync < SyncEveryAck || opts.Sync > SyncNever {
		return nil, fmt.Errorf("storage: invalid sync mode %d", opts.Sync)
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 100 * time.Millisecond
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = 30 * time.Second
	}
	if opts.ProducerIDExpiration <= 0 {
		opts.ProducerIDExpiration = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CompactionCheckInterval <= 0 {
		opts.CompactionCheckInterval = DefaultCompactionCheckInterval
	}
	if opts.CompactionBufferBytes <= 0 {
		opts.CompactionBufferBytes = DefaultCompactionBufferBytes
	}
	if err := validateConfigs(opts.Defaults); err != nil {
		return nil, fmt.Errorf("storage: broker defaults: %w", err)
	}
	opts.Defaults = maps.Clone(opts.Defaults)
	if err := os.MkdirAll(filepath.Join(opts.Dir, "topics"), 0o755); err != nil {
		return nil, fmt.Errorf("storage: create data dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: open lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("storage: data dir %s is in use by another process: %w", opts.Dir, err)
	}
	s := &Store{
		opts:    opts,
		log:     opts.Logger,
		lock:    lock,
		topics:  make(map[string]*topic),
		byID:    make(map[[16]byte]*topic),
		writeAt: func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) },
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.cleaner = newCleaner(s)
	s.fsyncFile = func(f *os.File) error {
		s.fsyncs.Add(1)
		return datasync(f)
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	s.wg.Add(2)
	go s.syncer()
	go s.retention()
	s.wg.Add(1)
	go s.runCleaner()
	return s, nil
}

// load reads meta.json and opens every partition.
func (s *Store) load() error {
	data, err := os.ReadFile(filepath.Join(s.opts.Dir, metaName))
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.persistLocked(); err != nil {
			return err
		}
		return s.removeOrphans()
	}
	if err != nil {
		return fmt.Errorf("storage: read metadata: %w", err)
	}
	var md metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return fmt.Errorf("storage: parse %s: %w", metaName, err)
	}
	s.pidBlockEnd = md.ProducerIDBlockEnd
	s.nextPID = md.ProducerIDBlockEnd
	for _, mt := range md.Topics {
		var id [16]byte
		raw, err := hex.DecodeString(mt.ID)
		if err != nil || len(raw) != 16 {
			return fmt.Errorf("storage: topic %q: bad id %q in metadata", mt.Name, mt.ID)
		}
		copy(id[:], raw)
		t := &topic{info: TopicInfo{Name: mt.Name, ID: id, Partitions: mt.Partitions, Configs: mt.Configs, defaults: s.opts.Defaults}}
		if t.info.Configs == nil {
			t.info.Configs = map[string]string{}
		}
		cfg := t.info.Config()
		for i := int32(0); i < mt.Partitions; i++ {
			p, err := openPartition(s, mt.Name, i, cfg)
			if err != nil {
				return fmt.Errorf("storage: %w", err)
			}
			t.parts = append(t.parts, p)
		}
		s.topics[mt.Name] = t
		s.byID[id] = t
	}
	return s.removeOrphans()
}

// removeOrphans deletes partition directories no topic owns: leftovers of a
// topic deletion or creation interrupted by a crash.
func (s *Store) removeOrphans() error {
	root := filepath.Join(s.opts.Dir, "topics")
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("storage: list topics: %w", err)
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if t, ok := s.topics[name[:i]]; ok {
				if n, err := strconv.Atoi(name[i+1:]); err == nil && n >= 0 && int32(n) < t.info.Partitions && strconv.Itoa(n) == name[i+1:] {
					continue
				}
			}
		}
		s.log.Warn("removing partition directory of no topic", "dir", name)
		if err := os.RemoveAll(filepath.Join(root, name)); err != nil {
			return fmt.Errorf("storage: remove orphan %s: %w", name, err)
		}
		removed = true
	}
	if removed {
		return fsyncDir(root)
	}
	return nil
}

// persistLocked writes meta.json crash-safely. The caller holds s.mu (or is
// the only user) and s.pidMu is not held.
func (s *Store) persistLocked() error {
	s.pidMu.Lock()
	md := metadata{Version: 1, ProducerIDBlockEnd: s.pidBlockEnd, Topics: []metadataTopic{}}
	s.pidMu.Unlock()
	for _, t := range s.topics {
		md.Topics = append(md.Topics, metadataTopic{Name: t.info.Name, ID: hex.EncodeToString(t.info.ID[:]), Partitions: t.info.Partitions, Configs: t.info.Configs})
	}
	sort.Slice(md.Topics, func(i, j int) bool { return md.Topics[i].Name < md.Topics[j].Name })
	data, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return fmt.Errorf("storage: encode metadata: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.opts.Dir, metaName), data); err != nil {
		return fmt.Errorf("storage: persist metadata: %w", err)
	}
	return nil
}

// Close fsyncs everything and closes all files; it is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait()
	return s.closeFiles()
}

func (s *Store) closeFiles() error {
	var err error
	for _, t := range s.topics {
		for _, p := range t.parts {
			err = errors.Join(err, p.close())
		}
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// syncer runs group-commit rounds: each round takes every partition written
// since the last one and fsyncs it (partitions in parallel), then releases
// the waiters of that round. In SyncInterval mode rounds run on a ticker.
func (s *Store) syncer() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opts.Sync == SyncInterval {
		t := time.NewTicker(s.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var spare []*Partition
	var jobs []syncJob
	var wg sync.WaitGroup
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		case <-tick:
		}
		s.dirtyMu.Lock()
		round := s.dirty
		s.dirty = spare[:0]
		s.dirtyMu.Unlock()
		jobs = jobs[:0]
		for _, p := range round {
			jobs = append(jobs, p.startSync())
		}
		if len(jobs) == 1 {
			jobs[0].flush()
		} else {
			for i := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					jobs[i].flush()
				}()
			}
			wg.Wait()
		}
		// Publish only once every partition of the round is durable, so a
		// fetch woken by the first sees the others' records as well.
		for i := range jobs {
			jobs[i].finish()
		}
		clear(jobs)
		clear(round)
		spare = round
	}
}

// StartSync starts a group-commit round for the partitions appended to
// since the last one (see Partition.AppendDeferred), or makes the running
// round's successor start as soon as it ends. It never blocks, and does
// nothing outside SyncEveryAck mode.
func (s *Store) StartSync() {
	if s.opts.Sync != SyncEveryAck {
		return // rounds run on the SyncInterval ticker, or never
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// retention deletes old segments every RetentionCheckInterval.
func (s *Store) retention() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			for _, p := range s.allPartitions() {
				p.applyRetention(now)
			}
			s.ExpireProducers(now)
			s.retentionRuns.Add(1)
		}
	}
}

func (s *Store) allPartitions() []*Partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ps []*Partition
	for _, t := range s.topics {
		ps = append(ps, t.parts...)
	}
	return ps
}

// ValidateTopicName checks a topic name as Kafka does: 1 to 249 characters
// from [a-zA-Z0-9._-], not "." or "..". Errors wrap ErrInvalidTopicName.
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: %q", ErrInvalidTopicName, name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has character %q", ErrInvalidTopicName, name, c)
		}
	}
	return nil
}

func (t *topic) snapshot() TopicInfo {
	info := t.info
	info.Configs = maps.Clone(t.info.Configs)
	return info
}

// CreateTopic creates a topic with the given partition count (1 to 10000)
// and explicit configs (validated: ErrInvalidConfig). The topic exists
// durably when it returns.
func (s *Store) CreateTopic(name string, partitions int32, configs map[string]string) (TopicInfo, error) {
	if err := ValidateTopicName(name); err != nil {
		return TopicInfo{}, err
	}
	if partitions < 1 || partitions > maxPartitions {
		return TopicInfo{}, fmt.Errorf("%w: %d (want 1 to %d)", ErrInvalidPartitions, partitions, maxPartitions)
	}
	if err := validateConfigs(configs); err != nil {
		return TopicInfo{}, fmt.Errorf("topic %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return TopicInfo{}, ErrClosed
	}
	if _, ok := s.topics[name]; ok {
		return TopicInfo{}, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	var id [16]byte
	for {
		if _, err := rand.Read(id[:]); err != nil {
			return TopicInfo{}, fmt.Errorf("topic id: %w", err)
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if _, dup := s.byID[id]; !dup {
			break
		}
	}
	t := &topic{info: TopicInfo{Name: name, ID: id, Partitions: partitions, Configs: maps.Clone(configs), defaults: s.opts.Defaults}}
	if t.info.Configs == nil {
		t.info.Configs = map[string]string{}
	}
	if err := s.addPartitions(t, partitions); err != nil {
		return TopicInfo{}, err
	}
	s.topics[name] = t
	s.byID[id] = t
	if err := s.persistLocked(); err != nil {
		delete(s.topics, name)
		delete(s.byID, id)
		for _, p := range t.parts {
			p.drop()
		}
		return TopicInfo{}, fmt.Errorf("topic %q: %w", name, err)
	}
	return t.snapshot(), nil
}

// addPartitions opens partitions len(t.parts)..n-1 from empty directories
// and fsyncs the topics directory.
func (s *Store) addPartitions(t *topic, n int32) error {
	cfg := t.info.Config()
	first := int32(len(t.parts))
	for i := first; i < n; i++ {
		dir := filepath.Join(s.opts.Dir, "topics", t.info.Name+"-"+strconv.Itoa(int(i)))
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("topic %q: clear partition dir: %w", t.info.Name, err)
		}
		p, err := openPartition(s, t.info.Name, i, cfg)
		if err != nil {
			for _, p := range t.parts[first:] {
				p.drop()
			}
			t.parts = t.parts[:first]
			return fmt.Errorf("topic %q: %w", t.info.Name, err)
		}
		t.parts = append(t.parts, p)
	}
	if err := fsyncDir(filepath.Join(s.opts.Dir, "topics")); err != nil {
		return fmt.Errorf("topic %q: %w", t.info.Name, err)
	}
	return nil
}

// DeleteTopic deletes a topic and its data. Partitions handed out before are
// closed: their methods return ErrClosed.
func (s *Store) DeleteTopic(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	t, ok := s.topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	delete(s.topics, name)
	delete(s.byID, t.info.ID)
	if err := s.persistLocked(); err != nil {
		s.topics[name] = t
		s.byID[t.info.ID] = t
		return fmt.Errorf("delete topic %q: %w", name, err)
	}
	var err error
	for _, p := range t.parts {
		err = errors.Join(err, p.drop())
	}
	if err != nil {
		// The metadata no longer lists the topic; leftovers go on the next open.
		s.log.Warn("cannot remove all files of a deleted topic", "topic", name, "error", err)
	}
	return nil
}

// CreatePartitions grows a topic to newTotal partitions
// (ErrInvalidPartitions unless newTotal is above the current count).
func (s *Store) CreatePartitions(name string, newTotal int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	t, ok := s.topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if newTotal <= t.info.Partitions || newTotal > maxPartitions {
		return fmt.Errorf("%w: topic %q has %d partitions, asked for %d", ErrInvalidPartitions, name, t.info.Partitions, newTotal)
	}
	old := t.info.Partitions
	if err := s.addPartitions(t, newTotal); err != nil {
		return err
	}
	t.info.Partitions = newTotal
	if err := s.persistLocked(); err != nil {
		for _, p := range t.parts[old:] {
			p.drop()
		}
		t.parts = t.parts[:old]
		t.info.Partitions = old
		return fmt.Errorf("create partitions of %q: %w", name, err)
	}
	return nil
}

// Topics returns all topics sorted by name.
func (s *Store) Topics() []TopicInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]TopicInfo, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, t.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Topic returns the named topic.
func (s *Store) Topic(name string) (TopicInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.topics[name]
	if !ok {
		return TopicInfo{}, false
	}
	return t.snapshot(), true
}

// TopicByID returns the topic with the given id.
func (s *Store) TopicByID(id [16]byte) (TopicInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.byID[id]
	if !ok {
		return TopicInfo{}, false
	}
	return t.snapshot(), true
}

// AlterConfigs changes a topic's explicit configs. Incremental: each
// non-nil value sets a config, each nil value deletes it (resets it to its
// default). Non-incremental: the non-nil values replace the whole set.
// Names and values are validated first (ErrInvalidConfig); on error nothing
// changes. The change is persisted before it returns and applies to later
// appends and retention runs.
func (s *Store) AlterConfigs(name string, configs map[string]*string, incremental bool) error {
	for k, v := range configs {
		if v == nil {
			if _, ok := specByName[k]; !ok {
				return fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, k)
			}
			continue
		}
		if err := ValidateConfig(k, *v); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	t, ok := s.topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	next := map[string]string{}
	if incremental {
		next = maps.Clone(t.info.Configs)
	}
	for k, v := range configs {
		if v == nil {
			delete(next, k)
		} else {
			next[k] = *v
		}
	}
	old := t.info.Configs
	t.info.Configs = next
	if err := s.persistLocked(); err != nil {
		t.info.Configs = old
		return fmt.Errorf("alter configs of %q: %w", name, err)
	}
	cfg := t.info.Config()
	for _, p := range t.parts {
		c := cfg
		p.cfg.Store(&c)
	}
	return nil
}

// Partition returns one partition of a topic (ErrUnknownTopic,
// ErrUnknownPartition).
func (s *Store) Partition(topic string, p int32) (*Partition, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	t, ok := s.topics[topic]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	if p < 0 || int(p) >= len(t.parts) {
		return nil, fmt.Errorf("%w: %q has no partition %d", ErrUnknownPartition, topic, p)
	}
	return t.parts[p], nil
}

// NextProducerID returns a producer id unique across restarts. Ids are
// reserved in persisted blocks of 1000, so a restart skips the rest of a
// block.
func (s *Store) NextProducerID() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.pidMu.Lock()
	if s.nextPID >= s.pidBlockEnd {
		s.pidBlockEnd = s.nextPID + producerIDBlock
		s.pidMu.Unlock()
		if err := s.persistLocked(); err != nil {
			s.pidMu.Lock()
			s.pidBlockEnd = s.nextPID
			s.pidMu.Unlock()
			return 0, fmt.Errorf("reserve producer ids: %w", err)
		}
		s.pidMu.Lock()
	}
	id := s.nextPID
	s.nextPID++
	s.pidMu.Unlock()
	return id, nil
}

// Stats are counters for metrics.
type Stats struct {
	Fsyncs     int64 // segment fsyncs done by group-commit rounds
	SyncRounds int64 // partition sync rounds (one round can cover many appends)
}

// Stats returns the store's counters since Open.
func (s *Store) Stats() Stats {
	return Stats{Fsyncs: s.fsyncs.Load(), SyncRounds: s.syncRounds.Load()}
}

// DataDirUsage returns the bytes the partitions' logs and indexes use on
// disk (computed from the store's bookkeeping, without touching the disk).
func (s *Store) DataDirUsage() (used int64) {
	for _, p := range s.allPartitions() {
		used += p.size()
	}
	return used
}

// EnsureTopics creates the topics of defs that do not exist yet and returns
// the names it created. Existing topics are left as they are.
func (s *Store) EnsureTopics(defs []TopicDef) ([]string, error) {
	var created []string
	for _, d := range defs {
		if _, ok := s.Topic(d.Name); ok {
			continue
		}
		if _, err := s.CreateTopic(d.Name, d.Partitions, d.Configs); err != nil {
			if errors.Is(err, ErrTopicExists) {
				continue
			}
			return created, fmt.Errorf("ensure topic %q: %w", d.Name, err)
		}
		created = append(created, d.Name)
	}
	return created, nil
}
