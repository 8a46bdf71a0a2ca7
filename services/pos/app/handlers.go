package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

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
	kind        string // pos.accepted kind: sale, delivery, count or void
	idField, id string
	store       string
	at          time.Time // the event's own time (occurred_at, received_at, counted_at, voided_at)
	totalCents  *int64
	answer      map[string]any // more fields of the 202 answer
	payload     any
}

// response is the body of the 202 answer to s, without the position.
func (s submission) response() map[string]any {
	resp := map[string]any{s.idField: s.id, "status": "accepted"}
	if s.totalCents != nil {
		resp["total_cents"] = *s.totalCents
	}
	maps.Copy(resp, s.answer)
	return resp
}

// produce sends one validated event keyed by store, with the business id as the CloudEvents id,
// and answers 202 with the partition and offset. An id accepted before, by this process (memory)
// or by any POS instance (pos.accepted in Postgres), is answered again with its first partition
// and offset, without producing. An id still in flight on this instance (a first attempt that
// was answered 503 because the broker did not acknowledge in time) is joined, not produced
// again: when the broker acknowledges it late, it is recorded like any other.
func (a *App) produce(w http.ResponseWriter, r *http.Request, s submission) {
	if a.replayed(w, r, s) {
		return
	}
	a.produceNew(w, r, s)
}

// replayed answers s with its first acceptance, if there is one, and reports whether it did.
func (a *App) replayed(w http.ResponseWriter, r *http.Request, s submission) bool {
	acc, ok := a.seen(r.Context(), s.kind, s.id)
	if ok {
		a.replays.WithLabelValues(s.kind).Inc()
		a.answer(w, s.response(), acc)
	}
	return ok
}

// produceNew is produce for an id not seen accepted before (replayed was false).
func (a *App) produceNew(w http.ResponseWriter, r *http.Request, s submission) {
	out := events.Out{Topic: s.topic, Key: s.store, Type: s.typ, ID: s.id, Payload: s.payload}
	acc, err := a.recent.Produce(r.Context(), a.producer, s.kind+"/"+s.id, out,
		func(ctx context.Context, acc accepted) accepted { return a.remember(ctx, s, acc) })
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.answer(w, s.response(), acc)
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
		idField: "sale_id", id: s.SaleID, store: s.StoreID, at: s.OccurredAt, totalCents: &s.TotalCents, payload: s})
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
		idField: "delivery_id", id: d.DeliveryID, store: d.StoreID, at: d.ReceivedAt, payload: d})
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
		idField: "count_id", id: c.CountID, store: c.StoreID, at: c.CountedAt, payload: c})
}

// postVoid takes POST /v1/sales/{sale_id}/void with {"reason", "voided_at"} and produces
// sale.voided to pos-sales, keyed by the sale's store, answering 202 once the broker
// acknowledged. The sale must be one the POS accepted (pos.accepted, any instance): otherwise
// 404. voided_at may not be before the sale's occurred_at nor more than pos.MaxVoidAhead past
// the POS's clock (422). The void's id is derived from the sale id (pos.VoidID), so a sale is
// voided once: a second void, to any instance and whatever its reason or time, is answered
// with the first void's position and not produced. When pos.accepted cannot be read the sale
// cannot be checked: 503 with Retry-After, nothing produced.
func (a *App) postVoid(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := pos.DecodeVoid(chi.URLParam(r, "sale_id"), body, a.clock.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s := submission{topic: schemas.TopicPOSSales, typ: schemas.TypeSaleVoided, kind: "void", idField: "void_id",
		id: pos.VoidID(v.SaleID), at: v.VoidedAt, answer: map[string]any{"sale_id": v.SaleID}}
	if a.replayed(w, r, s) {
		return
	}
	sale, ok, err := a.sale(r.Context(), v.SaleID)
	switch {
	case err != nil:
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusServiceUnavailable, Title: "Sales database unavailable",
			Detail: "the sale to void cannot be looked up right now; nothing was recorded. Retry the same request later."})
		return
	case !ok:
		a.fail(w, r, fmt.Errorf("%w: no sale %s was accepted", httpx.ErrNotFound, v.SaleID))
		return
	}
	if err := pos.CheckVoidAgainstSale(v, sale.occurredAt); err != nil {
		a.fail(w, r, err)
		return
	}
	v.StoreID = sale.store
	s.store, s.payload = v.StoreID, v
	a.produceNew(w, r, s)
}
