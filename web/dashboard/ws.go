package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/coder/websocket"
	"github.com/freshmart/platform/internal/hub"
)

// websocket streams live messages to one browser, starting with a snapshot of the figures,
// until the browser leaves, falls too far behind (closed with status 1013; the page
// reconnects), stops answering pings, or the server shuts down (status 1001). The browser's
// own messages are ignored.
func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	store := r.URL.Query().Get("store")
	if r.URL.Query().Get("view") == financeTopic {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		sub := s.hub.subscribe(financeTopic)
		snap, _ := json.Marshal(Message{Type: "snapshot", Reports: s.reports.Notes("")}) // every field marshals
		if err := sub.Serve(r.Context(), c, hub.ServeOptions{First: [][]byte{snap}}); err != nil {
			s.log.Debug("websocket closed", "view", financeTopic, "err", err)
		}
		return
	}
	if store != "" {
		if _, err := s.cat.Store(store); err != nil {
			s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", store))
			return
		}
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the client
	}
	// Subscribe before taking the snapshot, so nothing published in between is missed.
	sub := s.hub.subscribe(store)
	err = sub.Serve(r.Context(), c, hub.ServeOptions{First: [][]byte{s.snapshot(store)}})
	if err != nil {
		s.log.Debug("websocket closed", "store", store, "err", err)
	}
}

// snapshot is the first message a browser gets: the ticker, the chain's revenue and, on a
// store's page, the store's; and what the broker delivered about complaints since start (a
// store page: its spikes and complaints; the chain view: the spikes of every store, active
// first, and the chain-wide ones), which the page folds into what it rendered, so nothing
// that arrived between the render and the subscription is missed.
func (s *Server) snapshot(store string) []byte {
	snap := Message{Type: "snapshot", StoreID: store, Ticker: s.live.Ticker(store)}
	chain := s.live.ChainRevenue()
	snap.Chain = &chain
	spikes := s.feed.Spikes(store)
	if store != "" {
		rev := s.live.Revenue(store)
		snap.Revenue = &rev
		snap.Spikes = spikes[:min(storeSpikesLen, len(spikes))]
		snap.Complaints = s.feed.Complaints(store)
		if notes := s.reports.Notes(store); len(notes) > 0 {
			snap.Reports = notes[:1]
		}
	} else {
		snap.Spikes = spikes[:min(activeSpikesLen, len(spikes))]
		snap.Chains = s.feed.ChainSpikes()
	}
	b, _ := json.Marshal(snap) // every Message field marshals
	return b
}
