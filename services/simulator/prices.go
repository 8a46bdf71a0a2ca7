package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/freshmart/platform/schemas"
)

// DefaultStaleEvery is how many sale lines a PriceBook charges at the price in force for each
// one it charges at a stale price (Prices.StaleEvery).
const DefaultStaleEvery = 2000

// Prices is what the lanes charge: the prices in force of the pricing service (GET
// /v1/prices?store_id= for every SKU of a store, promotions included), read again every Every.
// Until the first read, and whenever the pricing service does not answer, a line keeps the
// price the generator gave it (the catalog's) and the log says so once; the prices last read
// are kept through an outage. About one line in StaleEvery is charged a stale price on
// purpose, as a lane whose price file is behind would: the price this Prices read before the
// current one, else the regular price during a promotion, else the catalog's, or, when all
// of those equal the price in force, ten cents more (a mis-keyed price). Those are the
// mismatches the pricing service's price-accuracy check is there to find.
type Prices struct {
	// URL is the pricing service, e.g. "http://127.0.0.1:8084"; required.
	URL string
	// Stores are the store ids to read prices for; required.
	Stores []string
	// Client sends the requests (default: a client with a 5 s timeout).
	Client *http.Client
	// Every is how often the prices are read again (default 3 s).
	Every time.Duration
	// StaleEvery is one over the share of lines charged a stale price (default
	// DefaultStaleEvery; negative: never).
	StaleEvery int
	// Logger receives the outages and recoveries (default slog.Default()).
	Logger *slog.Logger
	// Seed seeds the choice of stale lines.
	Seed uint64

	mu      sync.Mutex
	rng     *rand.Rand
	now     map[priceKey]priceInForce
	before  map[priceKey]int64 // the price in force before the current one, when it changed
	down    bool               // the last read failed
	stale   int64
	charged int64
}

type priceKey struct{ store, sku string }

type priceInForce struct{ price, regular int64 }

// storePrices is the part of the pricing service's answer the simulator reads.
type storePrices struct {
	Prices []struct {
		SKU               string `json:"sku"`
		PriceCents        int64  `json:"price_cents"`
		RegularPriceCents int64  `json:"regular_price_cents"`
	} `json:"prices"`
}

func (p *Prices) defaults() {
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if p.Every <= 0 {
		p.Every = 3 * time.Second
	}
	if p.StaleEvery == 0 {
		p.StaleEvery = DefaultStaleEvery
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.rng == nil {
		p.rng = rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	}
}

// Refresh reads every store's prices once. On failure it keeps the prices it had and logs
// the outage (once, until a read succeeds again).
func (p *Prices) Refresh(ctx context.Context) error {
	p.mu.Lock()
	p.defaults()
	p.mu.Unlock()
	read := map[priceKey]priceInForce{}
	var err error
	for _, s := range p.Stores {
		if err = p.readStore(ctx, s, read); err != nil {
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if !p.down || p.now == nil {
			if p.now == nil {
				p.Logger.Warn("pricing service unreachable: charging the catalog's prices until it answers", "pricing_url", p.URL, "err", err)
			} else {
				p.Logger.Warn("pricing service unreachable: charging the prices last read until it answers", "pricing_url", p.URL, "err", err)
			}
		}
		p.down = true
		return err
	}
	if p.down || p.now == nil {
		p.Logger.Info("charging the prices in force of the pricing service", "pricing_url", p.URL, "prices", len(read))
	}
	p.down = false
	if p.before == nil {
		p.before = map[priceKey]int64{}
	}
	for k, v := range read {
		if old, ok := p.now[k]; ok && old.price != v.price {
			p.before[k] = old.price
		}
	}
	p.now = read
	return nil
}

func (p *Prices) readStore(ctx context.Context, store string, into map[priceKey]priceInForce) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(p.URL, "/")+"/v1/prices?store_id="+url.QueryEscape(store), nil)
	if err != nil {
		return err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/prices?store_id=%s: %s", store, resp.Status)
	}
	var sp storePrices
	if err := json.NewDecoder(resp.Body).Decode(&sp); err != nil {
		return fmt.Errorf("GET /v1/prices?store_id=%s: %w", store, err)
	}
	for _, l := range sp.Prices {
		into[priceKey{store, l.SKU}] = priceInForce{price: l.PriceCents, regular: l.RegularPriceCents}
	}
	return nil
}

// Run refreshes the prices every Every until ctx ends.
func (p *Prices) Run(ctx context.Context) {
	p.mu.Lock()
	p.defaults()
	every := p.Every
	p.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.Refresh(ctx) //nolint:errcheck // logged by Refresh; the prices last read stay
		}
	}
}

// Charge sets each line of s to the price the lane charges (see Prices) and the sale's total
// and payment to match. Lines of SKUs it has no price for keep theirs.
func (p *Prices) Charge(s *schemas.SaleCompleted) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.defaults()
	if p.now == nil {
		return
	}
	s.TotalCents = 0
	for i := range s.Lines {
		l := &s.Lines[i]
		k := priceKey{s.StoreID, l.SKU}
		if cur, ok := p.now[k]; ok {
			catalogPrice := l.UnitPriceCents
			l.UnitPriceCents = cur.price
			if p.StaleEvery > 0 && p.rng.IntN(p.StaleEvery) == 0 {
				l.UnitPriceCents = p.staleFor(k, cur, catalogPrice)
				p.stale++
			}
			p.charged++
		}
		s.TotalCents += l.Qty * l.UnitPriceCents
	}
	s.Payment.AmountCents = s.TotalCents
}

func (p *Prices) staleFor(k priceKey, cur priceInForce, catalogPrice int64) int64 {
	for _, c := range []int64{p.before[k], cur.regular, catalogPrice} {
		if c > 0 && c != cur.price {
			return c
		}
	}
	return cur.price + 10
}

// Stale returns how many lines were charged at the price in force and how many of them at a
// stale price on purpose.
func (p *Prices) Stale() (charged, stale int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.charged, p.stale
}
