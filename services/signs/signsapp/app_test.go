package signsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/signs"
	"github.com/freshmart/platform/services/signs/signsapp"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

var options = kit.Options{Name: "pricing", Addr: "127.0.0.1:0", Database: true}

// env is one broker and one database that hub replicas share.
type env struct {
	brokers string
	dsn     string
	prod    *events.Producer
	cat     *catalog.Catalog
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := brokertest.Start(t)
	prod, err := events.NewProducer(events.ProducerConfig{Brokers: []string{b.Addr}, Source: "freshmart/pricing-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &env{brokers: b.Addr, dsn: pgtest.New(t), prod: prod, cat: catalog.MustLoad()}
}

// replica is a running hub; stop ends it (also at the end of the test).
type replica struct {
	app  *signsapp.App
	svc  *kit.Service
	url  string
	stop func()
}

func (e *env) start(t *testing.T, extra map[string]string) *replica {
	t.Helper()
	vars := map[string]string{"KAFKA_BROKERS": e.brokers, "DATABASE_URL": e.dsn, "SIGNS_FLUSH_EVERY": "100ms", "SIGNS_SEEN_EVERY": "200ms"}
	for k, v := range extra {
		vars[k] = v
	}
	s := kittest.Build(t, options, vars)
	app, err := signsapp.New(s, signsapp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("hub did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	select {
	case <-s.Listening():
	case err := <-done:
		t.Fatalf("hub: %v", err)
	}
	r := &replica{app: app, svc: s, url: kittest.URL(s), stop: stop}
	waitFor(t, 20*time.Second, "the hub caught up", func() bool {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return r
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// produce writes one display event of store and returns its version (offset + 1).
func (e *env) produce(t *testing.T, typ, store string, payload any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, off, err := e.prod.Produce(ctx, events.Out{Topic: schemas.TopicDisplayUpdates, Key: store, Type: typ, Payload: payload})
	if err != nil {
		t.Fatalf("produce %s: %v", typ, err)
	}
	return off + 1
}

func (e *env) price(t *testing.T, store, sku string, cents int64) int64 {
	return e.produce(t, schemas.TypePriceChanged, store, schemas.PriceChanged{ChangeID: uuid.NewString(), StoreID: store, SKU: sku,
		PriceCents: cents, Reason: "test", EffectiveAt: time.Now().UTC()})
}

var promoEnd = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func (e *env) promo(t *testing.T, store, sku, id string, regular, promo int64) int64 {
	return e.produce(t, schemas.TypePromoStarted, store, schemas.PromoStarted{PromoID: id, StoreID: store, SKU: sku, Title: "20% off",
		PromoPriceCents: promo, RegularPriceCents: regular, StartsAt: time.Now().UTC(), EndsAt: promoEnd})
}

func (e *env) token(t *testing.T, r *replica, store, sign string) string {
	t.Helper()
	tok, err := r.app.Tokens().Issue(context.Background(), store, sign)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type frame struct {
	Type    string       `json:"type"`
	Version int64        `json:"version"`
	Items   []signs.Item `json:"items"`
	raw     []byte
}

func (f frame) item(sku string) (signs.Item, bool) {
	for _, it := range f.Items {
		if it.SKU == sku {
			return it, true
		}
	}
	return signs.Item{}, false
}

type sign struct {
	t    *testing.T
	conn *websocket.Conn
}

func wsURL(base string, q url.Values) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/v1/signs/ws?" + q.Encode()
}

func dialWith(t *testing.T, client *http.Client, base, token string, q url.Values) *sign {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := websocket.Dial(ctx, wsURL(base, q), &websocket.DialOptions{HTTPHeader: h, HTTPClient: client})
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("dial: %v (%d %s)", err, resp.StatusCode, body)
		}
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &sign{t: t, conn: c}
}

func dial(t *testing.T, base, token string, q url.Values) *sign {
	return dialWith(t, nil, base, token, q)
}

func (s *sign) read() frame {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := s.conn.Read(ctx)
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		s.t.Fatalf("frame of type %v", typ)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		s.t.Fatalf("frame %s: %v", b, err)
	}
	f.raw = b
	return f
}

// until reads frames until one has sku with ok(item) true, and returns that frame.
func (s *sign) until(sku string, ok func(signs.Item) bool) frame {
	s.t.Helper()
	for range 1000 {
		f := s.read()
		if it, found := f.item(sku); found && ok(it) {
			return f
		}
	}
	s.t.Fatalf("no frame with the expected %s", sku)
	return frame{}
}

func (s *sign) ack(v int64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"ack","version":%d}`, v)); err != nil {
		s.t.Fatalf("ack: %v", err)
	}
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestTokensAndParametersRefused(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, nil)
	tok := e.token(t, r, "S001", "shelf-1")
	revoked := e.token(t, r, "S001", "shelf-2")
	if ok, err := r.app.Tokens().Revoke(context.Background(), "S001", "shelf-2"); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	replaced := e.token(t, r, "S001", "shelf-3")
	_ = e.token(t, r, "S001", "shelf-3") // issuing again revokes the first
	other := e.token(t, r, "S002", "shelf-1")
	sku := e.cat.Products()[0].SKU
	tests := []struct {
		name   string
		header string
		query  url.Values
		status int
		detail string
	}{
		{"no token", "", q("store_id", "S001", "skus", sku), 401, "token"},
		{"unknown token", "Bearer sgn_nope", q("store_id", "S001", "skus", sku), 401, "unknown"},
		{"revoked token", "Bearer " + revoked, q("store_id", "S001", "skus", sku), 401, "revoked"},
		{"replaced token", "", q("store_id", "S001", "skus", sku, "token", replaced), 401, "revoked"},
		{"token of another store", "Bearer " + other, q("store_id", "S001", "skus", sku), 403, "S002"},
		{"unknown store", "Bearer " + tok, q("store_id", "S999", "skus", sku), 400, "store_id"},
		{"no store", "Bearer " + tok, q("skus", sku), 400, "store_id"},
		{"unknown sku", "Bearer " + tok, q("store_id", "S001", "skus", sku+",PRD-99999"), 400, "skus"},
		{"unknown department", "Bearer " + tok, q("store_id", "S001", "aisle", "toys"), 400, "aisle"},
		{"bad since", "Bearer " + tok, q("store_id", "S001", "skus", sku, "since", "x"), 400, "since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", r.url+"/v1/signs/ws?"+tt.query.Encode(), nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" ||
				!strings.Contains(string(body), tt.detail) {
				t.Fatalf("got %d %s %s; want %d problem naming %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.detail)
			}
		})
	}
	// The token works in the query too, and for an aisle.
	s := dial(t, r.url, "", q("store_id", "S001", "aisle", "produce", "token", tok))
	if f := s.read(); f.Type != "snapshot" || len(f.Items) == 0 {
		t.Fatalf("aisle snapshot %+v", f)
	}
}

func TestSnapshotUpdatesAndSince(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, map[string]string{"SIGNS_SINCE_WINDOW": "3"})
	ps := e.cat.Products()
	a, b := ps[0], ps[1]
	tok := e.token(t, r, "S001", "aisle-1")
	sel := q("store_id", "S001", "skus", a.SKU+","+b.SKU)
	s := dial(t, r.url, tok, sel)
	snap := s.read()
	if snap.Type != "snapshot" || len(snap.Items) != 2 || snap.Items[0].SKU != a.SKU || snap.Items[0].PriceCents != a.PriceCents ||
		snap.Items[0].Badge != "in_stock" || snap.Items[0].Name != a.Name || snap.Items[0].UnitPrice != a.UnitPrice(a.PriceCents) {
		t.Fatalf("snapshot %s", snap.raw)
	}
	s.ack(snap.Version)

	// Another store's change, and a SKU the sign does not show, reach it not.
	e.price(t, "S002", a.SKU, 1)
	e.price(t, "S001", ps[5].SKU, 1)
	v1 := e.price(t, "S001", a.SKU, a.PriceCents+100)
	f := s.read()
	if f.Type != "update" || f.Version != v1 || len(f.Items) != 1 || f.Items[0].SKU != a.SKU || f.Items[0].PriceCents != a.PriceCents+100 ||
		f.Items[0].UnitPrice != a.UnitPrice(a.PriceCents+100) {
		t.Fatalf("price update %s (want version %d)", f.raw, v1)
	}
	s.ack(v1)
	v2 := e.promo(t, "S001", b.SKU, uuid.NewString(), b.PriceCents, b.PriceCents-20)
	f = s.read()
	it, _ := f.item(b.SKU)
	if f.Version != v2 || len(f.Items) != 1 || it.PriceCents != b.PriceCents-20 || it.RegularPriceCents != b.PriceCents ||
		it.PromoTitle != "20% off" || it.PromoEndsAt == nil || !it.PromoEndsAt.Equal(promoEnd) {
		t.Fatalf("promo update %s", f.raw)
	}
	s.ack(v2)
	waitFor(t, 10*time.Second, "the ack stored", func() bool {
		st := status(t, r, "S001")
		return len(st) == 1 && st[0].LastAckVersion == v2 && st[0].Connected && st[0].Behind == 0 && !st[0].OutOfDate
	})
	// Its row is stored: a later acknowledgement alone updates it (the flush's ack-only path).
	vAck := e.price(t, "S001", a.SKU, a.PriceCents+200)
	if f = s.read(); f.Version != vAck {
		t.Fatalf("price update %s (want version %d)", f.raw, vAck)
	}
	waitFor(t, 10*time.Second, "the sign shown behind", func() bool {
		st := status(t, r, "S001")
		return len(st) == 1 && st[0].LastAckVersion == v2 && st[0].Behind > 0 && st[0].OutOfDate
	})
	s.ack(vAck)
	waitFor(t, 10*time.Second, "the later ack stored", func() bool {
		st := status(t, r, "S001")
		return len(st) == 1 && st[0].LastAckVersion == vAck && st[0].LastAckAt != nil && st[0].Connected && st[0].Behind == 0 &&
			!st[0].OutOfDate && len(st[0].SKUs) == 2
	})
	v2 = vAck // what the sign shows from here on
	s.conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, 10*time.Second, "the sign shown disconnected", func() bool {
		st := status(t, r, "S001")
		return len(st) == 1 && !st[0].Connected
	})

	// While it is away: a badge on a, nothing on b.
	v3 := e.produce(t, schemas.TypeStockBadge, "S001", schemas.StockBadge{StoreID: "S001", SKU: a.SKU, Badge: "out", OnHand: 0, At: time.Now().UTC()})
	waitFor(t, 10*time.Second, "the sign shown behind", func() bool {
		st := status(t, r, "S001")
		return len(st) == 1 && st[0].Behind == v3-v2 && st[0].OutOfDate
	})
	sel.Set("since", fmt.Sprint(v2))
	s = dial(t, r.url, tok, sel)
	f = s.read()
	if it, _ := f.item(a.SKU); f.Type != "update" || f.Version != v3 || len(f.Items) != 1 || it.Badge != "out" {
		t.Fatalf("since %d: %s", v2, f.raw)
	}
	// Unchanged since the newest version: an empty update at that version.
	sel.Set("since", fmt.Sprint(v3))
	if f := dial(t, r.url, tok, sel).read(); f.Type != "update" || f.Version != v3 || len(f.Items) != 0 {
		t.Fatalf("since %d: %s", v3, f.raw)
	}
	// Older than the window (3 versions): a snapshot.
	sel.Set("since", fmt.Sprint(v3-4))
	if f := dial(t, r.url, tok, sel).read(); f.Type != "snapshot" || f.Version != v3 || len(f.Items) != 2 {
		t.Fatalf("since %d: %s", v3-4, f.raw)
	}
	// A version the hub never had (ahead of it): a snapshot.
	sel.Set("since", fmt.Sprint(v3+100))
	if f := dial(t, r.url, tok, sel).read(); f.Type != "snapshot" || f.Version != v3 {
		t.Fatalf("since ahead: %s", f.raw)
	}
}

func status(t *testing.T, r *replica, store string) []signsapp.SignStatus {
	t.Helper()
	resp, err := http.Get(r.url + "/v1/signs?store_id=" + store)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Signs []signsapp.SignStatus `json:"signs"`
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status: %d %s", resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Signs
}

func TestBadFramesClose(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, nil)
	tok := e.token(t, r, "S001", "s")
	sku := e.cat.Products()[0].SKU
	for _, tt := range []struct {
		name   string
		typ    websocket.MessageType
		data   string
		code   websocket.StatusCode
		reason string
	}{
		{"not json", websocket.MessageText, "hello", websocket.StatusPolicyViolation, "not JSON"},
		{"not an ack", websocket.MessageText, `{"type":"subscribe"}`, websocket.StatusPolicyViolation, "want \"ack\""},
		{"ack ahead", websocket.MessageText, `{"type":"ack","version":99}`, websocket.StatusPolicyViolation, "never sent"},
		{"binary", websocket.MessageBinary, "x", websocket.StatusUnsupportedData, "binary"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := dial(t, r.url, tok, q("store_id", "S001", "skus", sku))
			s.read()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.conn.Write(ctx, tt.typ, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			_, _, err := s.conn.Read(ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code || !strings.Contains(ce.Reason, tt.reason) {
				t.Fatalf("read after a bad frame: %v; want close %v with %q", err, tt.code, tt.reason)
			}
		})
	}
	// The hub is still up and serving.
	if f := dial(t, r.url, tok, q("store_id", "S001", "skus", sku)).read(); f.Type != "snapshot" {
		t.Fatalf("after bad frames: %s", f.raw)
	}
}

// smallDialer dials with a 4 KiB receive buffer, so a sign that stops reading stalls the
// hub's writes after little data.
var smallDialer = &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	},
}}

func TestStalledSignDoesNotSlowOthers(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, map[string]string{"SIGNS_WRITE_TIMEOUT": "500ms", "SIGNS_MAX_UNACKED": "30"})
	sku := e.cat.Products()[0].SKU
	aisle := e.cat.Products()[0].Department
	fastTok, slowTok := e.token(t, r, "S001", "fast"), e.token(t, r, "S001", "stalled")
	fast := dial(t, r.url, fastTok, q("store_id", "S001", "skus", sku))
	fast.read()
	// The stalled sign shows the whole aisle (bigger frames) and never reads again.
	slow := dialWith(t, smallDialer, r.url, slowTok, q("store_id", "S001", "aisle", aisle))
	slow.read()
	var products []catalog.Product
	for _, p := range e.cat.Products() {
		if p.Department == aisle {
			products = append(products, p)
		}
	}
	connected := func() bool {
		for _, s := range status(t, r, "S001") {
			if s.Sign == "stalled" {
				return s.Connected
			}
		}
		return false
	}
	dropped := func() bool { return !connected() }
	waitFor(t, 10*time.Second, "the stalled sign shown connected", connected)
	// Rounds of changes to every SKU of the aisle, until the stalled sign is dropped; the fast
	// sign sees each round's change of its SKU.
	price := int64(1000)
	// Closing the stalled sign waits for its close handshake (coder/websocket: up to 10s).
	deadline := time.Now().Add(40 * time.Second)
	for round := 0; !dropped(); round++ {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled sign was never dropped: %+v, dropped %v", status(t, r, "S001"), metric(t, r, `signs_dropped_total{reason="slow"}`))
		}
		for _, p := range products {
			if p.SKU != sku {
				e.price(t, "S001", p.SKU, price)
			}
		}
		price++
		e.price(t, "S001", sku, price)
		want := price
		f := fast.until(sku, func(it signs.Item) bool { return it.PriceCents == want })
		fast.ack(f.Version)
		if round > 40 {
			time.Sleep(200 * time.Millisecond) // the stalled sign is past its limit; wait for its close
		}
	}
	// The fast sign is still served.
	e.price(t, "S001", sku, 1)
	fast.until(sku, func(it signs.Item) bool { return it.PriceCents == 1 })
	if m := metric(t, r, `signs_dropped_total{reason="slow"}`); m < 1 {
		t.Fatalf("signs_dropped_total{reason=slow} = %v", m)
	}
}

func metric(t *testing.T, r *replica, name string) float64 {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestTwoReplicasAndRestart: two replicas on one topic and database serve the same frames with
// the same versions; one stopped and started again serves the view it had, and catches up
// with what happened while it was down.
func TestTwoReplicasAndRestart(t *testing.T) {
	e := newEnv(t)
	r1 := e.start(t, nil)
	r2 := e.start(t, nil)
	ps := e.cat.Products()
	skus := []string{ps[0].SKU, ps[1].SKU, ps[2].SKU}
	sel := q("store_id", "S003", "skus", strings.Join(skus, ","))
	tok := e.token(t, r1, "S003", "end-cap")
	s1, s2 := dial(t, r1.url, tok, sel), dial(t, r2.url, tok, sel)
	if a, b := s1.read(), s2.read(); !bytes.Equal(a.raw, b.raw) {
		t.Fatalf("snapshots differ:\n%s\n%s", a.raw, b.raw)
	}
	var last int64
	for i := range 20 {
		sku := skus[i%3]
		switch i % 4 {
		case 0, 1:
			last = e.price(t, "S003", sku, int64(100+i))
		case 2:
			last = e.promo(t, "S003", sku, uuid.NewString(), int64(500+i), int64(400+i))
		case 3:
			last = e.produce(t, schemas.TypeStockBadge, "S003", schemas.StockBadge{StoreID: "S003", SKU: sku, Badge: "low", OnHand: 2, At: time.Now().UTC()})
		}
	}
	last = e.price(t, "S003", skus[1], 4242) // a change for sure (a repeated badge is none)
	// Each replica's frames up to the last version, merged as a sign would see them.
	collect := func(s *sign) map[string]signs.Item {
		got := map[string]signs.Item{}
		for {
			f := s.read()
			for _, it := range f.Items {
				got[it.SKU] = it
			}
			if f.Version >= last {
				if f.Version != last {
					t.Fatalf("version %d beyond the last %d", f.Version, last)
				}
				return got
			}
		}
	}
	g1, g2 := collect(s1), collect(s2)
	if fmt.Sprint(g1) != fmt.Sprint(g2) {
		t.Fatalf("replicas differ:\n%v\n%v", g1, g2)
	}
	snap1, snap2 := dial(t, r1.url, tok, sel).read(), dial(t, r2.url, tok, sel).read()
	if !bytes.Equal(snap1.raw, snap2.raw) || snap1.Version != last {
		t.Fatalf("snapshots after the changes differ or are not at %d:\n%s\n%s", last, snap1.raw, snap2.raw)
	}

	// Restart r1; while it is down one more change happens.
	r1.stop()
	down := e.price(t, "S003", skus[0], 7777)
	r3 := e.start(t, nil)
	waitFor(t, 10*time.Second, "the restarted replica caught up", func() bool {
		f := dial(t, r3.url, tok, sel).read()
		return f.Version == down
	})
	snap3, snap2 := dial(t, r3.url, tok, sel).read(), dial(t, r2.url, tok, sel).read()
	if !bytes.Equal(snap3.raw, snap2.raw) {
		t.Fatalf("restarted replica differs:\n%s\n%s", snap3.raw, snap2.raw)
	}
	if it, _ := snap3.item(skus[0]); it.PriceCents != 7777 && it.RegularPriceCents != 7777 {
		t.Fatalf("restarted replica missed the change made while it was down: %s", snap3.raw)
	}
	// Stop both, start one fresh from the stored view alone: the same snapshot.
	r2.stop()
	r3.stop()
	r4 := e.start(t, nil)
	if snap4 := dial(t, r4.url, tok, sel).read(); !bytes.Equal(snap4.raw, snap2.raw) {
		t.Fatalf("view not kept across a restart:\n%s\n%s", snap4.raw, snap2.raw)
	}
}

// TestSignTokenCommand: sign-token prints the token alone, which then opens a websocket;
// --list shows it, --revoke refuses it afterwards, bad arguments exit 2.
func TestSignTokenCommand(t *testing.T) {
	e := newEnv(t)
	r := e.start(t, nil)
	env := kit.Map(map[string]string{"DATABASE_URL": e.dsn, "LOG_LEVEL": "warn"})
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := signsapp.SignToken(context.Background(), env, args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, stderr := run("--store", "S002", "--sign", "door-1")
	tok := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(tok, "sgn_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("issue: %d %q %q", code, out, stderr)
	}
	sku := e.cat.Products()[0].SKU
	if f := dial(t, r.url, tok, q("store_id", "S002", "skus", sku)).read(); f.Type != "snapshot" {
		t.Fatalf("with the issued token: %s", f.raw)
	}
	if code, out, _ := run("--list", "--store", "S002"); code != 0 || !strings.Contains(out, "door-1") || strings.Contains(out, tok) {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, _, stderr := run("--store", "S002", "--sign", "door-1", "--revoke"); code != 0 {
		t.Fatalf("revoke: %d %s", code, stderr)
	}
	if code, _, _ := run("--store", "S002", "--sign", "door-1", "--revoke"); code != 1 {
		t.Fatalf("second revoke: %d, want 1", code)
	}
	if st := dialStatus(t, r.url, tok, q("store_id", "S002", "skus", sku)); st != 401 {
		t.Fatalf("revoked token: %d", st)
	}
	for _, args := range [][]string{{}, {"--store", "S002"}, {"--list", "--sign", "x"}, {"extra"}, {"--store", "S999", "--sign", "x"}, {"--store", "S001", "--sign", "bad name"}} {
		if code, _, _ := run(args...); code != 2 {
			t.Errorf("sign-token %q: exit %d, want 2", args, code)
		}
	}
}

func dialStatus(t *testing.T, base, token string, qs url.Values) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{"Authorization": {"Bearer " + token}}
	c, resp, err := websocket.Dial(ctx, wsURL(base, qs), &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		c.CloseNow()
		return 101
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}
