// Command bench compares freshmart-broker with franz-go's kfake, each run as
// a separate process on loopback, under the same franz-go client load, and
// prints the figures side by side as a Markdown table.
//
// For each broker it measures, on topics with 6 partitions and acks=all
// through the idempotent franz-go producer with its default 10 ms linger:
//
//   - produce and consume throughput (records/s and MB/s of values) with
//     100-byte and 1 KiB records;
//   - transactional produce: 100-byte records in transactions of
//     -txn-records (default 1,000) records, each committed, through a
//     transactional franz-go producer (records/s, MB/s, commits/s and CPU);
//   - end-to-end latency (Produce call to arrival at a tailing consumer),
//     p50 and p99, at a fixed 5,000 records/s of 100-byte records;
//   - the broker's CPU time per record in each run (utime+stime from
//     /proc/<pid>/stat) and its peak RSS (VmHWM from /proc/<pid>/status).
//
// freshmart-broker runs at its default durability (fsync: every acks=all
// produce is fsynced before it is answered); kfake runs with DataDir and
// SyncWrites (kfakeserver in this directory). Runs alternate between the
// brokers so that a change in the machine's load hits both alike; with
// -rounds N each figure is the median of N rounds.
//
// Usage (scripts/bench-broker.sh builds the binaries and runs this):
//
//	bench -broker-bin bin/freshmart-broker -kfake-bin bin/kfakeserver [-readme broker/README.md]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config holds the command-line settings.
type config struct {
	brokerBin   string
	kfakeBin    string
	work        string
	rounds      int
	produceTime time.Duration
	maxRecords  int64
	rate        int
	latencyTime time.Duration
	readme      string
	groups      string
	out         string
	txnRecords  int
}

func main() {
	var c config
	flag.StringVar(&c.brokerBin, "broker-bin", "", "freshmart-broker binary (empty: measure kfake only)")
	flag.StringVar(&c.kfakeBin, "kfake-bin", "", "kfakeserver binary (empty: measure freshmart-broker only)")
	flag.StringVar(&c.work, "work", "", "directory for data dirs and logs (default: a new temporary directory, removed afterwards)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds per figure; each figure is the median over the rounds")
	flag.DurationVar(&c.produceTime, "produce-time", 5*time.Second, "how long each throughput run produces")
	flag.Int64Var(&c.maxRecords, "max-records", 3_000_000, "most records one throughput run produces")
	flag.IntVar(&c.rate, "rate", 5000, "records/s of the latency run")
	flag.DurationVar(&c.latencyTime, "latency-time", 10*time.Second, "how long the latency run produces")
	flag.StringVar(&c.readme, "readme", "", `Markdown file whose "## Benchmark" section is replaced by the table`)
	flag.StringVar(&c.groups, "groups", "", "output of the consumer group benchmark (broker/bench/groups) to put under the table in -readme")
	flag.StringVar(&c.out, "out", "", "also write the table to this file")
	flag.IntVar(&c.txnRecords, "txn-records", 1000, "records per transaction of the transactional produce run")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.brokerBin == "" && c.kfakeBin == "" {
		return errors.New("give -broker-bin, -kfake-bin or both")
	}
	if c.txnRecords < 1 {
		return errors.New("-txn-records must be positive")
	}
	if c.rounds < 1 || c.rate < 1 || c.produceTime <= 0 || c.latencyTime < time.Second || c.maxRecords < 1 {
		return errors.New("-rounds, -rate and -max-records must be positive, -produce-time > 0, -latency-time >= 1s")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work := c.work
	if work == "" {
		dir, err := os.MkdirTemp("", "broker-bench-")
		if err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		defer os.RemoveAll(dir)
		work = dir
	}

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	if c.brokerBin != "" {
		t, err := startTarget(ctx, "freshmart-broker", work, c.brokerBin, []string{
			"--listen", "127.0.0.1:{port}", "--http", "127.0.0.1:{http}",
			"--data-dir", "{dir}", "--durability", "fsync", "--log-level", "warn",
			"--compaction-check-interval", "1s",
		})
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if c.kfakeBin != "" {
		t, err := startTarget(ctx, "kfake", work, c.kfakeBin, []string{
			"-listen", "127.0.0.1:{port}", "-data-dir", "{dir}", "-sync",
		})
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}

	res := newResults(targets)
	sizes := []struct {
		label string
		bytes int
	}{{"100 B", 100}, {"1 KiB", 1024}}
	for round := 0; round < c.rounds; round++ {
		// Alternate who goes first so neither always meets a warmer or
		// colder machine.
		order := rotate(targets, round)
		for _, sz := range sizes {
			topic := fmt.Sprintf("bench-%d-r%d", sz.bytes, round)
			for _, t := range order {
				if err := t.createTopic(ctx, topic, 6); err != nil {
					return err
				}
				logf("round %d: %s: produce %s records for %v", round+1, t.name, sz.label, c.produceTime)
				p, err := produce(ctx, t, topic, sz.bytes, c.maxRecords, c.produceTime)
				if err != nil {
					return err
				}
				res.addThroughput(t, "produce "+sz.label, p)
				logf("round %d: %s: consume %d %s records", round+1, t.name, p.records+1, sz.label)
				// +1: the warm-up record.
				cs, err := consume(ctx, t, topic, p.records+1)
				if err != nil {
					return err
				}
				res.addThroughput(t, "consume "+sz.label, cs)
			}
		}
		if err := compactionRound(ctx, res, order, round, c.produceTime, c.maxRecords); err != nil {
			return err
		}
		txnTopic := fmt.Sprintf("bench-txn-r%d", round)
		for _, t := range order {
			if err := t.createTopic(ctx, txnTopic, 6); err != nil {
				return err
			}
			logf("round %d: %s: transactional produce of 100 B records, %d per transaction, for %v", round+1, t.name, c.txnRecords, c.produceTime)
			p, commits, err := produceTxn(ctx, t, txnTopic, 100, c.txnRecords, c.maxRecords, c.produceTime)
			if err != nil {
				return err
			}
			phase := fmt.Sprintf("transactional produce 100 B (%s per txn)", thousands(int64(c.txnRecords)))
			res.addThroughput(t, phase, p)
			res.add(t, phase+", commits/s", unitRate, float64(commits)/p.elapsed.Seconds())
		}
		topic := fmt.Sprintf("bench-latency-r%d", round)
		for _, t := range order {
			if err := t.createTopic(ctx, topic, 6); err != nil {
				return err
			}
			logf("round %d: %s: latency at %d records/s for %v", round+1, t.name, c.rate, c.latencyTime)
			l, err := latency(ctx, t, topic, 100, c.rate, c.latencyTime)
			if err != nil {
				return err
			}
			if l.missing > 0 {
				return fmt.Errorf("%s: latency run: %d of %d acknowledged records never reached the consumer", t.name, l.missing, l.sent)
			}
			res.addLatency(t, l)
		}
	}
	for _, t := range targets {
		rss, err := t.peakRSS()
		if err != nil {
			return err
		}
		res.set(t, rowRSS, unitBytes, float64(rss))
	}
	// The data each broker holds by now, which its RSS should not follow.
	for _, t := range targets {
		size, err := dirSize(t.dataDir)
		if err != nil {
			return err
		}
		res.set(t, rowDisk, unitDisk, float64(size))
	}

	table := res.table(c)
	fmt.Println(table)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(table+"\n"), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", c.out, err)
		}
	}
	if c.readme != "" {
		section := "Output of `make bench-broker` (scripts/bench-broker.sh). The 2-core machine it ran on is shared with other\n" +
			"work, so figures move between runs (up to 2× for throughput): compare the columns of one run, not runs.\n\n" + table
		if c.groups != "" {
			g, err := os.ReadFile(c.groups)
			if err != nil {
				return fmt.Errorf("groups table: %w", err)
			}
			section += "\nConsumer groups (broker/bench/groups):\n\n```\n" + strings.TrimSpace(string(g)) + "\n```\n"
		}
		if err := replaceSection(c.readme, "Benchmark", section); err != nil {
			return err
		}
		logf("wrote the table into the Benchmark section of %s", filepath.Clean(c.readme))
	}
	return nil
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}

func rotate(ts []*target, n int) []*target {
	if len(ts) == 0 {
		return nil
	}
	n %= len(ts)
	return append(append([]*target{}, ts[n:]...), ts[:n]...)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// replaceSection replaces the body of the "## <title>" section of a Markdown
// file (up to the next "## " heading) with body, keeping everything else.
func replaceSection(path, title, body string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("readme: %w", err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		h := strings.TrimRight(l, "\r\n")
		if start < 0 && h == "## "+title {
			start = i
			continue
		}
		if start >= 0 && strings.HasPrefix(h, "## ") {
			end = i
			break
		}
	}
	if start < 0 {
		return fmt.Errorf("readme %s: no %q heading", path, "## "+title)
	}
	var sb strings.Builder
	for _, l := range lines[:start+1] {
		sb.WriteString(l)
	}
	sb.WriteString("\n" + strings.TrimSpace(body) + "\n")
	if end < len(lines) {
		sb.WriteString("\n")
	}
	for _, l := range lines[end:] {
		sb.WriteString(l)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("readme: %w", err)
	}
	return nil
}
