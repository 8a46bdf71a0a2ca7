package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The compaction figure: 100-byte records over 10,000 keys produced as
// fast as the client allows to a compacted topic (6 partitions, 1 MiB
// segments, min.cleanable.dirty.ratio 0.1) while the broker's cleaner runs
// every second. It reports the produce rate of both brokers (kfake stores
// cleanup.policy but does not compact) and freshmart-broker's cleaning
// rate: the growth of broker_compaction_cleaned_bytes_total during the
// run divided by its duration.

const (
	rowCompactProduce = "produce 100 B to a compacted topic (10,000 keys), records/s"
	rowCompactCleaned = "compaction while producing, MB/s cleaned"
)

var compactKeys = func() [][]byte {
	k := make([][]byte, 10000)
	for i := range k {
		k[i] = []byte("sku-" + strconv.Itoa(100000+i))
	}
	return k
}()

func compactionRound(ctx context.Context, res *results, order []*target, round int, d time.Duration, max int64) error {
	topic := fmt.Sprintf("bench-compact-r%d", round)
	for _, t := range order {
		if err := createCompactedTopic(ctx, t, topic); err != nil {
			return err
		}
		logf("round %d: %s: produce 100 B keyed records to a compacted topic for %v", round+1, t.name, d)
		before, berr := cleanedBytes(ctx, t)
		start := time.Now()
		p, err := produceKeys(ctx, t, topic, compactKeys, 100, max, d)
		if err != nil {
			return err
		}
		res.add(t, rowCompactProduce, unitRate, p.recordsPerSec())
		if berr != nil {
			continue // no compaction metrics (kfake)
		}
		after, err := cleanedBytes(ctx, t)
		if err != nil {
			return err
		}
		mbps := float64(after-before) / 1e6 / time.Since(start).Seconds()
		logf("round %d: %s: cleaned %.1f MB while producing (%.1f MB/s)", round+1, t.name, float64(after-before)/1e6, mbps)
		res.add(t, rowCompactCleaned, unitMBps, mbps)
	}
	return nil
}

func createCompactedTopic(ctx context.Context, t *target, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr))
	if err != nil {
		return fmt.Errorf("%s: client: %w", t.name, err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("1048576"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.1"),
	}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("%s: create topic %s: %w", t.name, topic, err)
	}
	return nil
}

// cleanedBytes reads broker_compaction_cleaned_bytes_total from the
// target's /metrics.
func cleanedBytes(ctx context.Context, t *target) (int64, error) {
	if t.name != "freshmart-broker" {
		return 0, errors.New("no compaction metrics")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.http+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: metrics: %w", t.name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "broker_compaction_cleaned_bytes_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("%s: no broker_compaction_cleaned_bytes_total in /metrics", t.name)
}
