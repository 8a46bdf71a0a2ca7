package simulator

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	complaintsapp "github.com/freshmart/platform/services/complaints/app"
)

// acceptAll is a stand-in POS that answers 202 to everything, counting the posts.
func acceptAll(t *testing.T, n *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAgainstRealComplaints runs the simulator at rate 100 against the real complaints service
// on our broker (the POS is a stand-in) until its first bad batch has had its third complaint:
// every complaint is accepted, and the service raises the batch's spike alert on store-alerts.
func TestAgainstRealComplaints(t *testing.T) {
	b := brokertest.Start(t)
	svc := kittest.Start(t, complaintsapp.Options, map[string]string{"KAFKA_BROKERS": b.Addr, "DATABASE_URL": pgtest.New(t)},
		func(_ context.Context, s *kit.Service) error {
			_, err := complaintsapp.New(s, complaintsapp.Config{})
			return err
		})
	var posts atomic.Int64
	pos := acceptAll(t, &posts)

	stores, products, err := FromCatalog(catalog.MustLoad(), []string{"S001", "S002", "S003"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Stores: stores, Products: products, Seed: 11, Start: time.Now().UTC(), Rate: 100, Complaints: true,
		SalesPerMinute: 2, CountsPerMinute: 1}
	// Run until just after the first bad batch's third complaint (the stream is seeded).
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var batch []*schemas.ComplaintFiled
	var until time.Duration
	for len(batch) < 3 {
		if ev := g.Next(); ev.BadBatch == 1 {
			batch = append(batch, ev.Complaint)
			until = ev.At.Sub(cfg.Start) + 200*time.Millisecond
		}
	}
	if until > 10*time.Second {
		t.Fatalf("the first bad batch spikes %s in: too slow for a test", until)
	}
	if g, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	accepted := map[string]bool{}
	r := &Runner{BaseURL: pos, ComplaintsURL: kittest.URL(svc), Workers: 4, ReportEvery: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnAccepted: func(ev Event, _ time.Time) {
			if ev.Kind == KindComplaint {
				mu.Lock()
				accepted[ev.ID()] = true
				mu.Unlock()
			}
		}}
	st, err := r.Run(context.Background(), g, until)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ran %s: %+v", until, st)
	if c := st.Complaints; c.Sent < 4 || c.Accepted != c.Sent || c.Failed != 0 || c.Dropped != 0 {
		t.Fatalf("complaints %+v, want several, every one accepted", c)
	}
	for _, c := range batch {
		if !accepted[c.ComplaintID] {
			t.Fatalf("the batch's complaint %s was not accepted", c.ComplaintID)
		}
	}
	if st.Sales.Accepted == 0 || posts.Load() != st.Sales.Sent+st.Counts.Sent+st.Deliveries.Sent {
		t.Fatalf("the POS got %d posts for %+v", posts.Load(), st)
	}

	cl := b.Client(t, kgo.ConsumeTopics(schemas.TopicStoreAlerts), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no alert.complaint_spike for %s/%s on store-alerts", batch[0].StoreID, batch[0].SKU)
		}
		var spike *schemas.ComplaintSpike
		fs.EachRecord(func(rec *kgo.Record) {
			ev, err := events.Parse(rec)
			if err != nil || ev.Type != schemas.TypeAlertComplaintSpike {
				return
			}
			s, err := events.Decode[schemas.ComplaintSpike](ev)
			if err == nil && s.StoreID == batch[0].StoreID && s.SKU == batch[0].SKU {
				spike = &s
			}
		})
		if spike != nil {
			for _, c := range batch {
				if !slices.Contains(spike.ComplaintIDs, c.ComplaintID) {
					t.Fatalf("spike %+v lacks the batch's complaint %s", spike, c.ComplaintID)
				}
			}
			return
		}
	}
}

// TestRunnerKeepsGoingWithoutComplaints: with nothing answering at the complaints URL, the
// sales still go through and the complaints are counted as failed.
func TestRunnerKeepsGoingWithoutComplaints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	var posts atomic.Int64
	pos := acceptAll(t, &posts)
	stores, products := testCatalog(t)
	// 23:00 UTC, the after-work peak in the US stores: the sales counted below do not depend on
	// the hour the test runs (nothing here checks filed_at against a clock).
	start := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	g, err := New(Config{Stores: stores, Products: products, Seed: 4, Start: start, Rate: 100, Complaints: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{BaseURL: pos, ComplaintsURL: dead, Workers: 8, Backoff: time.Millisecond, ReportEvery: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	st, err := r.Run(context.Background(), g, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.Sales.Sent < 20 || st.Sales.Accepted != st.Sales.Sent {
		t.Fatalf("sales %+v, want every one accepted", st.Sales)
	}
	if c := st.Complaints; c.Sent+c.Dropped < 3 || c.Accepted != 0 || c.Failed != c.Sent || c.Retries == 0 {
		t.Fatalf("complaints %+v, want every one failed", c)
	}
	// A runner without a complaints URL refuses a generator that files complaints.
	if _, err := (&Runner{BaseURL: pos, ReportEvery: -1}).Run(context.Background(), g, time.Second); err == nil {
		t.Fatal("ran complaints without a complaints URL")
	}
}
