package signsapp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/web/dashboard"
)

const chromium = "/usr/bin/chromium"

func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the sign page test needs Chromium at %s (Debian package chromium): %v", chromium, err)
	}
	base, cancelBase := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancelBase)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800))
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func startWeb(t *testing.T, brokers, pricingURL string) string {
	t.Helper()
	down := "127.0.0.1:1" // nothing listens: the other services are down, which the pages say
	s := kittest.Start(t, dashboard.Options, map[string]string{"KAFKA_BROKERS": brokers, "PRICING_URL": pricingURL,
		"INVENTORY_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down, "ANALYTICS_URL": "http://" + down,
		"POS_URL": "http://" + down, "BROKER_HTTP_URL": "http://" + down},
		func(_ context.Context, s *kit.Service) error { _, err := dashboard.New(s); return err })
	return kittest.URL(s)
}

// TestSignPageInChromium: the sign page (served by web) shows the snapshot, then a price change
// and a promotion without a reload, acknowledges what it shows, and reconnects with since
// after the hub restarts; the store page's panel shows the sign connected, and follows the hub
// going away and coming back without a reload.
func TestSignPageInChromium(t *testing.T) {
	e := newEnv(t)
	// A fixed port for the hub, so the page reconnects to its restart.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := e.start(t, map[string]string{"HTTP_ADDR": addr})
	web := startWeb(t, e.brokers, r.url)
	ps := e.cat.Products()
	a, b := ps[0], ps[1]
	tok := e.token(t, r, "S001", "aisle-7")
	ctx := browser(t)
	page := web + "/signs/S001/aisle-7?skus=" + a.SKU + "," + b.SKU + "&token=" + tok
	// text is the text of the first element matching sel ("" when there is none).
	text := func(sel string) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var e=document.querySelector(`+jsString(sel)+`);return e?e.textContent:"";})()`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	waitText := func(sel, want string) {
		t.Helper()
		waitFor(t, 20*time.Second, sel+" showing "+want, func() bool { return strings.Contains(text(sel), want) })
	}
	noReload := func() {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__noReload)`))
		if err != nil || v != "yes" {
			t.Fatalf("the page was reloaded (%q, %v)", v, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open the sign page: %v", err)
	}
	waitText(`.label[data-sku="`+a.SKU+`"] .price`, money(a.PriceCents))
	waitText(`.label[data-sku="`+a.SKU+`"] .name`, a.Name)
	// A marker on the window: it survives only if the page is never reloaded.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__noReload = "yes"`)); err != nil {
		t.Fatal(err)
	}

	e.price(t, "S001", a.SKU, 349)
	waitText(`.label[data-sku="`+a.SKU+`"] .price`, "$3.49")
	waitText(`.label[data-sku="`+a.SKU+`"] .unit`, a.UnitPrice(349))

	vPromo := e.promo(t, "S001", b.SKU, uuid.NewString(), 500, 399)
	waitText(`.label[data-sku="`+b.SKU+`"] .price`, "$3.99")
	waitText(`.label[data-sku="`+b.SKU+`"] .regular-price`, "$5.00")
	waitText(`.label[data-sku="`+b.SKU+`"] .promo-title`, "20% off")
	waitText(`.label[data-sku="`+b.SKU+`"] .promo-ends`, "ends Jan")
	e.produce(t, "stock.badge", "S001", map[string]any{"store_id": "S001", "sku": a.SKU, "badge": "out", "on_hand": 0, "at": time.Now().UTC()})
	waitText(`.label[data-sku="`+a.SKU+`"] .band.out`, "Out of stock")
	noReload()
	// The page acknowledged what it shows, and the store page says so.
	waitFor(t, 10*time.Second, "the page's ack stored", func() bool {
		st := status(t, r, "S001")
		return len(st) == 1 && st[0].Connected && st[0].LastAckVersion > vPromo && st[0].Behind == 0
	})
	body := get(t, web+"/stores/S001")
	if !strings.Contains(body, `id="signs-connected">1<`) || !strings.Contains(body, `data-sign="aisle-7"`) ||
		!strings.Contains(body, "/signs/S001/aisle-7?skus=") {
		t.Fatalf("store page's signs panel:\n%s", excerpt(body, "Shelf signs"))
	}

	// The store page, in a second tab, keeps its signs panel up to date without a reload.
	store, cancelStore := chromedp.NewContext(ctx)
	defer cancelStore()
	storeText := func(sel string) string {
		v, err := chromedp.Run(store, chromedp.Evaluate[string](`(function(){var e=document.querySelector(`+jsString(sel)+`);return e?e.textContent:"";})()`))
		if err != nil {
			t.Fatalf("store page: text of %s: %v", sel, err)
		}
		return v
	}
	if err := chromedp.Do(store, chromedp.Navigate(web+"/stores/S001")); err != nil {
		t.Fatalf("open the store page: %v", err)
	}
	if _, err := chromedp.Run(store, chromedp.Evaluate[string](`window.__noReload = "yes"`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the store page's panel showing the sign connected", func() bool { return storeText("#signs-connected") == "1" })

	// The hub restarts on the same address; a change made meanwhile reaches the page, which
	// reconnected with since. The store page's panel says the hub is gone, then shows the sign
	// back.
	r.stop()
	waitFor(t, 20*time.Second, "the store page's panel saying sign status is unavailable", func() bool {
		return strings.Contains(storeText("#signs-unavailable"), "Sign status is unavailable")
	})
	e.price(t, "S001", a.SKU, 1234)
	r2 := e.start(t, map[string]string{"HTTP_ADDR": addr})
	waitText(`.label[data-sku="`+a.SKU+`"] .price`, "$12.34")
	noReload()
	waitText(`#sign-status`, "Live")
	_ = r2
	waitFor(t, 20*time.Second, "the store page's panel showing the sign connected again", func() bool {
		return storeText("#signs-connected") == "1" && storeText("#signs-unavailable") == ""
	})
	if v, err := chromedp.Run(store, chromedp.Evaluate[string](`String(window.__noReload)`)); err != nil || v != "yes" {
		t.Fatalf("the store page was reloaded (%q, %v)", v, err)
	}

	// With the pricing service gone, the store page says so and still renders.
	web2 := startWeb(t, e.brokers, "http://127.0.0.1:1")
	if body := get(t, web2+"/stores/S001"); !strings.Contains(body, `id="signs-unavailable"`) {
		t.Fatalf("store page without the pricing service:\n%s", excerpt(body, "Shelf signs"))
	}
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func money(c int64) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

func excerpt(s, near string) string {
	i := strings.Index(s, near)
	if i < 0 {
		return s[:min(len(s), 2000)]
	}
	return s[i:min(len(s), i+2000)]
}
