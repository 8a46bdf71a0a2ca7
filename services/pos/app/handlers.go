package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"

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
	out := events.Out{Topic: s.topic, Key: s.store, Type: s.typ, ID: s.id, Payload: s.payload}
	acc, err := a.recent.Produce(r.Context(), a.producer, s.kind+"/"+s.id, out,
		func(ctx context.Context, acc accepted) accepted { return a.remember(ctx, s, acc) })
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.answer(w, resp, acc)
}

func (a *App) answer(w http.ResponseWriter, resp map[string]any, acc accepted) {
	resp["partition"], resp["offset"] = acc.Partition, acc.Offset
	httpx.WriteJSON(w, http.StatusAccepted, resp)
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
