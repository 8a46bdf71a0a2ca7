package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/internal/events"
	"github.com/freshmart/platform/services/pos"
)

// problemBody is an RFC 9457 problem document.
type problemBody struct {
	Type   string           `json:"type"`
	Title  string           `json:"title"`
	Status int              `json:"status"`
	Detail string           `json:"detail"`
	Errors []pos.FieldError `json:"errors,omitempty"`
}

func problem(w http.ResponseWriter, status int, detail string, fields []pos.FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problemBody{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields})
}

// errNotJSON is returned by readBody for a content type other than application/json.
var errNotJSON = errors.New("not JSON")

// readBody enforces the content type and the size limit.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, errNotJSON
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
}

// fail maps an error to its answer, in one place: 415 for a non-JSON content type, 413 for an
// oversized body, 400 for malformed JSON, 422 for invalid fields, 503 with Retry-After when the
// broker did not acknowledge, 500 otherwise.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	var inv *pos.InvalidError
	var ve *schemas.ValidationError
	switch {
	case errors.Is(err, errNotJSON):
		problem(w, http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json", nil)
	case errors.As(err, &tooBig):
		problem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBody), nil)
	case errors.Is(err, pos.ErrMalformed):
		problem(w, http.StatusBadRequest, err.Error(), nil)
	case errors.As(err, &inv):
		problem(w, http.StatusUnprocessableEntity, "some fields are invalid; see errors", inv.Fields)
	case errors.As(err, &ve):
		fields := make([]pos.FieldError, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = pos.FieldError{Field: f.Field, Message: f.Message}
		}
		problem(w, http.StatusUnprocessableEntity, "some fields are invalid; see errors", fields)
	case errors.Is(err, events.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("broker did not acknowledge", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "2")
		problem(w, http.StatusServiceUnavailable, "the event broker is unreachable; nothing was recorded, retry with the same id", nil)
	default:
		a.log.Error("request failed", "path", r.URL.Path, "err", err)
		problem(w, http.StatusInternalServerError, "internal error", nil)
	}
}

// produce sends one validated event keyed by store, with the business id as the CloudEvents id,
// and answers 202. A recently accepted id is answered again without producing.
func (a *App) produce(w http.ResponseWriter, r *http.Request, topic, typ, idField, id, store string, v any, extra map[string]any) {
	resp := map[string]any{idField: id, "status": "accepted"}
	for k, x := range extra {
		resp[k] = x
	}
	key := typ + "/" + id
	if acc, ok := a.recent.get(key); ok {
		resp["partition"], resp["offset"] = acc.Partition, acc.Offset
		writeJSON(w, http.StatusAccepted, resp)
		return
	}
	payload, err := json.Marshal(v)
	if err != nil {
		a.fail(w, r, fmt.Errorf("encode %s: %w", typ, err))
		return
	}
	p, o, err := a.producer.Produce(r.Context(), topic, store, typ, Source, id, payload)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.recent.put(key, accepted{Partition: p, Offset: o})
	resp["partition"], resp["offset"] = p, o
	writeJSON(w, http.StatusAccepted, resp)
}

func (a *App) postSale(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := pos.DecodeSale(body, a.checks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.produce(w, r, events.TopicPOSSales, events.TypeSaleCompleted, "sale_id", s.SaleID, s.StoreID, s,
		map[string]any{"total_cents": s.TotalCents})
}

func (a *App) postDelivery(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := pos.DecodeDelivery(body, a.checks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.produce(w, r, events.TopicVendorDeliveries, events.TypeDeliveryReceived, "delivery_id", d.DeliveryID, d.StoreID, d, nil)
}

func (a *App) postCount(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := pos.DecodeStockCount(body, a.checks)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.produce(w, r, events.TopicInventoryUpdates, events.TypeStockCounted, "count_id", c.CountID, c.StoreID, c, nil)
}
