package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/schemas"
)

// Purchasing answers the purchase orders the reorder service actually sent, as the vendors
// would: it polls the reorder service's GET /v1/purchase-orders?status=open every Poll, and for
// each order whose email has been sent and that it has not seen, it posts a delivery to the POS dock API (POST /v1/deliveries,
// with the order's po_number, the path every delivery takes to vendor-deliveries) DeliverAfter
// later, then the vendor's invoice to the reorder service (POST /v1/invoices) InvoiceAfter
// after that. The simulated clock runs at wall-clock speed, so "a few days later" is
// compressed to DeliverAfter (2 minutes by default); received_at is the simulated clock when
// the delivery is posted.
//
// Now and then the vendor gets it wrong, drawn from a random source of its own (seeded from
// Seed): about ShortShare (1 in 10) of the deliveries bring one line a pack (or a quarter) short,
// OverShare (1 in 20) one line a pack over, and PriceShare (1 in 10) of the invoices bill one
// line 5% above the order's unit cost. An invoice bills what was delivered, so the reorder
// service's three-way match holds the short, over and mispriced ones and approves the rest.
//
// When the reorder service does not answer, the rest of the simulator keeps going: Purchasing
// logs it once (and again when it answers), counts the failed polls, and tries again at the next
// poll. A delivery or invoice that fails is retried on the next poll, up to 5 times.
type Purchasing struct {
	// POSURL is the POS service (the dock API); required.
	POSURL string
	// ReorderURL is the reorder service; required.
	ReorderURL string
	// Client sends the requests (default: a client with a 10 s timeout).
	Client *http.Client
	// Poll is how often the open orders are read and due work is posted (default 5 s).
	Poll time.Duration
	// DeliverAfter is the time from seeing an order to its delivery (default 2 minutes).
	DeliverAfter time.Duration
	// InvoiceAfter is the time from a delivery to its invoice (default 30 s).
	InvoiceAfter time.Duration
	// ShortShare, OverShare and PriceShare are the shares of short and over deliveries and
	// mispriced invoices (defaults 0.1, 0.05, 0.1; negative: none).
	ShortShare, OverShare, PriceShare float64
	// Seed seeds the vendors' mistakes.
	Seed uint64
	// Now is the simulated clock (default time.Now).
	Now func() time.Time
	// Logger receives progress and failures (default slog.Default()).
	Logger *slog.Logger
	// OnDelivered, when set, is called (from Run's goroutine) with each delivery the POS
	// accepted: its store and the units delivered per SKU. The command hands it to the
	// generator's Restock, so the simulated shelves refill from the purchase orders.
	OnDelivered func(storeID string, lines []schemas.QtyLine)

	stats purchasingCounters
}

// PurchasingStats counts what Purchasing did.
type PurchasingStats struct {
	Orders       int64 `json:"orders"`        // open orders seen
	Deliveries   int64 `json:"deliveries"`    // deliveries the POS accepted
	Short        int64 `json:"short"`         // of them, short
	Over         int64 `json:"over"`          // of them, over
	Invoices     int64 `json:"invoices"`      // invoices the reorder service accepted
	Mispriced    int64 `json:"mispriced"`     // of them, mispriced
	Failed       int64 `json:"failed"`        // deliveries and invoices given up on
	PollFailures int64 `json:"poll_failures"` // polls the reorder service did not answer
}

type purchasingCounters struct {
	orders, deliveries, short, over, invoices, mispriced, failed, pollFailures atomic.Int64
}

// Stats returns the counters so far; safe to call while Run is running.
func (p *Purchasing) Stats() PurchasingStats {
	c := &p.stats
	return PurchasingStats{Orders: c.orders.Load(), Deliveries: c.deliveries.Load(), Short: c.short.Load(), Over: c.over.Load(),
		Invoices: c.invoices.Load(), Mispriced: c.mispriced.Load(), Failed: c.failed.Load(), PollFailures: c.pollFailures.Load()}
}

// OpenOrder is a purchase order as GET /v1/purchase-orders shows it (the fields used here).
type OpenOrder struct {
	PONumber string      `json:"po_number"`
	StoreID  string      `json:"store_id"`
	VendorID string      `json:"vendor_id"`
	Lines    []OrderLine `json:"lines"`
	// EmailSentAt is when the order's email went to the vendor; a vendor knows of an order
	// only from then on.
	EmailSentAt *time.Time `json:"email_sent_at"`
}

// OrderLine is one line of an OpenOrder.
type OrderLine struct {
	SKU           string `json:"sku"`
	Qty           int64  `json:"qty"`
	UnitCostCents int64  `json:"unit_cost_cents"`
}

// VendorPlan is what a vendor does with one order: the units it delivers per line and the unit
// cost it invoices per line.
type VendorPlan struct {
	Delivered   []int64
	InvoiceCost []int64
	Short, Over bool
	Mispriced   bool
}

// Plan draws what the vendor does with o, from rng: one line short or over now and then (by
// a pack of 12 or a quarter of the line, whichever is smaller, at least one unit), one line
// billed 5% high now and then.
func Plan(o OpenOrder, rng *rand.Rand, short, over, price float64) VendorPlan {
	v := VendorPlan{Delivered: make([]int64, len(o.Lines)), InvoiceCost: make([]int64, len(o.Lines))}
	for i, l := range o.Lines {
		v.Delivered[i], v.InvoiceCost[i] = l.Qty, l.UnitCostCents
	}
	if len(o.Lines) == 0 {
		return v
	}
	r := rng.Float64()
	i := rng.IntN(len(o.Lines))
	off := max(min(12, o.Lines[i].Qty/4), 1)
	switch {
	case r < short && o.Lines[i].Qty > off:
		v.Delivered[i] -= off
		v.Short = true
	case r >= short && r < short+over:
		v.Delivered[i] += off
		v.Over = true
	}
	if rng.Float64() < price {
		j := rng.IntN(len(o.Lines))
		v.InvoiceCost[j] = o.Lines[j].UnitCostCents*105/100 + 1
		v.Mispriced = true
	}
	return v
}

// vendorJob is a delivery or an invoice due at a time.
type vendorJob struct {
	at       time.Time
	order    OpenOrder
	plan     VendorPlan
	invoice  bool
	attempts int
}

func (p *Purchasing) defaults() {
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if p.Poll <= 0 {
		p.Poll = 5 * time.Second
	}
	if p.DeliverAfter <= 0 {
		p.DeliverAfter = 2 * time.Minute
	}
	if p.InvoiceAfter <= 0 {
		p.InvoiceAfter = 30 * time.Second
	}
	if p.ShortShare == 0 {
		p.ShortShare = 0.1
	}
	if p.OverShare == 0 {
		p.OverShare = 0.05
	}
	if p.PriceShare == 0 {
		p.PriceShare = 0.1
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
}

// Run answers orders until ctx ends and returns the counters. It never fails because the
// reorder service or the POS is down.
func (p *Purchasing) Run(ctx context.Context) PurchasingStats {
	p.defaults()
	rng := rand.New(rand.NewPCG(p.Seed^0x9e3779b97f4a7c15, p.Seed+0x632be59bd9b4e019))
	seen := map[string]bool{}
	var jobs []*vendorJob
	down := false
	t := time.NewTicker(p.Poll)
	defer t.Stop()
	for {
		orders, err := p.openOrders(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.stats.pollFailures.Add(1)
			if !down {
				p.Logger.Warn("the reorder service does not answer: no deliveries for purchase orders until it does; the rest of the simulation goes on",
					"reorder_url", p.ReorderURL, "err", err)
				down = true
			}
		case err == nil:
			if down {
				p.Logger.Info("the reorder service answers again: delivering its purchase orders", "reorder_url", p.ReorderURL)
				down = false
			}
			for _, o := range orders {
				if seen[o.PONumber] || o.EmailSentAt == nil {
					continue
				}
				seen[o.PONumber] = true
				p.stats.orders.Add(1)
				jobs = append(jobs, &vendorJob{at: time.Now().Add(p.DeliverAfter), order: o,
					plan: Plan(o, rng, max(p.ShortShare, 0), max(p.OverShare, 0), max(p.PriceShare, 0))})
			}
		}
		kept := jobs[:0]
		for _, j := range jobs {
			if ctx.Err() != nil || time.Now().Before(j.at) {
				kept = append(kept, j)
				continue
			}
			if err := p.do(ctx, j); err != nil {
				if j.attempts++; j.attempts < 5 {
					kept = append(kept, j)
					continue
				}
				p.stats.failed.Add(1)
				p.Logger.Warn("giving up on a purchase order's delivery or invoice", "po_number", j.order.PONumber, "invoice", j.invoice, "err", err)
				continue
			}
			if !j.invoice {
				kept = append(kept, &vendorJob{at: time.Now().Add(p.InvoiceAfter), order: j.order, plan: j.plan, invoice: true})
			}
		}
		jobs = kept
		select {
		case <-ctx.Done():
			return p.Stats()
		case <-t.C:
		}
	}
}

// openOrders reads the open purchase orders.
func (p *Purchasing) openOrders(ctx context.Context) ([]OpenOrder, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.ReorderURL, "/")+"/v1/purchase-orders?status=open&limit=1000", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET purchase orders: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		PurchaseOrders []OpenOrder `json:"purchase_orders"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET purchase orders: %w", err)
	}
	return out.PurchaseOrders, nil
}

// do posts a job's delivery (to the POS) or invoice (to the reorder service).
func (p *Purchasing) do(ctx context.Context, j *vendorJob) error {
	o := j.order
	if !j.invoice {
		body := map[string]any{"delivery_id": uuid.NewSHA1(uuid.NameSpaceOID, []byte("delivery/"+o.PONumber)).String(),
			"store_id": o.StoreID, "vendor_id": o.VendorID, "po_number": o.PONumber,
			"received_at": p.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)}
		var lines []map[string]any
		var units []schemas.QtyLine
		for i, l := range o.Lines {
			lines = append(lines, map[string]any{"sku": l.SKU, "qty": j.plan.Delivered[i]})
			units = append(units, schemas.QtyLine{SKU: l.SKU, Qty: j.plan.Delivered[i]})
		}
		body["lines"] = lines
		if err := p.post(ctx, strings.TrimRight(p.POSURL, "/")+"/v1/deliveries", body); err != nil {
			return err
		}
		if p.OnDelivered != nil {
			p.OnDelivered(o.StoreID, units)
		}
		p.stats.deliveries.Add(1)
		if j.plan.Short {
			p.stats.short.Add(1)
		}
		if j.plan.Over {
			p.stats.over.Add(1)
		}
		return nil
	}
	var lines []map[string]any
	for i, l := range o.Lines {
		lines = append(lines, map[string]any{"sku": l.SKU, "qty": j.plan.Delivered[i], "unit_cost_cents": j.plan.InvoiceCost[i]})
	}
	body := map[string]any{"invoice_id": "INV-" + strings.TrimPrefix(o.PONumber, "PO-"), "vendor_id": o.VendorID, "po_number": o.PONumber, "lines": lines}
	if err := p.post(ctx, strings.TrimRight(p.ReorderURL, "/")+"/v1/invoices", body); err != nil {
		return err
	}
	p.stats.invoices.Add(1)
	if j.plan.Mispriced {
		p.stats.mispriced.Add(1)
	}
	return nil
}

func (p *Purchasing) post(ctx context.Context, url string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return errors.New("post " + url + ": " + resp.Status + ": " + string(bytes.TrimSpace(msg)))
	}
	return nil
}
