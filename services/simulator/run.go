package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshmart/platform/schemas"
)

// Runner posts a Generator's events to the POS API (and its complaints to the complaints
// service), paced against the wall clock. A void is posted only once the POS accepted its sale
// (a void of a sale that failed, or that this Runner did not post, is skipped and counted).
type Runner struct {
	// BaseURL is the POS service, e.g. "http://127.0.0.1:8081"; required.
	BaseURL string
	// ComplaintsURL is the complaints service, e.g. "http://127.0.0.1:8083"; required when the
	// generator files complaints (Config.Complaints).
	ComplaintsURL string
	// Client sends the requests (default: a client with a 10 s timeout).
	Client *http.Client
	// Workers is how many requests to the POS are in flight at most (default 16).
	Workers int
	// ComplaintWorkers is how many complaints are in flight at most (default 4). They have
	// workers and a queue of their own, so a complaints service that does not answer never
	// holds up the POS: when its queue is full, a complaint is dropped unsent (counted).
	ComplaintWorkers int
	// Attempts is how many times an event is posted before it counts as failed (default 8).
	// Connection errors, 429 and 5xx answers are retried with the same body; other answers are not.
	Attempts int
	// Backoff is the first wait between attempts, doubled each time up to 5 s (default 200 ms).
	Backoff time.Duration
	// ReportEvery is how often progress is logged (default 10 s; negative: never).
	ReportEvery time.Duration
	// Logger receives progress and failures (default slog.Default()).
	Logger *slog.Logger
	// OnAccepted, when set, is called after the POS (or the complaints service) accepted an
	// event (from the worker goroutines).
	OnAccepted func(ev Event, acceptedAt time.Time)
	// Charge, when set, sets the prices of a sale's lines (and its total) just before the sale
	// is handed to the workers, so a sale is charged the prices in force when it happens
	// (Prices.Charge); nil keeps the generator's (the catalog's) prices.
	Charge func(sale *schemas.SaleCompleted)

	stats [kinds]kindCounters

	mu       sync.Mutex
	voidable map[string]*saleOutcome // sale_id -> its post, for the sales the stream voids
}

type kindCounters struct {
	sent, accepted, failed, retries, dropped, skipped atomic.Int64
}

// saleOutcome is the fate of a sale a void waits for: done is closed once its post is over.
type saleOutcome struct {
	done     chan struct{}
	accepted bool
}

// KindStats counts one kind of event.
type KindStats struct {
	Sent     int64 `json:"sent"`              // events posted at least once
	Accepted int64 `json:"accepted"`          // events the service answered 2xx
	Failed   int64 `json:"failed"`            // events given up on
	Retries  int64 `json:"retries"`           // extra attempts
	Dropped  int64 `json:"dropped,omitempty"` // complaints not sent: their queue was full
	Skipped  int64 `json:"skipped,omitempty"` // voids not sent: the POS did not accept their sale
}

// Stats is what a Runner has done so far.
type Stats struct {
	Sales      KindStats `json:"sales"`
	Counts     KindStats `json:"stock_counts"`
	Deliveries KindStats `json:"deliveries"`
	Complaints KindStats `json:"complaints"`
	Voids      KindStats `json:"voids"`
}

// Stats returns the counters so far; safe to call while Run is running.
func (r *Runner) Stats() Stats {
	get := func(k Kind) KindStats {
		c := &r.stats[k]
		return KindStats{Sent: c.sent.Load(), Accepted: c.accepted.Load(), Failed: c.failed.Load(), Retries: c.retries.Load(),
			Dropped: c.dropped.Load(), Skipped: c.skipped.Load()}
	}
	return Stats{Sales: get(KindSale), Counts: get(KindCount), Deliveries: get(KindDelivery), Complaints: get(KindComplaint),
		Voids: get(KindVoid)}
}

func (r *Runner) defaults() {
	if r.Client == nil {
		r.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if r.Workers <= 0 {
		r.Workers = 16
	}
	if r.ComplaintWorkers <= 0 {
		r.ComplaintWorkers = 4
	}
	if r.Attempts <= 0 {
		r.Attempts = 8
	}
	if r.Backoff <= 0 {
		r.Backoff = 200 * time.Millisecond
	}
	if r.ReportEvery == 0 {
		r.ReportEvery = 10 * time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
}

// Run posts g's events until ctx is done or, when duration > 0, until the simulated clock has
// advanced by duration, and waits for the posts in flight. The simulated clock starts at the
// generator's Start when Run starts and runs at wall-clock speed; when the POS falls behind,
// events queue and are posted as fast as the workers can. Complaints go to ComplaintsURL
// through workers of their own. A void goes to the POS like a sale, by the POS workers; when
// its sale is still being posted (retried, or queued behind a slow POS) it waits for the
// sale's answer, and is skipped unless that was a 202. It returns the final Stats; the error
// is nil when it stopped because of ctx or duration.
func (r *Runner) Run(ctx context.Context, g *Generator, duration time.Duration) (Stats, error) {
	r.defaults()
	if r.BaseURL == "" {
		return r.Stats(), errors.New("simulator: no POS URL")
	}
	if g.cfg.Complaints && r.ComplaintsURL == "" {
		return r.Stats(), errors.New("simulator: the generator files complaints but there is no complaints URL")
	}
	base := strings.TrimRight(r.BaseURL, "/")
	complaintsBase := strings.TrimRight(r.ComplaintsURL, "/")
	work := make(chan Event, r.Workers*4)
	complaints := make(chan Event, 256)
	var wg sync.WaitGroup
	for range r.Workers {
		wg.Go(func() {
			for ev := range work {
				if ctx.Err() != nil {
					r.settle(ev, false)
					continue // stopping: queued events are dropped unsent, not counted
				}
				if ev.Kind == KindVoid {
					r.postVoid(ctx, base, ev)
					continue
				}
				r.settle(ev, r.post(ctx, base, ev))
			}
		})
	}
	for range r.ComplaintWorkers {
		wg.Go(func() {
			for ev := range complaints {
				if ctx.Err() != nil {
					continue
				}
				r.post(ctx, complaintsBase, ev)
			}
		})
	}
	stopReport := make(chan struct{})
	var reportWG sync.WaitGroup
	if r.ReportEvery > 0 {
		reportWG.Go(func() {
			t := time.NewTicker(r.ReportEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					r.report("progress")
				case <-stopReport:
					return
				}
			}
		})
	}

	simStart := g.cfg.Start
	wallStart := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
loop:
	for {
		ev := g.Next()
		offset := ev.At.Sub(simStart)
		if duration > 0 && offset >= duration {
			break
		}
		if wait := time.Until(wallStart.Add(offset)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				break loop
			}
		}
		if ev.Kind == KindComplaint {
			select {
			case complaints <- ev:
			default:
				if r.stats[KindComplaint].dropped.Add(1) == 1 {
					r.Logger.Warn("complaints queue full: dropping complaints until the complaints service keeps up",
						"complaints_url", r.ComplaintsURL)
				}
			}
			continue
		}
		if ev.Kind == KindSale && r.Charge != nil {
			r.Charge(ev.Sale)
		}
		r.expect(ev)
		select {
		case work <- ev:
		case <-ctx.Done():
			r.settle(ev, false)
			break loop
		}
	}
	close(work)
	close(complaints)
	wg.Wait()
	close(stopReport)
	reportWG.Wait()
	r.report("done")
	return r.Stats(), nil
}

func (r *Runner) report(msg string) {
	s := r.Stats()
	r.Logger.Info(msg,
		"sales_sent", s.Sales.Sent, "sales_accepted", s.Sales.Accepted, "sales_failed", s.Sales.Failed,
		"counts_sent", s.Counts.Sent, "counts_accepted", s.Counts.Accepted, "counts_failed", s.Counts.Failed,
		"deliveries_sent", s.Deliveries.Sent, "deliveries_accepted", s.Deliveries.Accepted,
		"deliveries_failed", s.Deliveries.Failed,
		"complaints_sent", s.Complaints.Sent, "complaints_accepted", s.Complaints.Accepted,
		"complaints_failed", s.Complaints.Failed, "complaints_dropped", s.Complaints.Dropped,
		"voids_sent", s.Voids.Sent, "voids_accepted", s.Voids.Accepted, "voids_failed", s.Voids.Failed,
		"voids_skipped", s.Voids.Skipped,
		"retries", s.Sales.Retries+s.Counts.Retries+s.Deliveries.Retries+s.Complaints.Retries+s.Voids.Retries)
}

// expect records, before a sale the stream voids later is handed to the workers, that its void
// will wait for its answer.
func (r *Runner) expect(ev Event) {
	if ev.Kind != KindSale || ev.VoidAt.IsZero() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.voidable == nil {
		r.voidable = map[string]*saleOutcome{}
	}
	r.voidable[ev.Sale.SaleID] = &saleOutcome{done: make(chan struct{})}
}

// settle records the answer to a sale its void waits for: accepted or not (failed, or dropped
// unsent).
func (r *Runner) settle(ev Event, accepted bool) {
	if ev.Kind != KindSale || ev.VoidAt.IsZero() {
		return
	}
	r.mu.Lock()
	o := r.voidable[ev.Sale.SaleID]
	r.mu.Unlock()
	if o != nil {
		o.accepted = accepted
		close(o.done)
	}
}

// postVoid posts a void once its sale's post is over, if the POS accepted the sale; otherwise
// the void is skipped (counted). Stopping while it waits drops it unsent, uncounted, like the
// other queued events.
func (r *Runner) postVoid(ctx context.Context, base string, ev Event) {
	r.mu.Lock()
	o := r.voidable[ev.Void.SaleID]
	r.mu.Unlock()
	if o != nil {
		select {
		case <-o.done:
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		delete(r.voidable, ev.Void.SaleID)
		r.mu.Unlock()
	}
	if o == nil || !o.accepted {
		r.stats[KindVoid].skipped.Add(1)
		return
	}
	r.post(ctx, base, ev)
}

// post sends ev to base until it is accepted, refused, or out of attempts, and reports whether
// it was accepted. Every attempt sends the same bytes, so a retried sale keeps its sale_id (and
// a complaint its complaint_id, a void its reason and voided_at).
func (r *Runner) post(ctx context.Context, base string, ev Event) bool {
	c := &r.stats[ev.Kind]
	c.sent.Add(1)
	body, err := json.Marshal(ev.Body())
	if err != nil {
		c.failed.Add(1)
		r.Logger.Error("encode event", "kind", ev.Kind.String(), "id", ev.ID(), "err", err)
		return false
	}
	wait := r.Backoff
	for attempt := 1; ; attempt++ {
		retry, after, err := r.attempt(ctx, base+ev.path(), body)
		if err == nil {
			c.accepted.Add(1)
			if r.OnAccepted != nil {
				r.OnAccepted(ev, time.Now())
			}
			return true
		}
		if !retry || attempt >= r.Attempts || ctx.Err() != nil {
			c.failed.Add(1)
			r.Logger.Warn("event failed", "kind", ev.Kind.String(), "id", ev.ID(), "store_id", ev.StoreID,
				"attempts", attempt, "err", err)
			return false
		}
		c.retries.Add(1)
		if after <= 0 {
			after = wait
			wait = min(wait*2, 5*time.Second)
		}
		t := time.NewTimer(after)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// attempt posts body once. It returns whether a failure may be retried, and the server's
// Retry-After when it gave one.
func (r *Runner) attempt(ctx context.Context, url string, body []byte) (retry bool, after time.Duration, err error) {
	// A post in flight when the run is cancelled still finishes, so a sale is not left unknown.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.Client.Do(req)
	if err != nil {
		return true, 0, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return false, 0, nil
	}
	if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
		after = min(time.Duration(s)*time.Second, 10*time.Second)
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return retry, after, fmt.Errorf("post %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
}
