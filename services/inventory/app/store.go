package app

// The Folder: what the service folds (the sales and voids of pos-sales, vendor-deliveries and
// the counts in inventory-updates) into the stock tables of one schema, and what that did. The work is split
// by concern: decode.go turns events into checked changes, fold.go folds a batch of them in
// memory with the pure domain package services/inventory, sql.go holds the set-based
// statements that dedupe, load and write, emit.go the events the fold causes, and offsets.go
// reads a group's stored offsets.

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
)

// Product is what the service needs to know about a SKU.
type Product struct {
	SKU, Name, Department   string
	Threshold, InitialStock int64
}

// Reference is the catalog as the service sees it.
type Reference interface {
	// Product returns the SKU's reference data.
	Product(sku string) (Product, bool)
	// Products lists every SKU in catalog order.
	Products() []Product
	// HasStore reports whether the store exists.
	HasStore(id string) bool
	// HasDepartment reports whether the department id exists.
	HasDepartment(id string) bool
}

// Outcome says what Apply did with a record.
type Outcome int

// Outcomes of Apply.
const (
	Applied   Outcome = iota // the event changed stock
	Duplicate                // the event's id was seen before
	Ignored                  // a type the service does not fold (its own stock.level, ...)
	Rejected                 // undecodable or referencing unknown stores/SKUs; logged and counted
	Unmatched                // a void of a sale the service never folded (in the void's store): no effect
)

// Counts tallies the events of a batch by what the fold did with them.
type Counts map[Outcome]int

// ErrBadEvent is wrapped by Apply's error for a record it rejects; the caller skips it.
var ErrBadEvent = errors.New("bad event")

// Folder applies consumed events to the tables of one schema ("inventory" live, another for a
// rebuild).
type Folder struct {
	ref    Reference
	schema string
	sql    statements
}

// NewFolder returns a Folder writing to the tables of schema.
func NewFolder(ref Reference, schema string) *Folder {
	return &Folder{ref: ref, schema: schema, sql: newStatements(schema)}
}

// Apply folds one event into the stock tables inside tx and hands the events it causes to em:
// ApplyBatch for a batch of one. It rejects a bad event (ErrBadEvent) before writing anything,
// so the caller may skip it and carry on with the same transaction.
func (f *Folder) Apply(ctx context.Context, tx pgx.Tx, em Emitter, r events.Event) (Outcome, error) {
	c, ok, err := f.decode(r)
	switch {
	case !ok:
		return Ignored, nil
	case err != nil:
		return Rejected, err
	}
	n, err := f.fold(ctx, tx, em, []decoded{{ev: r, c: c}})
	if err != nil {
		return 0, err
	}
	switch {
	case n[Duplicate] > 0:
		return Duplicate, nil
	case n[Unmatched] > 0:
		return Unmatched, nil
	}
	return Applied, nil
}

// ApplyBatch folds the events of a batch, in order, into the stock tables inside tx, with one
// round trip per kind of statement whatever the batch size, and hands the events they cause to
// em. The result is the same as applying the events one by one: every event moves the stock in
// turn and every hysteresis crossing raises its alert, with the id and time of the event that
// crossed. What is coalesced is the level and badge traffic: one stock.level per store/SKU per
// batch (caused by the last event that changed it) and one stock.badge per store/SKU whose
// badge differs at the end of the batch from the start. Bad events (ErrBadEvent) are passed to
// bad, counted as Rejected and skipped; any other error means nothing may be committed.
func (f *Folder) ApplyBatch(ctx context.Context, tx pgx.Tx, em Emitter, evs []events.Event, bad func(error)) (Counts, error) {
	n := Counts{}
	ds := make([]decoded, 0, len(evs))
	for _, r := range evs {
		c, ok, err := f.decode(r)
		switch {
		case !ok:
			n[Ignored]++
		case err != nil:
			n[Rejected]++
			if bad != nil {
				bad(err)
			}
		default:
			ds = append(ds, decoded{ev: r, c: c})
		}
	}
	m, err := f.fold(ctx, tx, em, ds)
	if err != nil {
		return nil, err
	}
	for o, k := range m {
		n[o] += k
	}
	return n, nil
}
