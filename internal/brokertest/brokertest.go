// Package brokertest runs FreshMart's own broker (broker/cmd/freshmart-broker) as a child
// process for service tests, through package brokerproc: built from the workspace with
// `go build`, listening on a free port on 127.0.0.1, storing into a temporary directory of the
// test, with the FreshMart topics of broker/topics.json created at start.
//
//	b := brokertest.Start(t)
//	cl := b.Client(t, kgo.ConsumerGroup("g"))
//
// Setting FRESHMART_TEST_BROKER=kfake runs franz-go's kfake instead (broker/bench/kfakeserver,
// same topics), a development fallback for comparing behaviour; the default and what CI runs is
// the FreshMart broker.
package brokertest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokerproc"
)

// EnvBroker selects the broker implementation: "freshmart" (default) or "kfake".
const EnvBroker = "FRESHMART_TEST_BROKER"

// Broker is a running broker process (Addr, Log, Stop and Kill come from brokerproc.Broker)
// with helpers for tests.
type Broker struct {
	*brokerproc.Broker
}

// Start builds (once per test binary) and starts a broker, stopped when the test ends. It fails
// the test if the broker does not come up within a minute.
func Start(t testing.TB) *Broker {
	t.Helper()
	kind := os.Getenv(EnvBroker)
	if kind == "" {
		kind = brokerproc.FreshMart
	}
	if kind != brokerproc.FreshMart && kind != brokerproc.KFake {
		t.Fatalf("brokertest: %s=%q: want %s or %s", EnvBroker, kind, brokerproc.FreshMart, brokerproc.KFake)
	}
	pb, err := brokerproc.Start(kind, t.TempDir())
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	b := &Broker{pb}
	t.Cleanup(func() {
		if err := b.Stop(); err != nil {
			t.Logf("brokertest: stop: %v", err)
		}
	})
	return b
}

// Restart stops the broker (if it is running) and starts it again on the same address and data
// directory; it fails the test if the broker does not come back.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	if err := b.Broker.Restart(); err != nil {
		t.Fatalf("brokertest: restart: %v", err)
	}
}

// Client returns a franz-go client seeded with the broker, closed when the test ends.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr)}, opts...)...)
	if err != nil {
		t.Fatalf("brokertest: client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with the given number of partitions.
func (b *Broker) CreateTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(b.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("brokertest: create topic %s: %v", name, err)
	}
}

// hasLine reports whether the broker's log contains s (for tests of the harness itself).
func (b *Broker) hasLine(s string) bool { return strings.Contains(b.Log(), s) }
