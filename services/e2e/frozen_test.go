package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/services/catalog"
)

// answered is one request's outcome: status, Retry-After, body and how long it took.
type answered struct {
	status     int
	retryAfter string
	body       string
	took       time.Duration
}

// request sends method url (with a JSON body when body is not empty) and gives up after a
// minute, so a hanging service fails the test instead of stalling it.
func request(t *testing.T, method, url, body string) answered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer after %s: %v", method, url, time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answered{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b), took: time.Since(start)}
}

// proxiedDSN returns dsn with its host and port replaced by the proxy's.
func proxiedDSN(t *testing.T, dsn string, p *kittest.Proxy) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Addr()
	return u.String()
}

// TestFrozenPostgres puts a proxy that can freeze between Postgres and the POS and inventory
// services (a stalled disk or a partition: connections open, nothing answers). While frozen,
// every request is answered within the kit's request deadline: the inventory's stock with 503
// and Retry-After, a sale with 202 (the POS accepts without its pos.accepted record, as
// designed), a void with 503 and Retry-After (the POS cannot check the sale without
// pos.accepted) and /readyz with 503 naming postgres, within its check timeout. After the thaw,
// both are ready again, the frozen-time sale reaches the stock and the void is accepted.
func TestFrozenPostgres(t *testing.T) {
	broker := brokertest.Start(t)
	dsn := pgtest.NewMigrated(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := kittest.NewProxy(t, u.Host)
	frozenDSN := proxiedDSN(t, dsn, proxy)
	pos := newPOS(t, broker.Addr, frozenDSN, 0)
	inv := newInventory(t, broker.Addr, frozenDSN)
	waitFor(t, time.Minute, "inventory ready", func() error {
		if a := request(t, "GET", inv+"/readyz", ""); a.status != 200 {
			return fmt.Errorf("%d %s", a.status, a.body)
		}
		return nil
	})
	before := request(t, "GET", inv+"/v1/stock?store_id=S001&sku=PRD-0001", "")
	if before.status != 200 {
		t.Fatalf("stock before the freeze: %d %s", before.status, before.body)
	}

	// A sale to void while Postgres is frozen (of another SKU than the one the test follows).
	toVoid := uuid.NewString()
	if a := request(t, "POST", pos+"/v1/sales", strings.Replace(fmt.Sprintf(validSale, toVoid), "PRD-0001", "PRD-0002", 1)); a.status != 202 {
		t.Fatalf("sale before the freeze: %d %s", a.status, a.body)
	}
	voidBody := `{"reason":"customer changed mind","voided_at":"2026-11-22T09:45:00Z"}`

	proxy.Freeze()
	const bound = 10 * time.Second // the request deadline (6s) plus slack for a loaded machine
	void := request(t, "POST", pos+"/v1/sales/"+toVoid+"/void", voidBody)
	if void.status != 503 || void.retryAfter == "" || void.took > bound {
		t.Errorf("void with Postgres frozen: %d (Retry-After %q) after %s: %s", void.status, void.retryAfter, void.took, void.body)
	}
	for _, svc := range []struct{ name, url string }{{"pos", pos}, {"inventory", inv}} {
		a := request(t, "GET", svc.url+"/readyz", "")
		if a.status != 503 || !strings.Contains(a.body, `"postgres"`) || a.took > bound {
			t.Errorf("%s /readyz with Postgres frozen: %d after %s: %s", svc.name, a.status, a.took, a.body)
		}
	}
	stock := request(t, "GET", inv+"/v1/stock?store_id=S001&sku=PRD-0001", "")
	if stock.status != 503 || stock.retryAfter == "" || stock.took > bound {
		t.Errorf("stock with Postgres frozen: %d (Retry-After %q) after %s: %s", stock.status, stock.retryAfter, stock.took, stock.body)
	}
	saleID := uuid.NewString()
	sale := request(t, "POST", pos+"/v1/sales", fmt.Sprintf(validSale, saleID))
	if sale.status != 202 || sale.took > bound {
		t.Errorf("sale with Postgres frozen: %d after %s: %s", sale.status, sale.took, sale.body)
	}

	proxy.Thaw()
	for _, svc := range []struct{ name, url string }{{"pos", pos}, {"inventory", inv}} {
		waitFor(t, time.Minute, svc.name+" ready after the thaw", func() error {
			if a := request(t, "GET", svc.url+"/readyz", ""); a.status != 200 {
				return fmt.Errorf("%d %s", a.status, a.body)
			}
			return nil
		})
	}
	if a := request(t, "POST", pos+"/v1/sales/"+toVoid+"/void", voidBody); a.status != 202 {
		t.Errorf("void after the thaw: %d %s", a.status, a.body)
	}
	// The sale accepted while Postgres was frozen is folded once it is back: 2 units fewer.
	var want int64
	{
		var got struct {
			Items []struct {
				OnHand int64 `json:"on_hand"`
			} `json:"items"`
		}
		if err := jsonUnmarshal([]byte(before.body), &got); err != nil || len(got.Items) != 1 {
			t.Fatalf("stock before: %v %s", err, before.body)
		}
		want = got.Items[0].OnHand - 2
	}
	waitFor(t, time.Minute, "the frozen-time sale in the stock", func() error {
		var got struct {
			Items []struct {
				OnHand int64 `json:"on_hand"`
			} `json:"items"`
		}
		code, err := getJSON(inv+"/v1/stock?store_id=S001&sku=PRD-0001", &got)
		if err != nil || code != 200 || len(got.Items) != 1 {
			return fmt.Errorf("%d %v", code, err)
		}
		if got.Items[0].OnHand != want {
			return fmt.Errorf("on hand %d, want %d", got.Items[0].OnHand, want)
		}
		return nil
	})
}

// TestFrozenBroker suspends the broker (SIGSTOP: connections open, nothing answers) under a POS
// and an inventory service. While frozen, a sale is answered 503 with Retry-After within the
// POS's delivery timeout (it used to hang for minutes), /readyz answers within its check
// timeout naming the broker, and the stock, read from Postgres, is still served. After the
// thaw, the retried sale is accepted and the stock counts it once. (The record the first
// attempt handed to the frozen broker may be written after all, once the broker runs again,
// and the retry is then a second copy: every copy carries the sale's id and readers drop it.)
func TestFrozenBroker(t *testing.T) {
	broker := brokertest.Start(t)
	dsn := pgtest.NewMigrated(t)
	pos := newPOS(t, broker.Addr, dsn, 0)
	inv := newInventory(t, broker.Addr, dsn)
	waitFor(t, time.Minute, "inventory ready", func() error {
		if a := request(t, "GET", inv+"/readyz", ""); a.status != 200 {
			return fmt.Errorf("%d %s", a.status, a.body)
		}
		return nil
	})
	// A first sale, so the POS's producer has its connections and producer id.
	if a := request(t, "POST", pos+"/v1/sales", fmt.Sprintf(validSale, uuid.NewString())); a.status != 202 {
		t.Fatalf("sale before the freeze: %d %s", a.status, a.body)
	}

	if err := broker.Freeze(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Thaw() })
	const bound = 10 * time.Second // the POS's 5s delivery timeout plus slack for a loaded machine
	saleID := uuid.NewString()
	body := fmt.Sprintf(validSale, saleID)
	sale := request(t, "POST", pos+"/v1/sales", body)
	if sale.status != 503 || sale.retryAfter == "" || sale.took > bound {
		t.Errorf("sale with the broker frozen: %d (Retry-After %q) after %s: %s", sale.status, sale.retryAfter, sale.took, sale.body)
	}
	for _, svc := range []struct{ name, url string }{{"pos", pos}, {"inventory", inv}} {
		a := request(t, "GET", svc.url+"/readyz", "")
		if a.status != 503 || !strings.Contains(a.body, `"broker"`) || a.took > bound {
			t.Errorf("%s /readyz with the broker frozen: %d after %s: %s", svc.name, a.status, a.took, a.body)
		}
	}
	if a := request(t, "GET", inv+"/v1/stock?store_id=S001&sku=PRD-0001", ""); a.status != 200 || a.took > bound {
		t.Errorf("stock with the broker frozen: %d after %s: %s", a.status, a.took, a.body)
	}

	if err := broker.Thaw(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the retried sale accepted", func() error {
		if a := request(t, "POST", pos+"/v1/sales", body); a.status != 202 {
			return fmt.Errorf("%d %s", a.status, a.body)
		}
		return nil
	})
	// A marker sale of another SKU in the same store (so the same partition, after every copy):
	// once it is folded, so is everything before it.
	marker := strings.Replace(fmt.Sprintf(validSale, uuid.NewString()), "PRD-0001", "PRD-0002", 1)
	if a := request(t, "POST", pos+"/v1/sales", marker); a.status != 202 {
		t.Fatalf("marker sale: %d %s", a.status, a.body)
	}
	onHand := func(sku string) (int64, error) {
		var got struct {
			Items []struct {
				OnHand int64 `json:"on_hand"`
			} `json:"items"`
		}
		code, err := getJSON(inv+"/v1/stock?store_id=S001&sku="+sku, &got)
		if err != nil || code != 200 || len(got.Items) != 1 {
			return 0, fmt.Errorf("%d %v", code, err)
		}
		return got.Items[0].OnHand, nil
	}
	cat := catalog.MustLoad()
	initial := func(sku string) int64 { p, _ := cat.Product(sku); return int64(p.InitialStock) }
	waitFor(t, time.Minute, "the marker sale folded", func() error {
		if n, err := onHand("PRD-0002"); err != nil || n != initial("PRD-0002")-2 {
			return fmt.Errorf("PRD-0002 on hand %d (%v)", n, err)
		}
		return nil
	})
	if n, err := onHand("PRD-0001"); err != nil || n != initial("PRD-0001")-4 {
		t.Errorf("PRD-0001 on hand %d (%v), want %d: the first sale and the retried one, each once", n, err, initial("PRD-0001")-4)
	}
	ids, _ := saleIDsOnTopic(t, broker.Addr, endOffsetSum(t, broker.Addr, "pos-sales"))
	if ids[saleID] < 1 || ids[saleID] > 2 {
		t.Errorf("the sale retried after the freeze is on pos-sales %d times, want once or twice (all: %v)", ids[saleID], ids)
	}
}
