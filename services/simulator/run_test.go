package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestRunnerRetriesWithTheSameBody checks the transport half against an HTTP server that answers
// 503 to the first attempt of every event and 422 to one chosen sale: retries resend the same
// bytes (the same sale_id), refusals are not retried, and the counters add up.
func TestRunnerRetriesWithTheSameBody(t *testing.T) {
	stores, products := testCatalog(t)
	var mu sync.Mutex
	bodies := map[string][]string{} // id -> bodies received
	refuse := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := ""
		for _, k := range []string{"sale_id", "count_id", "delivery_id"} {
			if v, ok := m[k].(string); ok {
				id = v
			}
		}
		mu.Lock()
		bodies[id] = append(bodies[id], string(b))
		n := len(bodies[id])
		if refuse == "" && r.URL.Path == "/v1/sales" {
			refuse = id
		}
		refused := id == refuse
		mu.Unlock()
		switch {
		case refused:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
		case n == 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(srv.Close)

	// 23:00 UTC, the after-work peak in the US stores, so the run's sales do not depend on the
	// time of day the test runs (at night there were too few to count).
	start := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	g, err := New(Config{Stores: stores, Products: products, Seed: 3, Start: start, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{BaseURL: srv.URL, Workers: 8, Backoff: time.Millisecond, ReportEvery: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	st, err := r.Run(context.Background(), g, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sales.Sent < 100 || st.Counts.Sent < 10 {
		t.Fatalf("too few events sent: %+v", st)
	}
	if st.Sales.Failed != 1 || st.Sales.Accepted != st.Sales.Sent-1 {
		t.Fatalf("sales: %+v, want exactly the refused one failed", st.Sales)
	}
	if st.Sales.Retries != st.Sales.Sent-1 {
		t.Fatalf("sales retries = %d, want one per accepted sale (%d)", st.Sales.Retries, st.Sales.Sent-1)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, bs := range bodies {
		want := 2
		if id == refuse {
			want = 1
		}
		if len(bs) != want {
			t.Fatalf("event %s posted %d times, want %d", id, len(bs), want)
		}
		if len(bs) == 2 && bs[0] != bs[1] {
			t.Fatalf("retry of %s changed the body:\n%s\n%s", id, bs[0], bs[1])
		}
	}
}

func TestProbeMatchesInEitherOrder(t *testing.T) {
	p := NewProbe()
	t0 := time.Unix(1_800_000_000, 0)
	p.Accepted("a", t0)
	p.observe("a", t0.Add(30*time.Millisecond))
	p.observe("b", t0.Add(10*time.Millisecond)) // seen before its 202 was recorded
	p.Accepted("b", t0.Add(20*time.Millisecond))
	p.Accepted("c", t0)
	for i := range 98 {
		id := fmt.Sprint("x", i)
		p.Accepted(id, t0)
		p.observe(id, t0.Add(time.Duration(i+1)*time.Millisecond))
	}
	s := p.Summary()
	if s.Sales != 100 || s.Missing != 1 {
		t.Fatalf("summary %+v: want 100 seen and 1 missing", s)
	}
	if s.P50ms < 40 || s.P50ms > 60 || s.P99ms != 98 || s.MaxMs != 98 {
		t.Fatalf("percentiles %+v", s)
	}
}
