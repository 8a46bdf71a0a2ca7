package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	invapp "github.com/freshmart/platform/services/inventory/app"
	posdomain "github.com/freshmart/platform/services/pos"
	posapp "github.com/freshmart/platform/services/pos/app"
)

// newPOS runs a POS in this process on brokers and the database dsn and returns its base URL.
// A zero timeout keeps the POS's default delivery timeout.
func newPOS(t *testing.T, brokers, dsn string, timeout time.Duration) string {
	t.Helper()
	opts := posapp.Options
	if timeout > 0 {
		opts.DeliveryTimeout = timeout
	}
	s := kittest.Start(t, opts, map[string]string{"KAFKA_BROKERS": brokers, "DATABASE_URL": dsn},
		func(_ context.Context, s *kit.Service) error { _, err := posapp.New(s); return err })
	return kittest.URL(s)
}

// newInventory runs an inventory service in this process and returns its base URL.
func newInventory(t *testing.T, brokers, dsn string) string {
	t.Helper()
	s := kittest.Start(t, invapp.Options, map[string]string{"KAFKA_BROKERS": brokers, "DATABASE_URL": dsn},
		func(_ context.Context, s *kit.Service) error { _, err := invapp.New(s); return err })
	return kittest.URL(s)
}

const validSale = `{"sale_id":"%s","store_id":"S001","register":"R01","occurred_at":"2026-11-22T09:30:00Z",
"lines":[{"sku":"PRD-0001","qty":2,"unit_price_cents":199}],"payment":{"method":"card"}}`

// TestBadInputsChangeNothing posts every kind of bad input to every endpoint: each gets its
// status and names the bad fields, and no topic receives a record. Then a valid sale and its
// retry are accepted with the same position.
func TestBadInputsChangeNothing(t *testing.T) {
	broker := brokertest.Start(t)
	dsn := pgtest.New(t)
	pos := newPOS(t, broker.Addr, dsn, 0)
	invURL := newInventory(t, broker.Addr, dsn)
	topics := []string{"pos-sales", "vendor-deliveries", "inventory-updates"}
	before := map[string]int64{}
	for _, tp := range topics {
		before[tp] = endOffsetSum(t, broker.Addr, tp)
	}

	id := uuid.NewString()
	huge := `{"sale_id":"` + id + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name        string
		method, url string
		ctype, body string
		status      int
		fields      []string
	}{
		{"sale: text/plain", "POST", "/v1/sales", "text/plain", fmt.Sprintf(validSale, id), 415, nil},
		{"sale: no content type", "POST", "/v1/sales", "", fmt.Sprintf(validSale, id), 415, nil},
		{"sale: over 1 MiB", "POST", "/v1/sales", "application/json", huge, 413, nil},
		{"sale: malformed", "POST", "/v1/sales", "application/json", `{"sale_id": "` + id, 400, nil},
		{"sale: not an object", "POST", "/v1/sales", "application/json", `[1,2,3]`, 400, nil},
		{"sale: empty object", "POST", "/v1/sales", "application/json", `{}`, 422,
			[]string{"sale_id", "store_id", "register", "occurred_at", "lines", "payment"}},
		{"sale: unknown store and SKU", "POST", "/v1/sales", "application/json", `{"sale_id":"` + id + `","store_id":"S999",
			"register":"R01","occurred_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":1,"unit_price_cents":1},
			{"sku":"NOPE-1","qty":1,"unit_price_cents":1}],"payment":{"method":"card"}}`, 422, []string{"store_id", "lines[1].sku"}},
		{"sale: bad quantities and payment", "POST", "/v1/sales", "application/json", `{"sale_id":"` + id + `","store_id":"S001",
			"register":"R01","occurred_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":0,"unit_price_cents":-5}],
			"payment":{"method":"cheque"}}`, 422, []string{"lines[0].qty", "lines[0].unit_price_cents", "payment.method"}},
		{"sale: bad id and time", "POST", "/v1/sales", "application/json", strings.Replace(strings.Replace(fmt.Sprintf(validSale, id),
			id, "sale-1", 1), "2026-11-22T09:30:00Z", "22/11/2026", 1), 422, []string{"sale_id", "occurred_at"}},
		{"sale: register off schema", "POST", "/v1/sales", "application/json", strings.Replace(fmt.Sprintf(validSale, id),
			`"R01"`, `"lane one"`, 1), 422, []string{"register"}},
		{"sale: wrong type", "POST", "/v1/sales", "application/json", strings.Replace(fmt.Sprintf(validSale, id),
			`"qty":2`, `"qty":"2"`, 1), 422, []string{"lines.qty"}},
		{"delivery: unknown vendor, zero qty", "POST", "/v1/deliveries", "application/json", `{"delivery_id":"` + id + `",
			"store_id":"S001","vendor_id":"V999","received_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":0}]}`,
			422, []string{"vendor_id", "lines[0].qty"}},
		{"delivery: no lines", "POST", "/v1/deliveries", "application/json", `{"delivery_id":"` + id + `","store_id":"S001",
			"vendor_id":"V001","received_at":"2026-11-22T09:30:00Z","lines":[]}`, 422, []string{"lines"}},
		{"delivery: xml", "POST", "/v1/deliveries", "application/xml", `<delivery/>`, 415, nil},
		{"count: negative, unknown SKU", "POST", "/v1/stock-counts", "application/json", `{"count_id":"` + id + `",
			"store_id":"S001","counted_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":-1},{"sku":"X","qty":1}]}`,
			422, []string{"lines[0].qty", "lines[1].sku"}},
		{"count: malformed", "POST", "/v1/stock-counts", "application/json", `{"count_id":}`, 400, nil},
		{"stock: no store", "GET", "inv:/v1/stock", "", "", 422, []string{"store_id"}},
		{"stock: unknown store, SKU, department, bad low", "GET", "inv:/v1/stock?store_id=S999&sku=NOPE&low=maybe&department=toys",
			"", "", 422, []string{"store_id", "sku", "low", "department"}},
		{"alerts: no store, bad limit", "GET", "inv:/v1/alerts?limit=0", "", "", 422, []string{"store_id", "limit"}},
		{"alerts: limit not a number", "GET", "inv:/v1/alerts?store_id=S001&limit=ten", "", "", 422, []string{"limit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := pos + tc.url
			if rest, ok := strings.CutPrefix(tc.url, "inv:"); ok {
				url = invURL + rest
			}
			req, err := http.NewRequest(tc.method, url, bytes.NewReader([]byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p struct {
				Status int `json:"status"`
				Errors []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q, want application/problem+json", ct)
			}
			if err := jsonUnmarshal(raw, &p); err != nil || p.Status != tc.status {
				t.Fatalf("problem body %s: %v", raw, err)
			}
			var got []string
			for _, e := range p.Errors {
				if e.Message == "" {
					t.Fatalf("field %q without a message", e.Field)
				}
				got = append(got, e.Field)
			}
			slices.Sort(got)
			want := slices.Clone(tc.fields)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("fields %v, want %v (%s)", got, want, raw)
			}
		})
	}
	for _, tp := range topics {
		if n := endOffsetSum(t, broker.Addr, tp); n != before[tp] {
			t.Fatalf("%s grew from %d to %d records after bad inputs", tp, before[tp], n)
		}
	}

	// The stock filters: department, search, low only (nothing is low at the initial stock).
	for _, f := range []struct {
		query string
		check func(name, dept, status string) bool
		min   int
	}{
		{"department=produce", func(_, d, _ string) bool { return d == "produce" }, 5},
		{"q=banana", func(n, _, _ string) bool { return strings.Contains(strings.ToLower(n), "banana") }, 1},
		{"low=true", func(_, _, st string) bool { return st != "ok" }, 0},
		{"sku=PRD-0001", func(string, string, string) bool { return true }, 1},
	} {
		var resp struct {
			Items []struct{ Name, Department, Status string } `json:"items"`
		}
		if code, err := getJSON(invURL+"/v1/stock?store_id=S001&"+f.query, &resp); err != nil || code != http.StatusOK {
			t.Fatalf("GET /v1/stock?%s: %d %v", f.query, code, err)
		}
		if len(resp.Items) < f.min {
			t.Fatalf("GET /v1/stock?%s: %d items, want at least %d", f.query, len(resp.Items), f.min)
		}
		for _, it := range resp.Items {
			if !f.check(it.Name, it.Department, it.Status) {
				t.Fatalf("GET /v1/stock?%s returned %+v", f.query, it)
			}
		}
	}

	// A valid sale is accepted once the broker has it; its retry gets the same answer.
	ctx := context.Background()
	code, first, err := post(ctx, pos+"/v1/sales", fmt.Sprintf(validSale, id))
	if err != nil || code != http.StatusAccepted || first["status"] != "accepted" || first["total_cents"] != float64(398) {
		t.Fatalf("valid sale: %d %v %v", code, first, err)
	}
	code, again, err := post(ctx, pos+"/v1/sales", fmt.Sprintf(validSale, id))
	if err != nil || code != http.StatusAccepted || again["offset"] != first["offset"] || again["partition"] != first["partition"] {
		t.Fatalf("retried sale: %d %v %v, first answer %v", code, again, err, first)
	}
	// A retry on another POS instance (sharing the database, not the memory) gets it too.
	pos2 := newPOS(t, broker.Addr, dsn, 0)
	code, other, err := post(ctx, pos2+"/v1/sales", fmt.Sprintf(validSale, id))
	if err != nil || code != http.StatusAccepted || other["offset"] != first["offset"] || other["partition"] != first["partition"] {
		t.Fatalf("sale retried on another POS: %d %v %v, first answer %v", code, other, err, first)
	}
	if n := endOffsetSum(t, broker.Addr, "pos-sales"); n != before["pos-sales"]+1 {
		t.Fatalf("pos-sales grew by %d records for one sale and its two retries", n-before["pos-sales"])
	}
}

// TestBrokerUnreachable: with no broker, the POS answers 503 with Retry-After and /readyz says
// not ready.
func TestBrokerUnreachable(t *testing.T) {
	pos := newPOS(t, freeAddr(t), pgtest.New(t), time.Second)
	code, body, err := post(context.Background(), pos+"/v1/sales", fmt.Sprintf(validSale, uuid.NewString()))
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("sale with the broker down: %d %v %v", code, body, err)
	}
	req, _ := http.NewRequest("POST", pos+"/v1/deliveries", strings.NewReader(`{"delivery_id":"`+uuid.NewString()+
		`","store_id":"S001","vendor_id":"V001","received_at":"2026-11-22T09:30:00Z","lines":[{"sku":"PRD-0001","qty":5}]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("delivery with the broker down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, err = client.Get(pos + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the broker down: %d", resp.StatusCode)
	}
}

// TestVoidAPI voids a sale through POST /v1/sales/{sale_id}/void: bad input is answered with
// problem+json naming the field (a bad sale id, a voided_at before the sale or more than 5
// minutes ahead, a missing or overlong reason, an unknown field), a sale no POS accepted is 404,
// and none of them produces anything. The void is accepted (202) once the broker has it, as
// sale.voided keyed by the sale's store with the id derived from the sale; voiding again, on
// this or another instance and with another reason or time, is answered with the first void and
// not produced; the inventory puts the sale's units back, once.
func TestVoidAPI(t *testing.T) {
	broker := brokertest.Start(t)
	dsn := pgtest.New(t)
	pos1 := newPOS(t, broker.Addr, dsn, 0)
	pos2 := newPOS(t, broker.Addr, dsn, 0)
	invURL := newInventory(t, broker.Addr, dsn)
	ctx := context.Background()
	onHand := func() (int64, error) {
		var got struct {
			Items []struct {
				OnHand int64 `json:"on_hand"`
			} `json:"items"`
		}
		code, err := getJSON(invURL+"/v1/stock?store_id=S001&sku=PRD-0001", &got)
		if err != nil || code != http.StatusOK || len(got.Items) != 1 {
			return 0, fmt.Errorf("GET /v1/stock: %d %v", code, err)
		}
		return got.Items[0].OnHand, nil
	}
	initial, err := onHand()
	if err != nil {
		t.Fatal(err)
	}
	waitOnHand := func(want int64) {
		t.Helper()
		waitFor(t, time.Minute, fmt.Sprintf("S001/PRD-0001 at %d", want), func() error {
			got, err := onHand()
			if err == nil && got != want {
				err = fmt.Errorf("on hand %d", got)
			}
			return err
		})
	}
	saleID := uuid.NewString()
	if code, body, err := post(ctx, pos1+"/v1/sales", fmt.Sprintf(validSale, saleID)); err != nil || code != http.StatusAccepted {
		t.Fatalf("sale: %d %v %v", code, body, err)
	}
	waitOnHand(initial - 2)
	before := endOffsetSum(t, broker.Addr, "pos-sales")

	path := "/v1/sales/" + saleID + "/void"
	voidBody := func(reason, at string) string { return fmt.Sprintf(`{"reason":%q,"voided_at":%q}`, reason, at) }
	ahead := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	tests := []struct {
		name, path, ctype, body string
		status                  int
		fields                  []string
	}{
		{"text/plain", path, "text/plain", voidBody("x", "2026-11-22T09:40:00Z"), 415, nil},
		{"malformed", path, "application/json", `{"reason":`, 400, nil},
		{"empty object", path, "application/json", `{}`, 422, []string{"reason", "voided_at"}},
		{"bad sale id", "/v1/sales/sale-1/void", "application/json", voidBody("x", "2026-11-22T09:40:00Z"), 422, []string{"sale_id"}},
		{"blank reason, bad time", path, "application/json", voidBody(" ", "22/11/2026"), 422, []string{"reason", "voided_at"}},
		{"reason too long", path, "application/json", voidBody(strings.Repeat("x", 501), "2026-11-22T09:40:00Z"), 422, []string{"reason"}},
		{"before the sale", path, "application/json", voidBody("x", "2026-11-22T09:29:59Z"), 422, []string{"voided_at"}},
		{"in the future", path, "application/json", voidBody("x", ahead), 422, []string{"voided_at"}},
		{"a void_id", path, "application/json", `{"reason":"x","voided_at":"2026-11-22T09:40:00Z","void_id":"` + uuid.NewString() + `"}`, 422, []string{"void_id"}},
		{"unknown sale", "/v1/sales/" + uuid.NewString() + "/void", "application/json", voidBody("x", "2026-11-22T09:40:00Z"), 404, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", pos1+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.ctype)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var p struct {
				Status int `json:"status"`
				Errors []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s: %s; want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), raw, tc.status)
			}
			if err := jsonUnmarshal(raw, &p); err != nil || p.Status != tc.status {
				t.Fatalf("problem body %s: %v", raw, err)
			}
			var got []string
			for _, e := range p.Errors {
				if e.Message == "" {
					t.Fatalf("field %q without a message", e.Field)
				}
				got = append(got, e.Field)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("fields %v, want %v (%s)", got, tc.fields, raw)
			}
		})
	}
	if n := endOffsetSum(t, broker.Addr, "pos-sales"); n != before {
		t.Fatalf("pos-sales grew by %d records after bad voids", n-before)
	}

	code, first, err := post(ctx, pos1+path, voidBody("customer changed mind", "2026-11-22T09:40:00Z"))
	if err != nil || code != http.StatusAccepted || first["status"] != "accepted" || first["sale_id"] != saleID ||
		first["void_id"] != posdomain.VoidID(saleID) {
		t.Fatalf("void: %d %v %v", code, first, err)
	}
	// Voiding again, here or on the other instance, whatever the reason and time: the first void.
	for _, again := range []struct{ url, body string }{
		{pos1, voidBody("customer changed mind", "2026-11-22T09:40:00Z")},
		{pos2, voidBody("voided twice", "2026-11-22T09:50:00Z")},
		{pos2, voidBody("voided before the sale", "2026-11-22T09:00:00Z")},
	} {
		code, got, err := post(ctx, again.url+path, again.body)
		if err != nil || code != http.StatusAccepted || got["partition"] != first["partition"] || got["offset"] != first["offset"] ||
			got["void_id"] != first["void_id"] {
			t.Fatalf("second void %s: %d %v %v; first answer %v", again.body, code, got, err, first)
		}
	}
	if n := endOffsetSum(t, broker.Addr, "pos-sales"); n != before+1 {
		t.Fatalf("pos-sales grew by %d records for one void and its three repeats", n-before)
	}
	// The record: sale.voided, keyed by the sale's store, under the derived id, valid.
	cl := broker.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"pos-sales": {int32(first["partition"].(float64)): kgo.NewOffset().At(int64(first["offset"].(float64)))}}))
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fs := cl.PollRecords(pctx, 1)
	if err := fs.Err0(); err != nil || len(fs.Records()) != 1 {
		t.Fatalf("reading the void back: %v", err)
	}
	ev, err := events.Parse(fs.Records()[0])
	if err != nil {
		t.Fatal(err)
	}
	var v schemas.SaleVoided
	if err := jsonUnmarshal(ev.Data, &v); err != nil || ev.Type != schemas.TypeSaleVoided || ev.ID != posdomain.VoidID(saleID) || ev.Key != "S001" ||
		v.StoreID != "S001" || v.SaleID != saleID || v.Reason != "customer changed mind" || !v.VoidedAt.Equal(time.Date(2026, 11, 22, 9, 40, 0, 0, time.UTC)) {
		t.Fatalf("the void on pos-sales: %+v %+v (%v)", ev.Envelope, v, err)
	}
	if err := schemas.Validate(ev.Type, ev.Data); err != nil {
		t.Fatal(err)
	}
	waitOnHand(initial)
}
