package simulator

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"github.com/freshmart/platform/schemas"
)

// Voids (Config.Voids): about VoidShare of the sales (1 in 200) are voided at the register a
// few minutes after they completed, VoidDelay (4 minutes) on average, each delay drawn between
// half and one and a half times it (2 to 6 minutes), for a reason a cashier gives (customer
// changed mind, price override error, duplicate scan, ...). The void is an event of its own
// (KindVoid) at the simulated time it happens, which is its voided_at: always after the sale's
// occurred_at, and never ahead of the simulated clock. The sale's event says when it will be
// voided (Event.VoidAt), so the Runner knows which sales to wait for: it posts a void only once
// the POS accepted its sale.
//
// Whether a sale is voided, when and why are drawn from a random source of their own (seeded
// from Seed), so the same seed gives the same voids and the rest of the stream is the same with
// voids as without. For the same reason a void does not put its units back on the model's
// shelves (the inventory service does, until the next count of the SKU).
//
// voidGen draws the voids of a Generator.
type voidGen struct {
	g       *Generator
	rng     *rand.Rand
	share   float64
	delay   time.Duration
	pending pendingVoids
	seq     int
}

func newVoidGen(g *Generator) *voidGen {
	cfg := g.cfg
	return &voidGen{
		g:     g,
		rng:   rand.New(rand.NewPCG(cfg.Seed^0x2545f4914f6cdd1d, cfg.Seed+0x61c8864680b583eb)),
		share: cfg.VoidShare,
		delay: cfg.VoidDelay,
	}
}

// saw draws whether the sale ev, at offset at, is voided, and if so schedules its void and
// records its time in ev.VoidAt. It is called for every sale, in the stream's order, so the
// voids of a seed depend on nothing but its sales.
func (v *voidGen) saw(ev *Event, at time.Duration) {
	if v.rng.Float64() >= v.share {
		return
	}
	d := time.Duration((0.5 + v.rng.Float64()) * float64(v.delay))
	reason := pick(v.rng, voidReasons)
	// At least a millisecond, so voided_at (kept to the millisecond) is after occurred_at.
	at += max(d, time.Millisecond)
	t := v.g.cfg.Start.Add(at).UTC()
	ev.VoidAt = t
	s := ev.Sale
	v.seq++
	heap.Push(&v.pending, pendingVoid{at: at, seq: v.seq, ev: Event{At: t, Kind: KindVoid, StoreID: s.StoreID,
		Void: &schemas.SaleVoided{SaleID: s.SaleID, StoreID: s.StoreID, VoidedAt: stamp(t), Reason: reason}}})
}

// peek returns the offset of the next void (the largest Duration when none is due).
func (v *voidGen) peek() time.Duration {
	if len(v.pending) == 0 {
		return 1<<63 - 1
	}
	return v.pending[0].at
}

// next returns the next void; there must be one (peek).
func (v *voidGen) next() Event { return heap.Pop(&v.pending).(pendingVoid).ev }

// voidRequest is the body of POST /v1/sales/{sale_id}/void: the POS takes the sale's store from
// the sale it accepted.
type voidRequest struct {
	Reason   string    `json:"reason"`
	VoidedAt time.Time `json:"voided_at"`
}

// pendingVoid is a void due at offset at; seq orders voids due at the same time.
type pendingVoid struct {
	at  time.Duration
	seq int
	ev  Event
}

// pendingVoids is a min-heap by time, then scheduling order.
type pendingVoids []pendingVoid

func (p pendingVoids) Len() int { return len(p) }
func (p pendingVoids) Less(i, j int) bool {
	if p[i].at != p[j].at {
		return p[i].at < p[j].at
	}
	return p[i].seq < p[j].seq
}
func (p pendingVoids) Swap(i, j int) { p[i], p[j] = p[j], p[i] }
func (p *pendingVoids) Push(x any)   { *p = append(*p, x.(pendingVoid)) }
func (p *pendingVoids) Pop() any {
	old := *p
	x := old[len(old)-1]
	*p = old[:len(old)-1]
	return x
}

// voidReasons are what a cashier or supervisor types when voiding a completed sale.
var voidReasons = []weighted[string]{
	{"customer changed mind", 24},
	{"price override error", 14},
	{"duplicate scan", 16},
	{"wrong item scanned", 12},
	{"wrong quantity entered", 10},
	{"customer disputed price at register", 8},
	{"card payment reversed by customer", 5},
	{"loyalty card applied to wrong customer", 4},
	{"coupon not applied, sale re-rung", 5},
	{"training transaction", 2},
}
