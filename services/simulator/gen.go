package simulator

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/schemas"
)

// Default rates per store at a rate multiplier of 1.
const (
	DefaultSalesPerMinute    = 50.0
	DefaultCountsPerMinute   = 20.0
	DefaultDeliveriesPerHour = 5.0
	// DefaultComplaintsPerMinute is the background complaints per store per minute (3 a minute
	// for the chain's six stores).
	DefaultComplaintsPerMinute = 0.5
)

// DefaultBadBatchEvery is the mean time between bad batches of fresh produce at a rate
// multiplier of 1, over all the simulated stores.
const DefaultBadBatchEvery = 30 * time.Minute

// Defaults of the voids (Config.Voids).
const (
	// DefaultVoidShare is the share of sales voided: 1 in 200.
	DefaultVoidShare = 1.0 / 200
	// DefaultVoidDelay is the mean (simulated) time from a sale to its void.
	DefaultVoidDelay = 4 * time.Minute
)

// Config describes what a Generator simulates.
type Config struct {
	Stores   []Store   // the stores to simulate; required
	Products []Product // the catalog; required
	Seed     uint64    // the same seed and Start give the same stream
	Start    time.Time // the simulated clock's start; required
	// Rate multiplies every rate (default 1; 100 is a "Black Friday").
	Rate float64
	// SalesPerMinute is the average sales per store per minute over a day at Rate 1 (default 50).
	SalesPerMinute float64
	// CountsPerMinute is the warehouse counts per store per minute at Rate 1 (default 20).
	CountsPerMinute float64
	// DeliveriesPerHour is the deliveries per store per hour at Rate 1 (default 5); unused
	// with Purchasing.
	DeliveriesPerHour float64
	// Purchasing says the chain buys through its purchasing: the reorder service orders from
	// low-stock alerts and the vendors (Purchasing) deliver those orders. The stream then has no
	// deliveries of its own (a delivery with an invented PO number would be a mismatch), and
	// the shelves refill only from what is handed to Restock. Without it the generator's
	// scheduled trucks restock the shelves, their deliveries naming no purchase order.
	Purchasing bool
	// Complaints makes the stream include customer complaints (see complaints.go); without it
	// the stream has none.
	Complaints bool
	// ComplaintsPerMinute is the background complaints per store per minute at Rate 1
	// (default 0.5: 3 a minute for the chain's six stores).
	ComplaintsPerMinute float64
	// BadBatchEvery is the mean time between bad batches of fresh produce at Rate 1 (default
	// 30m; each gap is drawn between 2/3 and 4/3 of it); negative means none.
	BadBatchEvery time.Duration
	// Voids makes the stream void some of its sales a few minutes after them (see voids.go);
	// without it the stream has none.
	Voids bool
	// VoidShare is the share of sales voided, above 0 and at most 1 (default 1/200).
	VoidShare float64
	// VoidDelay is the mean simulated time from a sale to its void (default 4m; each delay is
	// drawn between half and one and a half times it).
	VoidDelay time.Duration
}

// hourCurve is the relative sales rate by local hour: quiet nights, a lunch peak and a bigger
// after-work peak. It is scaled so that its mean is 1.
var hourCurve = func() [24]float64 {
	c := [24]float64{
		0.10, 0.05, 0.05, 0.05, 0.10, 0.20, // 00-05
		0.45, 0.75, 0.90, 0.95, 1.05, 1.40, // 06-11
		1.75, 1.50, 1.00, 0.95, 1.15, 1.65, // 12-17
		1.90, 1.55, 1.05, 0.75, 0.45, 0.20, // 18-23
	}
	var sum float64
	for _, v := range c {
		sum += v
	}
	for i := range c {
		c[i] *= 24 / sum
	}
	return c
}()

var hourCurveMax = func() float64 {
	m := 0.0
	for _, v := range hourCurve {
		m = math.Max(m, v)
	}
	return m
}()

// departmentWeight is the share of basket lines a department gets, by keyword in its name.
// Unknown departments get the default weight.
func departmentWeight(dept string) float64 {
	d := strings.ToLower(dept)
	for _, w := range []struct {
		key    string
		weight float64
	}{
		{"produce", 18}, {"dairy", 14}, {"pantry", 13}, {"beverage", 11}, {"meat", 10},
		{"bakery", 9}, {"frozen", 8}, {"snack", 8}, {"deli", 7}, {"household", 5}, {"personal", 4},
	} {
		if strings.Contains(d, w.key) {
			return w.weight
		}
	}
	return 6
}

// Generator produces the event stream of a Config. It is not safe for concurrent use, except
// Restock, which any goroutine may call at any time.
type Generator struct {
	cfg      Config
	rng      *rand.Rand
	products []Product
	depts    []deptPick // cumulative weights
	vendors  []vendorGroup
	stores   []*storeState
	queue    arrivals
	lambda   [3]float64    // arrivals per second per store: candidate sales (at the curve's max), counts, deliveries
	comp     *complaintGen // nil without complaints
	voids    *voidGen      // nil without voids

	restockMu sync.Mutex
	restocks  []restock // handed to Restock, applied before the next event
}

// restock is one delivery handed to Restock.
type restock struct {
	storeID string
	lines   []schemas.QtyLine
}

type deptPick struct {
	cum      float64
	products []int
}

type vendorGroup struct {
	id       string
	products []int
}

type storeState struct {
	store  Store
	onHand []int
	wanted []int // units shoppers asked for since the product's last delivery, sold or not

	nextVendor int // rotation for top-up deliveries
}

// New checks cfg and returns a Generator at the start of its stream.
func New(cfg Config) (*Generator, error) {
	if len(cfg.Stores) == 0 {
		return nil, errors.New("simulator: no stores to simulate")
	}
	if len(cfg.Products) == 0 {
		return nil, errors.New("simulator: no products in the catalog")
	}
	if cfg.Start.IsZero() {
		return nil, errors.New("simulator: no start time")
	}
	if cfg.Rate == 0 {
		cfg.Rate = 1
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("simulator: rate multiplier %v must be a positive number", cfg.Rate)
	}
	if cfg.SalesPerMinute == 0 {
		cfg.SalesPerMinute = DefaultSalesPerMinute
	}
	if cfg.CountsPerMinute == 0 {
		cfg.CountsPerMinute = DefaultCountsPerMinute
	}
	if cfg.DeliveriesPerHour == 0 {
		cfg.DeliveriesPerHour = DefaultDeliveriesPerHour
	}
	if cfg.ComplaintsPerMinute == 0 {
		cfg.ComplaintsPerMinute = DefaultComplaintsPerMinute
	}
	if cfg.BadBatchEvery == 0 {
		cfg.BadBatchEvery = DefaultBadBatchEvery
	}
	if cfg.ComplaintsPerMinute < 0 || math.IsNaN(cfg.ComplaintsPerMinute) || math.IsInf(cfg.ComplaintsPerMinute, 0) {
		return nil, fmt.Errorf("simulator: complaints per minute %v must be a positive number", cfg.ComplaintsPerMinute)
	}
	if cfg.VoidShare == 0 {
		cfg.VoidShare = DefaultVoidShare
	}
	if cfg.VoidDelay == 0 {
		cfg.VoidDelay = DefaultVoidDelay
	}
	if !(cfg.VoidShare > 0 && cfg.VoidShare <= 1) {
		return nil, fmt.Errorf("simulator: void share %v must be above 0 and at most 1", cfg.VoidShare)
	}
	if cfg.VoidDelay < 0 {
		return nil, fmt.Errorf("simulator: void delay %s must be positive", cfg.VoidDelay)
	}
	g := &Generator{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		products: append([]Product(nil), cfg.Products...),
	}
	// Order the catalog so the stream does not depend on the order the caller listed it in.
	sort.Slice(g.products, func(i, j int) bool { return g.products[i].SKU < g.products[j].SKU })
	byDept := map[string][]int{}
	byVendor := map[string][]int{}
	for i, p := range g.products {
		if p.SKU == "" {
			return nil, fmt.Errorf("simulator: product %d has no SKU", i)
		}
		byDept[p.Department] = append(byDept[p.Department], i)
		byVendor[p.VendorID] = append(byVendor[p.VendorID], i)
	}
	deptNames := make([]string, 0, len(byDept))
	for d := range byDept {
		deptNames = append(deptNames, d)
	}
	sort.Strings(deptNames)
	var cum float64
	for _, d := range deptNames {
		cum += departmentWeight(d)
		g.depts = append(g.depts, deptPick{cum: cum, products: byDept[d]})
	}
	vendorIDs := make([]string, 0, len(byVendor))
	for v := range byVendor {
		vendorIDs = append(vendorIDs, v)
	}
	sort.Strings(vendorIDs)
	for _, v := range vendorIDs {
		g.vendors = append(g.vendors, vendorGroup{id: v, products: byVendor[v]})
	}
	stores := append([]Store(nil), cfg.Stores...)
	sort.Slice(stores, func(i, j int) bool { return stores[i].ID < stores[j].ID })
	for _, s := range stores {
		if s.Location == nil {
			s.Location = time.UTC
		}
		st := &storeState{store: s, onHand: make([]int, len(g.products)), wanted: make([]int, len(g.products))}
		for i, p := range g.products {
			st.onHand[i] = max(p.InitialStock, 0)
		}
		g.stores = append(g.stores, st)
	}
	g.lambda = [3]float64{
		cfg.SalesPerMinute * cfg.Rate * hourCurveMax / 60,
		cfg.CountsPerMinute * cfg.Rate / 60,
		cfg.DeliveriesPerHour * cfg.Rate / 3600,
	}
	for si := range g.stores {
		for k := KindSale; k <= KindDelivery; k++ {
			if k == KindDelivery && cfg.Purchasing {
				continue
			}
			g.queue = append(g.queue, arrival{at: g.after(0, k), store: si, kind: k})
		}
	}
	heap.Init(&g.queue)
	if cfg.Complaints {
		g.comp = newComplaintGen(g)
	}
	if cfg.Voids {
		g.voids = newVoidGen(g)
	}
	return g, nil
}

// after returns the offset of the next candidate arrival of kind k after offset from.
func (g *Generator) after(from time.Duration, k Kind) time.Duration {
	gap := g.rng.ExpFloat64() / g.lambda[k]
	return from + time.Duration(gap*float64(time.Second))
}

// Next returns the next event of the stream. The stream never ends.
func (g *Generator) Next() Event {
	g.applyRestocks()
	for {
		// Complaints and voids come from random sources of their own, so they leave the rest
		// of the stream as it is without them; at the same time the store events go first,
		// then complaints, then voids.
		next, from := g.queue[0].at, KindSale
		if g.comp != nil {
			if t := g.comp.peek(); t < next {
				next, from = t, KindComplaint
			}
		}
		if g.voids != nil && g.voids.peek() < next {
			from = KindVoid
		}
		switch from {
		case KindComplaint:
			return g.comp.next()
		case KindVoid:
			return g.voids.next()
		}
		a := heap.Pop(&g.queue).(arrival)
		heap.Push(&g.queue, arrival{at: g.after(a.at, a.kind), store: a.store, kind: a.kind})
		at := g.cfg.Start.Add(a.at).UTC()
		st := g.stores[a.store]
		var ev *Event
		switch a.kind {
		case KindSale:
			// Thinning: candidates come at the peak rate; keep each with the curve's share.
			hour := at.In(st.store.Location).Hour()
			if g.rng.Float64()*hourCurveMax >= hourCurve[hour] {
				continue
			}
			ev = g.sale(st, at)
			if ev != nil && g.voids != nil {
				g.voids.saw(ev, a.at)
			}
		case KindCount:
			ev = g.count(st, at)
		case KindDelivery:
			ev = g.delivery(st, at)
		}
		if ev != nil {
			return *ev
		}
	}
}

func (g *Generator) id() string { return newID(g.rng) }

// newID returns a version 4 UUID drawn from rng.
func newID(rng *rand.Rand) string {
	var u uuid.UUID
	hi, lo := rng.Uint64(), rng.Uint64()
	for i := range 8 {
		u[i] = byte(hi >> (56 - 8*i))
		u[8+i] = byte(lo >> (56 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// basketSize draws how many distinct lines a basket has: mostly small, a long tail of big shops.
func (g *Generator) basketSize() int {
	return min(1+int(g.rng.ExpFloat64()*5), 40)
}

func (g *Generator) lineQty() int {
	switch r := g.rng.Float64(); {
	case r < 0.75:
		return 1
	case r < 0.93:
		return 2
	case r < 0.98:
		return 3
	default:
		return 4 + g.rng.IntN(3)
	}
}

func (g *Generator) pickProduct() int {
	r := g.rng.Float64() * g.depts[len(g.depts)-1].cum
	d := sort.Search(len(g.depts), func(i int) bool { return g.depts[i].cum > r })
	d = min(d, len(g.depts)-1)
	ps := g.depts[d].products
	return ps[g.rng.IntN(len(ps))]
}

func (g *Generator) sale(st *storeState, at time.Time) *Event {
	n := g.basketSize()
	s := &schemas.SaleCompleted{
		SaleID:     g.id(),
		StoreID:    st.store.ID,
		Register:   fmt.Sprintf("R%02d", 1+g.rng.IntN(8)),
		OccurredAt: stamp(at),
	}
	lineOf := map[int]int{} // product -> index in s.Lines
	for range n {
		// A shopper skips what is not on the shelf and picks something else, a few times.
		for range 4 {
			p := g.pickProduct()
			want := g.lineQty()
			st.wanted[p] += want
			if st.onHand[p] <= 0 {
				continue
			}
			q := min(want, st.onHand[p])
			st.onHand[p] -= q
			if li, ok := lineOf[p]; ok {
				s.Lines[li].Qty += int64(q)
			} else {
				lineOf[p] = len(s.Lines)
				s.Lines = append(s.Lines, schemas.SaleLine{SKU: g.products[p].SKU, Qty: int64(q), UnitPriceCents: g.products[p].PriceCents})
			}
			break
		}
	}
	if len(s.Lines) == 0 {
		return nil
	}
	if g.rng.Float64() < 0.45 {
		s.LoyaltyID = fmt.Sprintf("LOY-%06d", g.rng.IntN(20000))
	}
	switch r := g.rng.Float64(); {
	case r < 0.65:
		s.Payment.Method = "card"
	case r < 0.85:
		s.Payment.Method = "cash"
	default:
		s.Payment.Method = "mobile"
	}
	for _, l := range s.Lines {
		s.TotalCents += l.Qty * l.UnitPriceCents
	}
	s.Payment.AmountCents = s.TotalCents
	return &Event{At: at, Kind: KindSale, StoreID: st.store.ID, Sale: s}
}

func (g *Generator) count(st *storeState, at time.Time) *Event {
	n := min(1+int(g.rng.ExpFloat64()*3), 12)
	c := &schemas.StockCounted{CountID: g.id(), StoreID: st.store.ID, CountedAt: stamp(at)}
	seen := map[int]bool{}
	for range n {
		p := g.rng.IntN(len(g.products))
		if seen[p] {
			continue
		}
		seen[p] = true
		q := st.onHand[p]
		if g.rng.Float64() < 0.06 { // shrinkage: damaged, expired or stolen
			q = max(q-1-g.rng.IntN(2), 0)
		}
		st.onHand[p] = q
		c.Lines = append(c.Lines, schemas.QtyLine{SKU: g.products[p].SKU, Qty: int64(q)})
	}
	return &Event{At: at, Kind: KindCount, StoreID: st.store.ID, Count: c}
}

// need is how many units product p of st should receive: enough to reach its opening stock, or
// to cover half as much again as shoppers asked for since the last delivery (sold or not),
// whichever is more. Demand the shelf could not meet counts too, so a SKU that sold out between
// visits is ordered up to what would have lasted, the way a store manager adjusts orders.
func (g *Generator) need(st *storeState, p int) int {
	target := max(g.products[p].InitialStock, st.wanted[p]*3/2)
	return max(target-st.onHand[p], 0)
}

func (g *Generator) delivery(st *storeState, at time.Time) *Event {
	best, bestNeed := -1, 0
	for vi, v := range g.vendors {
		total := 0
		for _, p := range v.products {
			total += g.need(st, p)
		}
		if total > bestNeed {
			best, bestNeed = vi, total
		}
	}
	topUp := best < 0
	if topUp {
		// Nothing is short: the scheduled truck still comes, from the next vendor in turn, with a
		// pack of each of its products.
		best = st.nextVendor % len(g.vendors)
		st.nextVendor++
	}
	v := g.vendors[best]
	d := &schemas.DeliveryReceived{
		DeliveryID: g.id(),
		StoreID:    st.store.ID,
		VendorID:   v.id,
		ReceivedAt: stamp(at),
	}
	for _, p := range v.products {
		need := g.need(st, p)
		if topUp {
			need = 1
		}
		if need == 0 {
			continue
		}
		pack := max(g.products[p].ReorderQty, 1)
		q := (need + pack - 1) / pack * pack
		st.onHand[p] += q
		st.wanted[p] = 0
		d.Lines = append(d.Lines, schemas.QtyLine{SKU: g.products[p].SKU, Qty: int64(q)})
	}
	return &Event{At: at, Kind: KindDelivery, StoreID: st.store.ID, Delivery: d}
}

// Restock adds a delivery's units to the model's shelves of a store (with Config.Purchasing,
// the deliveries of the purchase orders, the only way the shelves refill). It is safe to call
// from any goroutine while another runs the generator: the units are queued under a mutex and
// applied before the generator's next event (or the next OnHand or SetOnHand), so the stream
// itself stays on one goroutine. Unknown stores and SKUs are ignored.
func (g *Generator) Restock(storeID string, lines []schemas.QtyLine) {
	if len(lines) == 0 {
		return
	}
	r := restock{storeID: storeID, lines: append([]schemas.QtyLine(nil), lines...)}
	g.restockMu.Lock()
	g.restocks = append(g.restocks, r)
	g.restockMu.Unlock()
}

// applyRestocks applies the deliveries handed to Restock since the last call.
func (g *Generator) applyRestocks() {
	g.restockMu.Lock()
	rs := g.restocks
	g.restocks = nil
	g.restockMu.Unlock()
	for _, r := range rs {
		var st *storeState
		for _, s := range g.stores {
			if s.store.ID == r.storeID {
				st = s
			}
		}
		if st == nil {
			continue
		}
		for _, l := range r.lines {
			p := g.productIndex(l.SKU)
			if p < 0 || l.Qty <= 0 {
				continue
			}
			st.onHand[p] += int(l.Qty)
			st.wanted[p] = 0
		}
	}
}

// productIndex returns the index of sku in g.products, or -1.
func (g *Generator) productIndex(sku string) int {
	p := sort.Search(len(g.products), func(i int) bool { return g.products[i].SKU >= sku })
	if p == len(g.products) || g.products[p].SKU != sku {
		return -1
	}
	return p
}

// OnHand returns the generator's model of a store's stock of a SKU, and whether both are known.
func (g *Generator) OnHand(storeID, sku string) (int, bool) {
	g.applyRestocks()
	p := g.productIndex(sku)
	if p < 0 {
		return 0, false
	}
	for _, st := range g.stores {
		if st.store.ID == storeID {
			return st.onHand[p], true
		}
	}
	return 0, false
}

type arrival struct {
	at    time.Duration
	store int
	kind  Kind
}

// arrivals is a min-heap ordered by time, then store, then kind, so ties are deterministic.
type arrivals []arrival

func (a arrivals) Len() int { return len(a) }
func (a arrivals) Less(i, j int) bool {
	if a[i].at != a[j].at {
		return a[i].at < a[j].at
	}
	if a[i].store != a[j].store {
		return a[i].store < a[j].store
	}
	return a[i].kind < a[j].kind
}
func (a arrivals) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *arrivals) Push(x any)   { *a = append(*a, x.(arrival)) }
func (a *arrivals) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

// SetOnHand sets the model's stock of a SKU in a store, e.g. from the inventory service's view
// before a run, so that a restarted simulator carries on from the stores' real shelves. It
// reports whether the store and SKU are known.
func (g *Generator) SetOnHand(storeID, sku string, onHand int) bool {
	g.applyRestocks()
	p := g.productIndex(sku)
	if p < 0 {
		return false
	}
	for _, st := range g.stores {
		if st.store.ID == storeID {
			st.onHand[p] = max(onHand, 0)
			return true
		}
	}
	return false
}
