package dashboard

import (
	"context"
	"encoding/json"
	"sync"
)

// Message is what the server pushes to browsers over the websocket.
type Message struct {
	Type    string       `json:"type"` // snapshot, sale, stock, alert
	StoreID string       `json:"store_id,omitempty"`
	Sale    *TickerSale  `json:"sale,omitempty"`
	Revenue *Revenue     `json:"revenue,omitempty"` // the store's revenue after the sale
	Chain   *Revenue     `json:"chain,omitempty"`   // the chain's revenue after the sale
	Ticker  []TickerSale `json:"ticker,omitempty"`  // snapshot only
	Stock   *StockRow    `json:"stock,omitempty"`
	Alert   *AlertRow    `json:"alert,omitempty"`
}

// Hub fans messages out to the connected browsers. A browser that cannot keep up is disconnected
// (its page reconnects and reloads its figures) rather than slowing down everyone else.
type Hub struct {
	mu      sync.Mutex
	clients map[*subscriber]struct{}
}

type subscriber struct {
	store  string // "" for the chain view
	ch     chan []byte
	cancel context.CancelFunc
}

// subscriberBuffer is how many messages a browser may fall behind before it is disconnected.
const subscriberBuffer = 1024

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{clients: map[*subscriber]struct{}{}} }

func (h *Hub) subscribe(store string, cancel context.CancelFunc) *subscriber {
	s := &subscriber{store: store, ch: make(chan []byte, subscriberBuffer), cancel: cancel}
	h.mu.Lock()
	h.clients[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.clients, s)
	h.mu.Unlock()
}

// Clients returns how many browsers are connected.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Publish sends m to the browsers watching m's store and, when chain is true, to those watching
// the chain.
func (h *Hub) Publish(m Message, chain bool) {
	b, err := json.Marshal(m)
	if err != nil {
		return // every Message field marshals; nothing to send otherwise
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.clients {
		if s.store != m.StoreID && (s.store != "" || !chain) {
			continue
		}
		select {
		case s.ch <- b:
		default:
			delete(h.clients, s)
			s.cancel()
		}
	}
}
