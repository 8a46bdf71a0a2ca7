package group

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sampleRecords() []record {
	return []record{
		{kind: kindOffset, group: "g1", offset: offsetRecord{Topic: "pos-sales", Partition: 3, Offset: 42, LeaderEpoch: 0, Metadata: "m", CommitMillis: 1700000000000}},
		{kind: kindOffsetDelete, group: "g1", offset: offsetRecord{Topic: "pos-sales", Partition: 4}},
		{kind: kindGroup, group: "g2", meta: groupRecord{
			ProtocolType: "consumer", Protocol: "cooperative-sticky", Leader: "a", Generation: 7,
			State: "Stable", StateMillis: 1700000000001,
			Members: []memberRecord{
				{ID: "a", ClientID: "c", ClientHost: "/127.0.0.1", SessionTimeoutMs: 45000, RebalanceTimeoutMs: 60000, ProtocolMetadata: []byte{1, 2}, Assignment: []byte{3}},
				{ID: "b", InstanceID: "i-b", SessionTimeoutMs: 10000, RebalanceTimeoutMs: 10000},
			},
		}},
		{kind: kindGroupDelete, group: "g3"},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		t.Run(string('0'+r.kind), func(t *testing.T) {
			b := appendFrame(nil, &r)
			got, n, err := readFrame(b)
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			if n != len(b) {
				t.Fatalf("consumed %d of %d bytes", n, len(b))
			}
			if !reflect.DeepEqual(normalize(got), normalize(r)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
			}
		})
	}
}

// normalize maps empty byte slices to nil so DeepEqual compares content.
func normalize(r record) record {
	ms := make([]memberRecord, len(r.meta.Members))
	for i, m := range r.meta.Members {
		if len(m.ProtocolMetadata) == 0 {
			m.ProtocolMetadata = nil
		}
		if len(m.Assignment) == 0 {
			m.Assignment = nil
		}
		ms[i] = m
	}
	r.meta.Members = ms
	return r
}

func TestReadFrameRejectsDamage(t *testing.T) {
	good := appendFrame(nil, &sampleRecords()[0])
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:5]},
		{"short payload", good[:len(good)-1]},
		{"zero length", append([]byte{0, 0, 0, 0}, good[4:]...)},
		{"huge length", append([]byte{0x7f, 0xff, 0xff, 0xff}, good[4:]...)},
		{"bad crc", func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 0xff; return b }()},
		{"unknown kind", appendRaw([]byte{99, 0})},
		{"trailing bytes", appendRaw(append(appendPayload(nil, &sampleRecords()[3]), 0))},
		{"truncated field", appendRaw([]byte{kindOffset, 5, 'a'})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := readFrame(tt.b); !errors.Is(err, errCorrupt) {
				t.Fatalf("readFrame = %v, want errCorrupt", err)
			}
		})
	}
}

// appendRaw frames an arbitrary payload with a correct CRC.
func appendRaw(payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b = append(b, payload...)
	putFrameHeader(b)
	return b
}

func FuzzReadFrame(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(appendFrame(nil, &r))
	}
	f.Add([]byte{})
	f.Add(appendRaw([]byte{kindGroup, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := readFrame(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		// A decoded record decodes the same after encoding it again.
		again, _, err := readFrame(appendFrame(nil, &r))
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(r)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, again, r)
		}
	})
}

func TestStoreRecovery(t *testing.T) {
	commit := func(group, topic string, p int32, off int64) record {
		return record{kind: kindOffset, group: group, offset: offsetRecord{Topic: topic, Partition: p, Offset: off, LeaderEpoch: -1}}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, logPath string) // applied to the log after the writes
		want   map[string]map[tp]int64
	}{
		{
			name:   "clean",
			damage: func(*testing.T, string) {},
			want:   map[string]map[tp]int64{"a": {{"t", 0}: 2, {"t", 1}: 5}, "b": {{"t", 0}: 9}},
		},
		{
			name: "torn tail",
			damage: func(t *testing.T, p string) {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, fi.Size()-3); err != nil {
					t.Fatal(err)
				}
			},
			// The last append (b/t/0 = 9) is torn away.
			want: map[string]map[tp]int64{"a": {{"t", 0}: 2, {"t", 1}: 5}},
		},
		{
			name: "garbage appended",
			damage: func(t *testing.T, p string) {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.Write([]byte{0, 0, 0, 9, 1, 2, 3, 4, 5}); err != nil {
					t.Fatal(err)
				}
			},
			want: map[string]map[tp]int64{"a": {{"t", 0}: 2, {"t", 1}: 5}, "b": {{"t", 0}: 9}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openStore(dir, false, quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			// Snapshot part: written, then compacted.
			mustAppend(t, s, commit("a", "t", 0, 1), commit("gone", "t", 0, 1))
			if err := s.compact(); err != nil {
				t.Fatal(err)
			}
			// Log part.
			mustAppend(t, s, commit("a", "t", 0, 2))
			mustAppend(t, s, commit("a", "t", 1, 5), record{kind: kindGroupDelete, group: "gone"})
			mustAppend(t, s, commit("b", "t", 0, 9))
			// Simulate a crash: no close, damage the log.
			s.f.Close()
			tt.damage(t, filepath.Join(dir, logName))

			s2, err := openStore(dir, false, quietLogger())
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { s2.close() })
			if got := offsetsOf(s2.snapshotState()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("state after recovery = %v, want %v", got, tt.want)
			}
			if size := s2.logSize(); size != 0 {
				t.Fatalf("log not compacted on open: %d bytes", size)
			}
			// Still writable, and a clean reopen keeps everything.
			mustAppend(t, s2, commit("c", "t", 0, 1))
			if err := s2.close(); err != nil {
				t.Fatal(err)
			}
			s3, err := openStore(dir, false, quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			defer s3.close()
			if got := offsetsOf(s3.snapshotState())["c"][tp{"t", 0}]; got != 1 {
				t.Fatalf("offset after clean reopen = %d, want 1", got)
			}
		})
	}
}

func TestStoreCorruptSnapshotIsAnError(t *testing.T) {
	dir := t.TempDir()
	s, err := openStore(dir, true, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, record{kind: kindOffset, group: "a", offset: offsetRecord{Topic: "t", Offset: 1}})
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, snapshotName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(dir, true, quietLogger()); !errors.Is(err, errCorrupt) {
		t.Fatalf("open with corrupt snapshot = %v, want errCorrupt", err)
	}
}

func TestStoreReplayOverSnapshotIsHarmless(t *testing.T) {
	// A crash after the snapshot rename but before the log is emptied
	// replays the log over a snapshot that already holds it.
	dir := t.TempDir()
	s, err := openStore(dir, true, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	recs := []record{
		{kind: kindOffset, group: "a", offset: offsetRecord{Topic: "t", Partition: 0, Offset: 1}},
		{kind: kindGroupDelete, group: "a"},
		{kind: kindOffset, group: "a", offset: offsetRecord{Topic: "t", Partition: 1, Offset: 7}},
		{kind: kindOffset, group: "b", offset: offsetRecord{Topic: "t", Partition: 0, Offset: 3}},
		{kind: kindOffsetDelete, group: "b", offset: offsetRecord{Topic: "t", Partition: 0}},
	}
	mustAppend(t, s, recs...)
	logBytes, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, logName), logBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	s2, err := openStore(dir, true, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	want := map[string]map[tp]int64{"a": {{"t", 1}: 7}}
	if got := offsetsOf(s2.snapshotState()); !reflect.DeepEqual(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

func mustAppend(t *testing.T, s *store, recs ...record) {
	t.Helper()
	seq, err := s.append(recs...)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := s.sync(seq); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func offsetsOf(state map[string]*durableGroup) map[string]map[tp]int64 {
	out := make(map[string]map[tp]int64)
	for g, dg := range state {
		if len(dg.offsets) == 0 {
			continue
		}
		out[g] = make(map[tp]int64)
		for k, o := range dg.offsets {
			out[g][k] = o.Offset
		}
	}
	return out
}

func FuzzDecodePayload(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(appendPayload(nil, &r))
	}
	f.Add([]byte{kindGroup})
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodePayload(p)
		if err != nil {
			return
		}
		// Whatever decodes must survive an encode/decode round trip.
		again, err := decodePayload(appendPayload(nil, &r))
		if err != nil {
			t.Fatalf("re-decoding an encoded record: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(r)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", again, r)
		}
	})
}
