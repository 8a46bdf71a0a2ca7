// Package signs is the domain of FreshMart's digital shelf signs: what a sign shows for a
// store and SKU, how the display-updates events change it, which versions a sign has seen,
// and the JSON frames a sign receives. It imports no database, broker or HTTP package;
// services/signs/signsapp wires it to the topic, Postgres and websockets.
//
// # The display view
//
// A store and SKU shows a State: the regular (base) price, an optional running promotion
// (its id, title, price and planned end) and a stock badge. A SKU no event has touched shows
// the catalog price, no promotion and "in_stock". Four event types change it (Apply):
//
//   - price.changed sets the regular price (a running promotion keeps its price);
//   - promo.started sets the promotion and takes the event's regular price as the regular price;
//   - promo.ended clears the promotion when it names the running one (an end of an older or
//     unknown promotion changes nothing);
//   - stock.badge sets the badge.
//
// # Versions
//
// display-updates is keyed by store, so one store's events are in one partition, in order. The
// version of an event is its offset in that partition plus one: monotonic per store, and the
// same on every hub replica that folds the partition, so two replicas number every change
// alike and a sign can move between them. A State carries the version of the last event that
// changed it; an event that changes nothing (a badge already shown) changes no version. A
// store's version is the highest version of its SKUs.
//
// What changed since version V for a set of SKUs is exactly those whose State.Version > V: the
// per-SKU versions are the store's change log, compacted to the latest change of each SKU. A
// hub answers a reconnect with ?since=V by those (an "update" frame) as long as V lies within
// its window of the store's version (Store.Since), and with a snapshot otherwise.
//
// # Frames
//
// A sign receives JSON text frames: first {"type":"snapshot","version":V,"items":[...]} with
// every SKU it shows, then {"type":"update","version":V,"items":[...]} with the SKUs that
// changed since the sign's previous frame, each in its latest State, at the highest of their
// versions (Store.AppendUpdates), so a sign that fell behind catches up in one frame. It
// answers {"type":"ack","version":V} (ParseAck).
package signs

import (
	"errors"
	"fmt"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// Badges a sign shows.
const (
	BadgeInStock = "in_stock"
	BadgeLow     = "low"
	BadgeOut     = "out"
)

// State is what a store and SKU shows, and the version of the last event that changed it.
type State struct {
	// PriceCents is the regular price.
	PriceCents int64
	// PromoID is the running promotion, "" when none; the Promo fields are set with it.
	PromoID         string
	PromoTitle      string
	PromoPriceCents int64
	PromoEndsAt     time.Time
	// Badge is BadgeInStock, BadgeLow or BadgeOut.
	Badge string
	// Version is the version of the last event that changed the State; 0 for the catalog's.
	Version int64
}

// Initial is the State of a SKU no event has touched: the catalog price, in stock.
func Initial(p catalog.Product) State {
	return State{PriceCents: p.PriceCents, Badge: BadgeInStock}
}

// Change is one event of display-updates as the fold needs it: its type, its version and
// the decoded payload (a schemas.PriceChanged, PromoStarted, PromoEnded or StockBadge).
type Change struct {
	Type    string
	Version int64
	Payload any
}

// ErrUnknownType is returned by Target for an event type signs do not show.
var ErrUnknownType = errors.New("signs: not a display event")

// Target returns the store and SKU an event is about.
func Target(payload any) (store, sku string, err error) {
	switch p := payload.(type) {
	case schemas.PriceChanged:
		return p.StoreID, p.SKU, nil
	case schemas.PromoStarted:
		return p.StoreID, p.SKU, nil
	case schemas.PromoEnded:
		return p.StoreID, p.SKU, nil
	case schemas.StockBadge:
		return p.StoreID, p.SKU, nil
	}
	return "", "", fmt.Errorf("%w: %T", ErrUnknownType, payload)
}

// Apply returns s changed by c and whether anything a sign shows changed; when it did, the
// result carries c.Version. An event at or below s.Version (a replay of an event already
// folded) changes nothing.
func Apply(s State, c Change) (State, bool) {
	if c.Version <= s.Version {
		return s, false
	}
	n := s
	switch p := c.Payload.(type) {
	case schemas.PriceChanged:
		n.PriceCents = p.PriceCents
	case schemas.PromoStarted:
		n.PriceCents = p.RegularPriceCents
		n.PromoID, n.PromoTitle, n.PromoPriceCents, n.PromoEndsAt = p.PromoID, p.Title, p.PromoPriceCents, p.EndsAt.UTC()
	case schemas.PromoEnded:
		if p.PromoID != s.PromoID {
			return s, false
		}
		n.PromoID, n.PromoTitle, n.PromoPriceCents, n.PromoEndsAt = "", "", 0, time.Time{}
	case schemas.StockBadge:
		switch p.Badge {
		case BadgeInStock, BadgeLow, BadgeOut:
			n.Badge = p.Badge
		default:
			return s, false
		}
	default:
		return s, false
	}
	n.Version = s.Version
	if n == s {
		return s, false
	}
	n.Version = c.Version
	return n, true
}

// Item is one SKU as a sign shows it (the "items" of a frame).
type Item struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	// RegularPriceCents is the regular price, during a promotion only.
	RegularPriceCents int64  `json:"regular_price_cents,omitempty"`
	PromoTitle        string `json:"promo_title,omitempty"`
	// UnitPrice is the unit price of PriceCents, e.g. "$0.25 / oz".
	UnitPrice string `json:"unit_price,omitempty"`
	Badge     string `json:"badge"`
	// PromoEndsAt is the planned end of the promotion, during one only.
	PromoEndsAt *time.Time `json:"promo_ends_at,omitempty"`
}

// ItemOf is what a sign shows for product p in State s: the promotion's price while one runs,
// with the regular price beside it, and the unit price of the price shown.
func ItemOf(p catalog.Product, s State) Item {
	it := Item{SKU: p.SKU, Name: p.Name, PriceCents: s.PriceCents, Badge: s.Badge}
	if s.Badge == "" {
		it.Badge = BadgeInStock
	}
	if s.PromoID != "" {
		it.PriceCents = s.PromoPriceCents
		it.RegularPriceCents = s.PriceCents
		it.PromoTitle = s.PromoTitle
		end := s.PromoEndsAt
		it.PromoEndsAt = &end
	}
	it.UnitPrice = p.UnitPrice(it.PriceCents)
	return it
}
