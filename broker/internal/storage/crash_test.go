package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary act as the crashing writer of
// TestKill9KeepsAcknowledgedRecords.
func TestMain(m *testing.M) {
	if dir := os.Getenv("STORAGE_COMPACT_CRASH_DIR"); dir != "" {
		compactCrashWriter(dir, os.Getenv("STORAGE_COMPACT_CRASH_AT"))
		return
	}
	if dir := os.Getenv("STORAGE_CRASH_WRITER_DIR"); dir != "" {
		crashWriter(dir)
		return
	}
	os.Exit(m.Run())
}

// crashWriter appends from several goroutines to three partitions with
// small segments and prints "ack <partition> <base> <last> <seed>" once
// Sync has returned, until it is killed.
func crashWriter(dir string) {
	s, err := Open(Options{Dir: dir, Sync: SyncEveryAck, Logger: quietLogger()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, ok := s.Topic("crash"); !ok {
		if _, err := s.CreateTopic("crash", 3, map[string]string{"segment.bytes": "20000"}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	fmt.Println("ready")
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, _ := s.Partition("crash", int32(w%3))
			for i := 0; ; i++ {
				seed := byte(w*31 + i)
				res, err := p.Append(build(spec{n: 1 + i%5, size: 200, ts: time.Now().UnixMilli(), pid: -1, seq: -1, valSeed: seed}))
				if err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				if err := p.Sync(context.Background(), res.LastOffset); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d %d %d\n", w%3, res.BaseOffset, res.LastOffset, seed)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ack struct {
	base, last int64
	seed       byte
}

// TestKill9KeepsAcknowledgedRecords kills a writer process with SIGKILL
// while it appends, twice, and checks after each kill that every record
// whose Sync had returned is there, in order, once, and that the store
// accepts appends again.
func TestKill9KeepsAcknowledgedRecords(t *testing.T) {
	dir := t.TempDir()
	acks := map[int32][]ack{}
	for round := 0; round < 2; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "STORAGE_CRASH_WRITER_DIR="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) > 0 && f[0] == "error" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("writer: %s", sc.Text())
			}
			if len(f) != 5 || f[0] != "ack" {
				continue
			}
			p, _ := strconv.Atoi(f[1])
			base, _ := strconv.ParseInt(f[2], 10, 64)
			last, _ := strconv.ParseInt(f[3], 10, 64)
			seed, _ := strconv.Atoi(f[4])
			acks[int32(p)] = append(acks[int32(p)], ack{base, last, byte(seed)})
			if n++; n == 300 {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
		}
		cmd.Wait()
		if n < 300 {
			t.Fatalf("round %d: writer stopped after %d acknowledgements", round, n)
		}

		s, err := Open(Options{Dir: dir, Sync: SyncEveryAck, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		for pi := int32(0); pi < 3; pi++ {
			p, err := s.Partition("crash", pi)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int64][]byte{}
			for _, b := range readAll(t, p, 0, 1<<20) {
				got[int64(binaryBase(b))] = b
			}
			for _, a := range acks[pi] {
				b, ok := got[a.base]
				if !ok {
					t.Fatalf("round %d partition %d: acknowledged batch at %d lost (high watermark %d)", round, pi, a.base, p.HighWatermark())
				}
				h, _ := parseHeader(b)
				if a.base+int64(h.lastOffsetDelta) != a.last || b[len(b)-2] != a.seed+byte(h.lastOffsetDelta) {
					t.Fatalf("round %d partition %d: batch at %d differs from the acknowledged one", round, pi, a.base)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged batches intact", round, n)
	}
}

func binaryBase(b []byte) int64 {
	h, _ := parseHeader(b)
	return h.baseOffset
}
