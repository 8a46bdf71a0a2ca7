package e2e

import (
	"context"
	"testing"
	"time"
)

// TestFreshMartTopics starts the broker on an empty data directory with no
// topic flags and checks the FreshMart topics are there with the partition
// counts and retention the platform design gives them, and that a restart
// keeps them as they are.
func TestFreshMartTopics(t *testing.T) {
	const (
		forever = "-1"
		week    = "604800000"  // 7 days
		quarter = "7776000000" // 90 days
	)
	want := []struct {
		name       string
		partitions int
		retention  string
	}{
		{"pos-sales", 12, forever},
		{"inventory-updates", 12, forever},
		{"customer-complaints", 12, forever},
		{"vendor-deliveries", 12, forever},
		{"display-updates", 12, week},
		{"daily-sales-report", 1, forever},
		{"store-alerts", 12, quarter},
		{"purchasing", 12, forever},
	}
	dir := t.TempDir()
	b := startBroker(t, dir)
	check := func(phase string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := b.admin()
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("%s: list topics: %v", phase, err)
		}
		names := make([]string, 0, len(want))
		for _, w := range want {
			names = append(names, w.name)
		}
		configs, err := adm.DescribeTopicConfigs(ctx, names...)
		if err != nil {
			t.Fatalf("%s: describe configs: %v", phase, err)
		}
		for _, w := range want {
			t.Run(phase+"/"+w.name, func(t *testing.T) {
				td, ok := topics[w.name]
				if !ok {
					t.Fatalf("topic %s does not exist; topics: %v", w.name, topics.Names())
				}
				if td.Err != nil {
					t.Fatalf("topic %s: %v", w.name, td.Err)
				}
				if got := len(td.Partitions); got != w.partitions {
					t.Errorf("partitions = %d, want %d", got, w.partitions)
				}
				rc, err := configs.On(w.name, nil)
				if err != nil {
					t.Fatalf("configs: %v", err)
				}
				if rc.Err != nil {
					t.Fatalf("configs: %v", rc.Err)
				}
				found := false
				for _, c := range rc.Configs {
					if c.Key == "retention.ms" {
						found = true
						if c.Value == nil || *c.Value != w.retention {
							t.Errorf("retention.ms = %v, want %s", c.MaybeValue(), w.retention)
						}
					}
				}
				if !found {
					t.Errorf("DescribeConfigs has no retention.ms")
				}
			})
		}
	}
	check("first start")
	b.stop()
	b = startBroker(t, dir)
	check("after restart")
	b.stop()
}
