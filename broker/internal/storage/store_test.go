package storage

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestMetadataSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncEveryAck)
	a, err := s.CreateTopic("alpha", 3, map[string]string{"retention.ms": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic("beta", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic("gone", 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePartitions("beta", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.AlterConfigs("alpha", map[string]*string{"segment.bytes": ptr("100000"), "retention.ms": nil}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AlterConfigs("beta", map[string]*string{"cleanup.policy": ptr("compact")}, false); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Partition("gone", 1)
	appendSync(t, p, plain(1, 10, 1))
	if err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(plain(1, 10, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to a deleted topic's partition: %v", err)
	}
	var lastPID int64
	for i := 0; i < 3; i++ {
		if lastPID, err = s.NextProducerID(); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Topics()
	s.Close()

	s2 := openStore(t, dir, SyncEveryAck)
	after := s2.Topics()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("topics after reopen:\n%+v\nwant\n%+v", after, before)
	}
	if len(after) != 2 || after[0].Name != "alpha" || after[1].Name != "beta" || after[1].Partitions != 4 {
		t.Fatalf("topics: %+v", after)
	}
	if got := after[0].Configs; !reflect.DeepEqual(got, map[string]string{"segment.bytes": "100000"}) {
		t.Fatalf("alpha configs %v", got)
	}
	if got := after[1].Config().CleanupPolicy; got != "compact" {
		t.Fatalf("beta cleanup.policy %q", got)
	}
	if info, ok := s2.TopicByID(a.ID); !ok || info.Name != "alpha" {
		t.Fatalf("TopicByID: %+v %v", info, ok)
	}
	if _, err := s2.Partition("gone", 0); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("deleted topic: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics", "gone-1")); !os.IsNotExist(err) {
		t.Fatalf("deleted topic's files remain: %v", err)
	}
	pid, err := s2.NextProducerID()
	if err != nil || pid <= lastPID {
		t.Fatalf("producer id after reopen %d (%v), last before %d", pid, err, lastPID)
	}
	// A recreated topic starts empty with a new id.
	g, err := s2.CreateTopic("gone", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := s2.Partition("gone", 1); p.HighWatermark() != 0 {
		t.Fatalf("recreated topic has data")
	}
	if _, ok := s2.TopicByID(g.ID); !ok {
		t.Fatal("recreated topic not found by id")
	}
}

func TestOrphanDirectoriesRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncNever)
	if _, err := s.CreateTopic("keep", 1, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// As left by a crash between creating directories and writing metadata.
	orphan := filepath.Join(dir, "topics", "half-0")
	if err := os.MkdirAll(orphan, 0o755); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir, SyncNever)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan directory remains: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics", "keep-0")); err != nil {
		t.Fatal(err)
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir, SyncNever)
	if s, err := Open(Options{Dir: dir, Logger: quietLogger()}); err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

func TestTopicAdminErrors(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncNever)
	if _, err := s.CreateTopic("x", 2, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		do   func() error
	}{
		{"exists", ErrTopicExists, func() error { _, err := s.CreateTopic("x", 1, nil); return err }},
		{"empty name", ErrInvalidTopicName, func() error { _, err := s.CreateTopic("", 1, nil); return err }},
		{"dot dot", ErrInvalidTopicName, func() error { _, err := s.CreateTopic("..", 1, nil); return err }},
		{"slash", ErrInvalidTopicName, func() error { _, err := s.CreateTopic("a/b", 1, nil); return err }},
		{"zero partitions", ErrInvalidPartitions, func() error { _, err := s.CreateTopic("y", 0, nil); return err }},
		{"unknown config", ErrInvalidConfig, func() error { _, err := s.CreateTopic("y", 1, map[string]string{"nope": "1"}); return err }},
		{"bad value", ErrInvalidConfig, func() error { _, err := s.CreateTopic("y", 1, map[string]string{"retention.ms": "soon"}); return err }},
		{"shrink", ErrInvalidPartitions, func() error { return s.CreatePartitions("x", 1) }},
		{"same count", ErrInvalidPartitions, func() error { return s.CreatePartitions("x", 2) }},
		{"partitions of unknown", ErrUnknownTopic, func() error { return s.CreatePartitions("nope", 3) }},
		{"delete unknown", ErrUnknownTopic, func() error { return s.DeleteTopic("nope") }},
		{"alter unknown", ErrUnknownTopic, func() error { return s.AlterConfigs("nope", nil, true) }},
		{"alter bad value", ErrInvalidConfig, func() error {
			return s.AlterConfigs("x", map[string]*string{"cleanup.policy": ptr("shred")}, true)
		}},
		{"unknown partition", ErrUnknownPartition, func() error { _, err := s.Partition("x", 2); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.do(), tt.err)
		})
	}
	if _, ok := s.Topic("y"); ok {
		t.Fatal("a failed create left a topic")
	}
}

func TestDescribeTopicConfig(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Sync: SyncNever, Logger: quietLogger(),
		Defaults: map[string]string{"retention.ms": "1000", "segment.bytes": "5000"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	info, err := s.CreateTopic("c", 1, map[string]string{"segment.bytes": "7000"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ConfigEntry{}
	for _, e := range DescribeTopicConfig(info) {
		got[e.Name] = e
	}
	tests := []struct {
		name, value string
		source      int8
		typ         string
	}{
		{"segment.bytes", "7000", SourceTopic, "INT"},
		{"retention.ms", "1000", SourceStaticBroker, "LONG"},
		{"retention.bytes", "-1", SourceDefaultConfig, "LONG"},
		{"cleanup.policy", "delete", SourceDefaultConfig, "LIST"},
		{"max.message.bytes", "1048588", SourceDefaultConfig, "INT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := got[tt.name]
			if !ok || e.Value != tt.value || e.Source != tt.source || e.Type != tt.typ || e.IsDefault != (tt.source != SourceTopic) {
				t.Fatalf("%+v", e)
			}
		})
	}
	cfg := info.Config()
	want := TopicConfig{RetentionMs: 1000, RetentionBytes: -1, SegmentBytes: 7000, SegmentMs: DefaultSegmentMs,
		MaxMessageBytes: DefaultMaxMessageBytes, CleanupPolicy: "delete", TimestampType: "CreateTime",
		DeleteRetentionMs: DefaultDeleteRetentionMs, MinCleanableDirtyRatio: DefaultMinCleanableDirtyRatio}
	if cfg != want {
		t.Fatalf("Config() = %+v, want %+v", cfg, want)
	}
	if _, err := Open(Options{Dir: t.TempDir(), Defaults: map[string]string{"retention.ms": "x"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad broker default: %v", err)
	}
}

func TestAlterConfigsTakesEffect(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncNever)
	p := mustPartition(t, s, "a", nil)
	if _, err := p.Append(plain(1, 500, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.AlterConfigs("a", map[string]*string{"max.message.bytes": ptr("200")}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(plain(1, 500, 1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("after lowering max.message.bytes: %v", err)
	}
	if err := s.AlterConfigs("a", map[string]*string{}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(plain(1, 500, 1)); err != nil {
		t.Fatalf("after reset: %v", err)
	}
}

func TestEnsureTopics(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncNever)
	if _, err := s.CreateTopic("b", 2, nil); err != nil {
		t.Fatal(err)
	}
	defs := []TopicDef{{Name: "a", Partitions: 3, Configs: map[string]string{"retention.ms": "-1"}}, {Name: "b", Partitions: 5}}
	created, err := s.EnsureTopics(defs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(created, []string{"a"}) {
		t.Fatalf("created %v", created)
	}
	if b, _ := s.Topic("b"); b.Partitions != 2 {
		t.Fatalf("existing topic changed: %+v", b)
	}
	if a, _ := s.Topic("a"); a.Partitions != 3 || a.Config().RetentionMs != -1 {
		t.Fatalf("a: %+v", a)
	}
	if created, err := s.EnsureTopics(defs); err != nil || len(created) != 0 {
		t.Fatalf("second ensure: %v %v", created, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Logger: quietLogger(), SyncInterval: time.Millisecond, Sync: SyncInterval})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPartition(t, s, "c", nil)
	if _, err := p.Append(plain(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(0, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := s.CreateTopic("d", 1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}
}
