package dashboard

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// ErrUnknownType is returned by decodeEvent for an event type the dashboard does not show.
var ErrUnknownType = errors.New("event type not shown on the dashboard")

// The event payloads the dashboard reads are the platform's shared definitions (package
// schemas).
type (
	// SaleEvent is a sale.completed event.
	SaleEvent = schemas.SaleCompleted
	// VoidEvent is a sale.voided event.
	VoidEvent = schemas.SaleVoided
	// StockLevel is a stock.level event.
	StockLevel = schemas.StockLevel
)

// Alert is an alert.low_stock or alert.restocked event with its type, or one row of the
// inventory API's alerts (which also carries the product's name).
type Alert struct {
	schemas.StockAlert
	// Type is the event type, "alert.low_stock" or "alert.restocked".
	Type string `json:"type"`
	// Name is the product's name; empty in events (filled in from the catalog).
	Name string `json:"name"`
}

// decodeEvent parses the value of a record of type ceType. It returns ErrUnknownType for a type
// the dashboard does not show, and an error naming the problem for a value that is not a valid
// event of its type.
func decodeEvent(ceType string, value []byte) (any, error) {
	var (
		v       any
		storeID *string
	)
	switch ceType {
	case schemas.TypeSaleCompleted:
		e := &SaleEvent{}
		v, storeID = e, &e.StoreID
	case schemas.TypeSaleVoided:
		e := &VoidEvent{}
		v, storeID = e, &e.StoreID
	case schemas.TypeStockLevel:
		e := &StockLevel{}
		v, storeID = e, &e.StoreID
	case schemas.TypeAlertLowStock, schemas.TypeAlertRestocked:
		e := &Alert{Type: ceType}
		v, storeID = e, &e.StoreID
	case schemas.TypeAlertComplaintSpike, schemas.TypeAlertComplaintSpikeUpdated, schemas.TypeAlertComplaintSpikeResolved:
		e := &SpikeEvent{Type: ceType}
		v, storeID = e, &e.StoreID
	case schemas.TypeComplaintFiled:
		e := &ComplaintEvent{}
		v, storeID = e, &e.StoreID
	case schemas.TypeAlertComplaintChainSpike:
		e := &ChainSpikeEvent{}
		v = e
	case schemas.TypeReportDailySales:
		e := &ReportEvent{}
		v = e
	default:
		return nil, fmt.Errorf("%q: %w", ceType, ErrUnknownType)
	}
	if err := json.Unmarshal(value, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", ceType, err)
	}
	if storeID != nil && *storeID == "" {
		return nil, fmt.Errorf("decode %s: no store_id", ceType)
	}
	switch e := v.(type) {
	case *Alert:
		e.Type = ceType
	case *SaleEvent:
		if e.SaleID == "" {
			return nil, fmt.Errorf("decode %s: no sale_id", ceType)
		}
		for i, l := range e.Lines {
			if l.Qty < 0 || l.UnitPriceCents < 0 {
				return nil, fmt.Errorf("decode %s: lines[%d]: negative qty or price", ceType, i)
			}
		}
	case *SpikeEvent:
		if e.AlertID == "" || e.SKU == "" {
			return nil, fmt.Errorf("decode %s: no alert_id or sku", ceType)
		}
		if e.Count < 0 {
			return nil, fmt.Errorf("decode %s: negative count", ceType)
		}
	case *ComplaintEvent:
		if e.ComplaintID == "" {
			return nil, fmt.Errorf("decode %s: no complaint_id", ceType)
		}
	case *ChainSpikeEvent:
		if e.AlertID == "" || e.SKU == "" || len(e.StoreIDs) == 0 {
			return nil, fmt.Errorf("decode %s: no alert_id, sku or store_ids", ceType)
		}
	case *ReportEvent:
		if err := decodeReport(e); err != nil {
			return nil, fmt.Errorf("decode %s: %w", ceType, err)
		}
	}
	return v, nil
}

// TickerSale is one row of the live sales ticker.
type TickerSale struct {
	SaleID     string    `json:"sale_id"`
	StoreID    string    `json:"store_id"`
	StoreName  string    `json:"store_name"`
	Register   string    `json:"register"`
	At         time.Time `json:"at"`
	LocalTime  string    `json:"local_time"` // in the store's time zone, e.g. "3:04:05 PM"
	Items      int       `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Summary    string    `json:"summary"` // e.g. "Bananas, Whole Milk +3 more"
	Payment    string    `json:"payment"`
}

// DeptRevenue is one department's revenue.
type DeptRevenue struct {
	Department string `json:"department"`
	Name       string `json:"name"`
	Cents      int64  `json:"cents"`
}

// Revenue is a store's (or, with an empty StoreID, the chain's) sales of its current local day.
type Revenue struct {
	StoreID    string        `json:"store_id"`
	Day        string        `json:"day"` // YYYY-MM-DD in the store's time zone; empty for the chain
	TotalCents int64         `json:"total_cents"`
	Sales      int           `json:"sales"`
	Items      int           `json:"items"`
	AvgCents   int64         `json:"avg_cents"`
	ByDept     []DeptRevenue `json:"by_dept"` // every department, biggest first
}

// Live folds sale events into per-store revenue of the store's current local day and keeps the
// newest sales for the ticker and the newest alerts. Safe for concurrent use.
type Live struct {
	cat    *catalog.Catalog
	now    func() time.Time
	locs   map[string]*time.Location
	names  map[string]string // store id -> name
	depts  map[string]string // department id -> name
	deptOf map[string]string // sku -> department id
	pname  map[string]string // sku -> product name

	maxSeen int // sale ids remembered per store and day; maxSeenPerDay

	mu     sync.Mutex
	stores map[string]*storeDay
	ticker []TickerSale // chain-wide, newest first
	alerts []Alert      // chain-wide, newest first
}

// tickerLen is how many recent sales and alerts Live keeps.
const tickerLen = 30

// maxSeenPerDay bounds how many sale ids a store's day remembers for dropping duplicates (a
// retried sale produced twice, or the same sale read again after a reconnect). When a day has
// more sales, the oldest ids are forgotten first: a duplicate of a sale that old would be
// counted again, and a void of it is ignored. 200,000 is 100 times a busy store's day.
const maxSeenPerDay = 200_000

type storeDay struct {
	day     string
	total   int64
	sales   int
	items   int
	byDept  map[string]int64
	seen    map[string]saleSum // sales counted today, for dedupe and voids (at most maxSeen)
	order   []string           // ids in seen, oldest first, for forgetting
	maxSeen int
	ticker  []TickerSale
	alerts  []Alert
}

type saleSum struct {
	voided bool
	byDept map[string]int64
	total  int64
	items  int
}

// NewLive returns a Live for the catalog's stores; now is the clock (time.Now when nil).
func NewLive(cat *catalog.Catalog, now func() time.Time) (*Live, error) {
	if now == nil {
		now = time.Now
	}
	l := &Live{cat: cat, now: now, locs: map[string]*time.Location{}, names: map[string]string{},
		depts: map[string]string{}, deptOf: map[string]string{}, pname: map[string]string{},
		stores: map[string]*storeDay{}, maxSeen: maxSeenPerDay}
	for _, s := range cat.Stores() {
		loc, err := s.Location()
		if err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		l.locs[s.StoreID] = loc
		l.names[s.StoreID] = s.Name
	}
	for _, d := range cat.Departments() {
		l.depts[d.ID] = d.Name
	}
	for _, p := range cat.Products() {
		l.deptOf[p.SKU] = p.Department
		l.pname[p.SKU] = p.Name
	}
	return l, nil
}

// DayStart returns the earliest start of the current local day among the stores: reading sales
// from there gives every store's "today".
func (l *Live) DayStart() time.Time {
	now := l.now()
	var first time.Time
	for _, loc := range l.locs {
		t := now.In(loc)
		start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		if first.IsZero() || start.Before(first) {
			first = start
		}
	}
	return first
}

// day returns the store's day record for its current local date, starting a new one when the
// date has changed. Callers hold l.mu.
func (l *Live) day(storeID string) (*storeDay, *time.Location) {
	loc := l.locs[storeID]
	if loc == nil {
		loc = time.UTC
	}
	today := l.now().In(loc).Format(time.DateOnly)
	d := l.stores[storeID]
	if d == nil || d.day != today {
		d = &storeDay{day: today, byDept: map[string]int64{}, seen: map[string]saleSum{}, maxSeen: l.maxSeen}
		l.stores[storeID] = d
	}
	return d, loc
}

// ApplySale counts a sale in its store's revenue if it happened on the store's current local day
// and was not counted before. It returns the ticker row and whether the sale was new.
func (l *Live) ApplySale(s *SaleEvent) (TickerSale, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, loc := l.day(s.StoreID)
	if _, dup := d.seen[s.SaleID]; dup {
		return TickerSale{}, false
	}
	local := s.OccurredAt.In(loc)
	if local.Format(time.DateOnly) != d.day {
		return TickerSale{}, false
	}
	sum := saleSum{byDept: map[string]int64{}}
	var names []string
	for _, ln := range s.Lines {
		cents := int64(ln.Qty) * ln.UnitPriceCents
		dept := cmp.Or(l.deptOf[ln.SKU], "other")
		sum.byDept[dept] += cents
		sum.total += cents
		sum.items += int(ln.Qty)
		names = append(names, cmp.Or(l.pname[ln.SKU], ln.SKU))
	}
	if s.TotalCents > 0 && len(s.Lines) == 0 {
		sum.total = s.TotalCents
	}
	d.remember(s.SaleID, sum)
	d.total += sum.total
	d.sales++
	d.items += sum.items
	for k, v := range sum.byDept {
		d.byDept[k] += v
	}
	summary := strings.Join(names[:min(2, len(names))], ", ")
	if len(names) > 2 {
		summary += fmt.Sprintf(" +%d more", len(names)-2)
	}
	row := TickerSale{
		SaleID: s.SaleID, StoreID: s.StoreID, StoreName: l.names[s.StoreID], Register: s.Register,
		At: s.OccurredAt, LocalTime: local.Format("3:04:05 PM"), Items: sum.items, TotalCents: sum.total,
		Summary: summary, Payment: s.Payment.Method,
	}
	d.ticker = pushFront(d.ticker, row)
	l.ticker = pushFront(l.ticker, row)
	return row, true
}

// remember records a counted sale, forgetting the oldest when the day holds maxSeen ids.
func (d *storeDay) remember(id string, sum saleSum) {
	if len(d.order) >= d.maxSeen {
		delete(d.seen, d.order[0])
		d.order[0] = ""
		d.order = d.order[1:]
	}
	d.seen[id] = sum
	d.order = append(d.order, id)
}

// ApplyVoid takes a voided sale out of its store's revenue. It returns whether anything changed.
func (l *Live) ApplyVoid(v *VoidEvent) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, _ := l.day(v.StoreID)
	sum, ok := d.seen[v.SaleID]
	if !ok || sum.voided {
		return false
	}
	sum.voided = true
	d.seen[v.SaleID] = sum
	d.total -= sum.total
	d.sales--
	d.items -= sum.items
	for k, c := range sum.byDept {
		d.byDept[k] -= c
	}
	return true
}

// ApplyAlert remembers an alert for the feeds.
func (l *Live) ApplyAlert(a *Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.Name == "" {
		a.Name = l.pname[a.SKU]
	}
	d, _ := l.day(a.StoreID)
	d.alerts = pushFront(d.alerts, *a)
	l.alerts = pushFront(l.alerts, *a)
}

func pushFront[T any](s []T, v T) []T {
	s = append(s, v)
	copy(s[1:], s)
	s[0] = v
	if len(s) > tickerLen {
		s = s[:tickerLen]
	}
	return s
}

// Revenue returns a store's figures for its current local day.
func (l *Live) Revenue(storeID string) Revenue {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, _ := l.day(storeID)
	return l.revenue(storeID, d.day, d.total, d.sales, d.items, d.byDept)
}

// ChainRevenue returns the sum of every store's figures for its own current local day.
func (l *Live) ChainRevenue() Revenue {
	l.mu.Lock()
	defer l.mu.Unlock()
	var total int64
	var sales, items int
	by := map[string]int64{}
	for id := range l.locs {
		d, _ := l.day(id)
		total += d.total
		sales += d.sales
		items += d.items
		for k, v := range d.byDept {
			by[k] += v
		}
	}
	return l.revenue("", "", total, sales, items, by)
}

func (l *Live) revenue(storeID, day string, total int64, sales, items int, by map[string]int64) Revenue {
	r := Revenue{StoreID: storeID, Day: day, TotalCents: total, Sales: sales, Items: items}
	if sales > 0 {
		r.AvgCents = total / int64(sales)
	}
	for id, name := range l.depts {
		r.ByDept = append(r.ByDept, DeptRevenue{Department: id, Name: name, Cents: by[id]})
	}
	if c := by["other"]; c != 0 {
		r.ByDept = append(r.ByDept, DeptRevenue{Department: "other", Name: "Other", Cents: c})
	}
	slices.SortFunc(r.ByDept, func(a, b DeptRevenue) int {
		return cmp.Or(cmp.Compare(b.Cents, a.Cents), cmp.Compare(a.Name, b.Name))
	})
	return r
}

// Ticker returns the newest sales of a store, or of the chain when storeID is empty, newest first.
func (l *Live) Ticker(storeID string) []TickerSale {
	l.mu.Lock()
	defer l.mu.Unlock()
	if storeID == "" {
		return slices.Clone(l.ticker)
	}
	d, _ := l.day(storeID)
	return slices.Clone(d.ticker)
}

// Alerts returns the newest alerts seen on the broker since start, of a store or of the chain.
func (l *Live) Alerts(storeID string) []Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	if storeID == "" {
		return slices.Clone(l.alerts)
	}
	d, _ := l.day(storeID)
	return slices.Clone(d.alerts)
}
