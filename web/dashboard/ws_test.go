package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/freshmart/platform/internal/kit/kittest"
)

// wsServer is a dashboard with the broker and services down, served over loopback.
func wsServer(t *testing.T) (*Server, string) {
	t.Helper()
	down := closedAddr(t)
	svc := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down,
		"POS_URL": "http://" + down, "BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down, "ANALYTICS_URL": "http://" + down})
	s, err := New(svc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func dialWS(t *testing.T, ctx context.Context, base, query string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func readMessage(t *testing.T, ctx context.Context, c *websocket.Conn) ([]byte, Message) {
	t.Helper()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil || typ != websocket.MessageText {
		t.Fatalf("frame %v %q: %v", typ, b, err)
	}
	return b, m
}

func metricsBody(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestWebsocketSnapshotThenLiveMessages: a browser first gets a snapshot, then the JSON of
// every message for its view: a store page its store's messages, the chain view the
// chain-wide ones of every store and no store-only ones.
func TestWebsocketSnapshotThenLiveMessages(t *testing.T) {
	s, base := wsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := dialWS(t, ctx, base, "?store=S001")
	chain := dialWS(t, ctx, base, "")
	if _, m := readMessage(t, ctx, store); m.Type != "snapshot" || m.StoreID != "S001" || m.Revenue == nil || m.Chain == nil {
		t.Fatalf("store page's first message: %+v", m)
	}
	if _, m := readMessage(t, ctx, chain); m.Type != "snapshot" || m.StoreID != "" || m.Revenue != nil || m.Chain == nil {
		t.Fatalf("chain view's first message: %+v", m)
	}
	// Both are subscribed once their snapshot has arrived.
	stock := Message{Type: "stock", StoreID: "S001", Stock: &StockRow{StoreID: "S001", SKU: "SKU1", OnHand: 3}}
	other := Message{Type: "sale", StoreID: "S002", Sale: &TickerSale{SaleID: "sale-2", StoreID: "S002"}}
	sale := Message{Type: "sale", StoreID: "S001", Sale: &TickerSale{SaleID: "sale-1", StoreID: "S001"}}
	s.hub.Publish(stock, false)
	s.hub.Publish(other, true)
	s.hub.Publish(sale, true)
	for _, tt := range []struct {
		name string
		c    *websocket.Conn
		want []Message
	}{
		{"store page", store, []Message{stock, sale}},
		{"chain view", chain, []Message{other, sale}},
	} {
		for _, want := range tt.want {
			b, _ := readMessage(t, ctx, tt.c)
			wantJSON, _ := json.Marshal(want)
			if !bytes.Equal(b, wantJSON) {
				t.Fatalf("%s got %s, want %s", tt.name, b, wantJSON)
			}
		}
	}
	if n := s.hub.Clients(); n != 2 {
		t.Fatalf("%d browsers connected, want 2", n)
	}
	body := metricsBody(t, base)
	for _, want := range []string{`freshmart_hub_clients{hub="dashboard"} 2`, "freshmart_web_websocket_clients 2",
		`freshmart_hub_messages_published_total{hub="dashboard"} 3`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestWebsocketDisconnectsSlowBrowser: a browser that stops reading is disconnected once it is
// subscriberBuffer messages behind, with status 1013 so that its page reconnects, and counted.
func TestWebsocketDisconnectsSlowBrowser(t *testing.T) {
	s, base := wsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow := dialWS(t, ctx, base, "?store=S001")
	if _, m := readMessage(t, ctx, slow); m.Type != "snapshot" {
		t.Fatalf("first message %+v", m)
	}
	// The socket buffers take some megabytes before the queue starts to fill.
	name := strings.Repeat("n", 4096)
	published := 0
	for s.hub.Clients() > 0 {
		if published == 200000 {
			t.Fatalf("the browser is still connected after %d messages", published)
		}
		s.hub.Publish(Message{Type: "stock", StoreID: "S001", Stock: &StockRow{SKU: "SKU1", Name: name}}, false)
		published++
	}
	t.Logf("disconnected after %d messages", published)
	var err error
	for err == nil {
		_, _, err = slow.Read(ctx)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater {
		t.Fatalf("the slow browser's websocket ended with %v, want status 1013", err)
	}
	if body := metricsBody(t, base); !strings.Contains(body, `freshmart_hub_slow_disconnects_total{hub="dashboard"} 1`) {
		t.Errorf("/metrics does not count the slow browser:\n%s", body)
	}
}
