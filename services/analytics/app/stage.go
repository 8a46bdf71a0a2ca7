package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/analytics"
	"github.com/freshmart/platform/services/catalog"
)

// errBadEvent is wrapped by the errors of events the stager skips.
var errBadEvent = errors.New("bad event")

// Stager is the extract step: it stages the sale lines and voids of a batch of pos-sales
// events with three set-based statements in one round trip, whatever the batch's size.
type Stager struct {
	zones   map[string]*time.Location
	skus    map[string]bool
	log     *slog.Logger
	counted func(typ, outcome string, n int)
}

// NewStager returns a stager that checks stores and SKUs against cat, logs skipped events on
// log (nil: slog.Default()) and counts its outcomes with counted (nil for none).
func NewStager(cat *catalog.Catalog, log *slog.Logger, counted func(typ, outcome string, n int)) (*Stager, error) {
	st := &Stager{zones: map[string]*time.Location{}, skus: map[string]bool{}, log: log, counted: counted}
	for _, s := range cat.Stores() {
		loc, err := s.Location()
		if err != nil {
			return nil, err
		}
		st.zones[s.StoreID] = loc
	}
	for _, p := range cat.Products() {
		st.skus[p.SKU] = true
	}
	if st.counted == nil {
		st.counted = func(string, string, int) {}
	}
	if st.log == nil {
		st.log = slog.Default()
	}
	return st, nil
}

// handle is the consumer's stream.BatchHandler.
func (st *Stager) handle(ctx context.Context, tx *stream.Tx, evs []events.Event) error {
	return st.Apply(ctx, tx.Tx, evs)
}

// staged is what a batch adds, column by column.
type staged struct {
	saleIDs                     []uuid.UUID
	lineNos                     []int32
	stores                      []string
	dates, occurred             []time.Time
	registers, skus, methods    []string
	qtys, prices                []int64
	loyalty                     []*string
	voidIDs                     []uuid.UUID
	voidStores, voidReasons     []string
	voidedAt                    []time.Time
	dayStores                   []string
	dayDates                    []time.Time
	accepted, rejected, ignored map[string]int
	days                        map[analytics.StoreDay]bool
	voidsSeen, salesSeen        map[uuid.UUID]bool
}

// Apply stages evs in q: every line of every valid sale.completed (a copy of a staged line is
// left as it is), every valid sale.voided (the first void of a sale counts), and a new change
// number for each store-day they touch: the days of the sales, and the days of the sales the
// voids name that are staged already (a void staged before its sale marks the day when the
// sale comes). Events that are not valid are logged, counted and skipped; other types are
// ignored. Only a failed statement is an error.
func (st *Stager) Apply(ctx context.Context, q pgx.Tx, evs []events.Event) error {
	b := staged{accepted: map[string]int{}, rejected: map[string]int{}, ignored: map[string]int{},
		days: map[analytics.StoreDay]bool{}, voidsSeen: map[uuid.UUID]bool{}, salesSeen: map[uuid.UUID]bool{}}
	for _, ev := range evs {
		var err error
		switch ev.Type {
		case schemas.TypeSaleCompleted:
			err = st.sale(&b, ev)
		case schemas.TypeSaleVoided:
			err = st.void(&b, ev)
		default:
			b.ignored[ev.Type]++
			continue
		}
		if err != nil {
			b.rejected[ev.Type]++
			st.log.Warn("skipping event", "type", ev.Type, "topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset, "err", err)
			continue
		}
		b.accepted[ev.Type]++
	}
	keys := make([]analytics.StoreDay, 0, len(b.days))
	for k := range b.days {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, c analytics.StoreDay) int {
		if a.StoreID != c.StoreID {
			if a.StoreID < c.StoreID {
				return -1
			}
			return 1
		}
		return int(a.Date - c.Date)
	})
	for _, k := range keys {
		b.dayStores = append(b.dayStores, k.StoreID)
		b.dayDates = append(b.dayDates, k.Date.Time())
	}
	if len(b.saleIDs) > 0 || len(b.voidIDs) > 0 {
		batch := &pgx.Batch{}
		if len(b.saleIDs) > 0 {
			batch.Queue(sqlStageLines, b.saleIDs, b.lineNos, b.stores, b.dates, b.occurred, b.registers, b.skus,
				b.qtys, b.prices, b.methods, b.loyalty)
		}
		if len(b.voidIDs) > 0 {
			batch.Queue(sqlStageVoids, b.voidIDs, b.voidStores, b.voidedAt, b.voidReasons)
		}
		if b.voidIDs == nil {
			b.voidIDs = []uuid.UUID{}
		}
		batch.Queue(sqlMarkDays, b.dayStores, b.dayDates, b.voidIDs)
		if err := q.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("stage %d lines and %d voids: %w", len(b.saleIDs), len(b.voidIDs), err)
		}
	}
	for typ, n := range b.accepted {
		st.counted(typ, "staged", n)
	}
	for typ, n := range b.rejected {
		st.counted(typ, "rejected", n)
	}
	for typ, n := range b.ignored {
		st.counted(typ, "ignored", n)
	}
	return nil
}

var paymentMethods = map[string]bool{"card": true, "cash": true, "mobile": true}

func (st *Stager) sale(b *staged, ev events.Event) error {
	var s schemas.SaleCompleted
	if err := json.Unmarshal(ev.Data, &s); err != nil {
		return fmt.Errorf("%w: %v", errBadEvent, err)
	}
	id, err := uuid.Parse(s.SaleID)
	if err != nil {
		return fmt.Errorf("%w: sale_id %q: %v", errBadEvent, s.SaleID, err)
	}
	loc, ok := st.zones[s.StoreID]
	switch {
	case !ok:
		return fmt.Errorf("%w: sale %s: unknown store %q", errBadEvent, s.SaleID, s.StoreID)
	case s.OccurredAt.IsZero():
		return fmt.Errorf("%w: sale %s: no occurred_at", errBadEvent, s.SaleID)
	case len(s.Lines) == 0 || len(s.Lines) > 500:
		return fmt.Errorf("%w: sale %s: %d lines", errBadEvent, s.SaleID, len(s.Lines))
	case !paymentMethods[s.Payment.Method]:
		return fmt.Errorf("%w: sale %s: payment method %q", errBadEvent, s.SaleID, s.Payment.Method)
	case s.Register == "":
		return fmt.Errorf("%w: sale %s: no register", errBadEvent, s.SaleID)
	}
	for _, l := range s.Lines {
		switch {
		case !st.skus[l.SKU]:
			return fmt.Errorf("%w: sale %s: unknown SKU %q", errBadEvent, s.SaleID, l.SKU)
		case l.Qty < 1 || l.Qty > 1_000_000:
			return fmt.Errorf("%w: sale %s: SKU %s: quantity %d", errBadEvent, s.SaleID, l.SKU, l.Qty)
		case l.UnitPriceCents < 0 || l.UnitPriceCents > 100_000_000_000:
			return fmt.Errorf("%w: sale %s: SKU %s: unit price %d", errBadEvent, s.SaleID, l.SKU, l.UnitPriceCents)
		}
	}
	if b.salesSeen[id] {
		return nil // a copy within the batch: the statement would skip it anyway
	}
	b.salesSeen[id] = true
	var loyalty *string
	if s.LoyaltyID != "" {
		loyalty = &s.LoyaltyID
	}
	for _, ln := range analytics.LinesOf(s, loc) {
		b.saleIDs = append(b.saleIDs, id)
		b.lineNos = append(b.lineNos, int32(ln.LineNo))
		b.stores = append(b.stores, ln.StoreID)
		b.dates = append(b.dates, ln.Date.Time())
		b.occurred = append(b.occurred, ln.OccurredAt)
		b.registers = append(b.registers, s.Register)
		b.skus = append(b.skus, ln.SKU)
		b.qtys = append(b.qtys, ln.Qty)
		b.prices = append(b.prices, ln.UnitPriceCents)
		b.methods = append(b.methods, ln.Payment)
		b.loyalty = append(b.loyalty, loyalty)
	}
	b.days[analytics.StoreDay{StoreID: s.StoreID, Date: analytics.DateOf(s.OccurredAt, loc)}] = true
	return nil
}

func (st *Stager) void(b *staged, ev events.Event) error {
	var v schemas.SaleVoided
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		return fmt.Errorf("%w: %v", errBadEvent, err)
	}
	id, err := uuid.Parse(v.SaleID)
	if err != nil {
		return fmt.Errorf("%w: sale_id %q: %v", errBadEvent, v.SaleID, err)
	}
	if _, ok := st.zones[v.StoreID]; !ok {
		return fmt.Errorf("%w: void of %s: unknown store %q", errBadEvent, v.SaleID, v.StoreID)
	}
	if v.VoidedAt.IsZero() {
		return fmt.Errorf("%w: void of %s: no voided_at", errBadEvent, v.SaleID)
	}
	if b.voidsSeen[id] {
		return nil
	}
	b.voidsSeen[id] = true
	b.voidIDs = append(b.voidIDs, id)
	b.voidStores = append(b.voidStores, v.StoreID)
	b.voidedAt = append(b.voidedAt, v.VoidedAt.UTC())
	b.voidReasons = append(b.voidReasons, v.Reason)
	return nil
}
