package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/pos"
)

// fail answers err as problem+json through httpx.Error (415 non-JSON, 413 oversized, 400
// malformed, 422 invalid fields, 503 with Retry-After when the broker did not acknowledge, 500
// otherwise). A produce that ran out of time counts as the broker being unavailable.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, events.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", events.ErrUnavailable, err)
	}
	if errors.Is(err, events.ErrUnavailable) {
		a.log.Warn("broker did not acknowledge", "path", r.URL.Path, "err", err)
	}
	httpx.Error(w, r, a.log, err)
}

// submission is one accepted-or-not request: what to produce and how to answer.
type submission struct {
	topic, typ  string
	kind        string // pos.accepted kind: sale, delivery or count
	idField, id string
	store       string
	totalCents  *int64
	payload     any
}

// produce sends one validated event keyed by store, with the business id as the CloudEvents id,
// and answers 202 with the partition and offset. An id accepted before, by this process (memory)
// or by any POS instance (pos.accepted in Postgres), is answered again with its first partition
// and offset, without producing. An id still in flight on this instance (a first attempt that
// was answered 503 because the broker did not acknowledge in time) is joined, not produced
// again: when the broker acknowledges it late, it is recorded like any other.
func (a *App) produce(w http.ResponseWriter, r *http.Request, s submission) {
	resp := map[string]any{s.idField: s.id, "status": "accepted"}
	if s.totalCents != nil {
		resp["total_cents"] = *s.totalCents
	}
	if acc, ok := a.seen(r.Context(), s.kind, s.id); ok {
		a.replays.WithLabelValues(s.kind).Inc()
		a.answer(w, resp, acc)
		return
	}
	f, err := a.flights.start(s, func() (*events.Flight, error) {
		return a.producer.Start(events.Out{Topic: s.topic, Key: s.store, Type: s.typ, ID: s.id, Payload: s.payload})
	}, a.remember)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	wait, cancel := context.WithTimeout(r.Context(), a.producer.DeliveryTimeout())
	defer cancel()
	select {
	case <-f.done:
		if f.err != nil {
			a.fail(w, r, f.err)
			return
		}
		a.answer(w, resp, f.acc)
	case <-wait.Done():
		a.fail(w, r, fmt.Errorf("%s %s: no acknowledgement from the broker within %s: %w",
			s.kind, s.id, a.producer.DeliveryTimeout(), events.ErrUnavailable))
	}
}

func (a *App) answer(w http.ResponseWriter, resp map[string]any, acc accepted) {
	resp["partition"], resp["offset"] = acc.Partition, acc.Offset
	httpx.WriteJSON(w, http.StatusAccepted, resp)
}

// flight is one event of this instance on its way to the broker and into pos.accepted.
type flight struct {
	done chan struct{} // closed once acknowledged and recorded, or given up on
	acc  accepted
	err  error
}

// flights are the events of this instance not yet acknowledged, by kind/id.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// start returns the flight of s: the one already under way, or a new one begun with produce.
// When the broker acknowledges it, record stores the acceptance (in pos.accepted) and its
// answer becomes the flight's; then the flight is forgotten.
func (fs *flights) start(s submission, produce func() (*events.Flight, error),
	record func(context.Context, submission, accepted) accepted) (*flight, error) {
	key := s.kind + "/" + s.id
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		return f, nil
	}
	ef, err := produce()
	if err != nil {
		return nil, err
	}
	f := &flight{done: make(chan struct{})}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	fs.m[key] = f
	go func() {
		<-ef.Done()
		if f.err = ef.Err(); f.err == nil {
			f.acc = record(context.Background(), s, accepted{Partition: ef.Partition, Offset: ef.Offset})
		}
		fs.mu.Lock()
		delete(fs.m, key)
		fs.mu.Unlock()
		close(f.done)
	}()
	return f, nil
}

func (a *App) postSale(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := pos.DecodeSale(body, a.checks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.produce(w, r, submission{topic: schemas.TopicPOSSales, typ: schemas.TypeSaleCompleted, kind: "sale",
		idField: "sale_id", id: s.SaleID, store: s.StoreID, totalCents: &s.TotalCents, payload: s})
}

func (a *App) postDelivery(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := pos.DecodeDelivery(body, a.checks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.produce(w, r, submission{topic: schemas.TopicVendorDeliveries, typ: schemas.TypeDeliveryReceived, kind: "delivery",
		idField: "delivery_id", id: d.DeliveryID, store: d.StoreID, payload: d})
}

func (a *App) postCount(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := pos.DecodeStockCount(body, a.checks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.produce(w, r, submission{topic: schemas.TopicInventoryUpdates, typ: schemas.TypeStockCounted, kind: "count",
		idField: "count_id", id: c.CountID, store: c.StoreID, payload: c})
}
