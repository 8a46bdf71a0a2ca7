package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Probe measures how long a sale takes from the POS's 202 to its appearance on the dashboard's
// live websocket. Feed it accepted sales with Accepted (e.g. from Runner.OnAccepted) and run
// Watch against the dashboard's /ws.
type Probe struct {
	mu       sync.Mutex
	accepted map[string]time.Time // accepted, not yet seen
	seen     map[string]time.Time // seen before its 202 was recorded
	lat      []time.Duration
}

// NewProbe returns an empty Probe.
func NewProbe() *Probe {
	return &Probe{accepted: map[string]time.Time{}, seen: map[string]time.Time{}}
}

// Accepted records that the POS accepted sale id at time at.
func (p *Probe) Accepted(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.seen[id]; ok {
		// The dashboard was faster than the goroutine that records the 202.
		delete(p.seen, id)
		p.lat = append(p.lat, max(s.Sub(at), 0))
		return
	}
	p.accepted[id] = at
}

func (p *Probe) observe(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.accepted[id]; ok {
		delete(p.accepted, id)
		p.lat = append(p.lat, max(at.Sub(a), 0))
		return
	}
	if len(p.seen) < 1_000_000 {
		p.seen[id] = at
	}
}

// Watch reads the dashboard's websocket at url (ws://host:port/ws) until ctx is done.
func (p *Probe) Watch(ctx context.Context, url string) error {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("probe: dial %s: %w", url, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("probe: read: %w", err)
		}
		now := time.Now()
		var m struct {
			Type string `json:"type"`
			Sale *struct {
				SaleID string `json:"sale_id"`
			} `json:"sale"`
		}
		if json.Unmarshal(b, &m) == nil && m.Type == "sale" && m.Sale != nil {
			p.observe(m.Sale.SaleID, now)
		}
	}
}

// ProbeSummary is what a Probe measured.
type ProbeSummary struct {
	Sales   int     `json:"sales_seen"`     // accepted sales seen on the websocket
	Missing int     `json:"sales_not_seen"` // accepted sales not (yet) seen
	P50ms   float64 `json:"p50_ms"`         // median time from 202 to the websocket
	P99ms   float64 `json:"p99_ms"`         // 99th percentile
	MaxMs   float64 `json:"max_ms"`         // slowest
}

// Summary returns the latency percentiles so far.
func (p *Probe) Summary() ProbeSummary {
	p.mu.Lock()
	lat := slices.Clone(p.lat)
	s := ProbeSummary{Sales: len(lat), Missing: len(p.accepted)}
	p.mu.Unlock()
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(lat))), len(lat)-1)
		return float64(lat[i].Microseconds()) / 1000
	}
	s.P50ms, s.P99ms, s.MaxMs = at(0.50), at(0.99), float64(lat[len(lat)-1].Microseconds())/1000
	return s
}
