package dashboard

import (
	"encoding/json"

	"github.com/freshmart/platform/internal/hub"
	"github.com/prometheus/client_golang/prometheus"
)

// Hub fans messages out to the connected browsers, on internal/hub: a browser watches one
// store (its topic is the store id) or the chain (topic ""). A browser that falls
// subscriberBuffer messages behind is disconnected (hub.Disconnect: its page reconnects and
// reloads its figures) rather than slowing down everyone else.
type Hub struct{ h *hub.Hub }

// subscriberBuffer is how many messages a browser may fall behind before it is disconnected.
const subscriberBuffer = 1024

// NewHub returns a Hub with no browsers, its metrics (freshmart_hub_*{hub="dashboard"})
// registered on reg. Like prometheus.MustRegister, it panics if they cannot be.
func NewHub(reg prometheus.Registerer) *Hub {
	h, err := hub.New(hub.Config{Name: "dashboard", Registerer: reg, QueueSize: subscriberBuffer, Policy: hub.Disconnect})
	if err != nil {
		panic(err)
	}
	return &Hub{h: h}
}

// subscribe adds a browser watching store ("" for the chain, financeTopic for the finance
// page). Serve it, or Close it.
func (h *Hub) subscribe(store string) *hub.Client {
	return h.h.Subscribe(hub.ClientConfig{Topics: []string{store}})
}

// Clients returns how many browsers are connected.
func (h *Hub) Clients() int { return h.h.Clients() }

// PublishTo sends m to the browsers watching any of topics (store ids, "" for the chain,
// financeTopic for the finance page).
func (h *Hub) PublishTo(m Message, topics ...string) {
	b, err := json.Marshal(m)
	if err != nil {
		return // every Message field marshals; nothing to send otherwise
	}
	h.h.Publish(hub.Message{Topics: topics, Data: b})
}

// Publish sends m to the browsers watching m's store and, when chain is true, to those watching
// the chain.
func (h *Hub) Publish(m Message, chain bool) {
	b, err := json.Marshal(m)
	if err != nil {
		return // every Message field marshals; nothing to send otherwise
	}
	topics := []string{m.StoreID}
	if chain && m.StoreID != "" {
		topics = append(topics, "")
	}
	h.h.Publish(hub.Message{Topics: topics, Data: b})
}
