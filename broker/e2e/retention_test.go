package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// segmentBases returns the base offsets of one partition's segment files (<base>.log) under
// the broker's data directory (the partition's directory is named <topic>-<partition>), lowest
// first.
func segmentBases(t *testing.T, dataDir, topic string, partition int) []int64 {
	t.Helper()
	want := topic + "-" + strconv.Itoa(partition)
	var bases []int64
	err := filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".log") && filepath.Base(filepath.Dir(path)) == want {
			b, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(path), ".log"), 10, 64)
			if err != nil {
				return fmt.Errorf("segment file %s: %w", path, err)
			}
			bases = append(bases, b)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dataDir, err)
	}
	slices.Sort(bases)
	return bases
}

// TestRetentionDeletesOldSegments fills two single-partition topics with
// tiny segments, one limited by retention.bytes and one by retention.ms,
// and waits for the broker's background retention to delete their old
// segments: the log start offset moves up, segment files go away, the high
// watermark stays, and what remains reads back intact from the new start.
func TestRetentionDeletesOldSegments(t *testing.T) {
	dir := t.TempDir()
	var extra []string
	// The broker checks retention every 30 s by default; a binary that
	// offers a flag for it gets a short interval, keeping the test quick.
	if help, _ := exec.Command(brokerBin, "-h").CombinedOutput(); strings.Contains(string(help), "-retention-check-interval") {
		extra = append(extra, "--retention-check-interval", "500ms")
	}
	b := startBroker(t, dir, extra...)
	str := func(s string) *string { return &s }
	topics := []struct {
		name    string
		configs map[string]*string
	}{
		{"retention-bytes", map[string]*string{"segment.bytes": str("4096"), "retention.bytes": str("16384"), "retention.ms": str("-1")}},
		{"retention-time", map[string]*string{"segment.bytes": str("4096"), "retention.ms": str("1000")}},
	}
	const n = 1000 // 100-byte values: about 25 segments of 4 KiB
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Retention runs in the background while the records go in, so how many segment files
	// there are afterwards says little; the files of the first segments are what must go.
	for _, tp := range topics {
		b.createTopic(tp.name, 1, tp.configs)
		prod := producer(b, tp.name)
		for seq := int64(0); seq < n; seq++ {
			// Single records per request keep segments small and many.
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(recordValue(seq))}).FirstErr(); err != nil {
				t.Fatalf("%s: produce %d: %v", tp.name, seq, err)
			}
		}
		if bases := segmentBases(t, dir, tp.name, 0); len(bases) == 0 || bases[len(bases)-1] < n/2 {
			t.Fatalf("%s: segment files at %v after producing %d records into 4 KiB segments, want the log rolled many times", tp.name, bases, n)
		}
	}

	adm := b.admin()
	for _, tp := range topics {
		t.Run(tp.name, func(t *testing.T) {
			deadline := time.Now().Add(2 * time.Minute)
			var start int64
			for {
				starts, err := adm.ListStartOffsets(ctx, tp.name)
				if err != nil {
					t.Fatalf("list start offsets: %v", err)
				}
				s, _ := starts.Lookup(tp.name, 0)
				if s.Err != nil {
					t.Fatalf("list start offsets: %v", s.Err)
				}
				if start = s.Offset; start > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("log start offset still 0 after 2 minutes: retention did not run")
				}
				time.Sleep(250 * time.Millisecond)
			}
			// A deleted segment's files are removed once no reader (a fetch, the log cleaner)
			// holds it any more, which may be a moment after the log start moved: the first
			// segment's (base 0) must go, and the active segment must stay.
			after := segmentBases(t, dir, tp.name, 0)
			for fileDeadline := time.Now().Add(30 * time.Second); (len(after) == 0 || after[0] == 0) && time.Now().Before(fileDeadline); {
				time.Sleep(100 * time.Millisecond)
				after = segmentBases(t, dir, tp.name, 0)
			}
			switch {
			case len(after) == 0:
				t.Errorf("no segment file left: the active segment must stay")
			case after[0] == 0:
				t.Errorf("the first segment's file is still there (segments at %v) with the log start at %d: none deleted", after, start)
			}
			ends, err := adm.ListEndOffsets(ctx, tp.name)
			if err != nil {
				t.Fatalf("list end offsets: %v", err)
			}
			if e, _ := ends.Lookup(tp.name, 0); e.Offset != n {
				t.Fatalf("high watermark %d after retention, want %d", e.Offset, n)
			}
			got := consumeAll(t, b, tp.name)
			// Time-based retention goes on deleting as segments age, so the log start may have
			// moved on while reading: the read starts at the log start of some moment between
			// the two listings, and runs without a gap to the end.
			starts, err := adm.ListStartOffsets(ctx, tp.name)
			if err != nil {
				t.Fatalf("list start offsets: %v", err)
			}
			later, _ := starts.Lookup(tp.name, 0)
			if len(got) == 0 || got[0].offset < start || got[0].offset > later.Offset {
				t.Fatalf("reading from the earliest offset: got %d records starting at %v, want them from the log start (%d, then %d)",
					len(got), firstOffset(got), start, later.Offset)
			}
			first := got[0].offset
			for i, r := range got {
				want := first + int64(i)
				if r.offset != want || r.value != recordValue(want) {
					t.Fatalf("record %d: offset %d value %.20q, want offset %d value %.20q", i, r.offset, r.value, want, recordValue(want))
				}
			}
			if int64(len(got)) != n-first {
				t.Fatalf("read %d records from %d to the end, want %d", len(got), first, n-first)
			}
			t.Logf("log start %d, segment files at %v", start, after)
		})
	}
	b.stop()
}

func firstOffset(rs []consumed) any {
	if len(rs) == 0 {
		return "none"
	}
	return rs[0].offset
}
