package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/simulator"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) {
	code := pgtest.Start(m)
	if binDir != "" {
		_ = os.RemoveAll(binDir) // the binaries built for this run
	}
	os.Exit(code)
}

// chromium is Debian's Chromium, which CI installs.
const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile and collects every console error,
// uncaught exception and error log entry into the returned func's result.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the dashboard test needs Chromium at %s (Debian package chromium): %v", chromium, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(testContext(t),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800))
	t.Cleanup(cancelAlloc)
	var mu sync.Mutex
	var problems []string
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(problemListener(func(p string) {
		mu.Lock()
		problems = append(problems, p)
		mu.Unlock()
	})))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

// problemListener is a chromedp listener passing every console error, uncaught exception and
// error log entry of a tab to add.
func problemListener(add func(string)) func(ev any) {
	return func(ev any) {
		var p string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p = "console.error: " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			p = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				p += " " + e.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				p = "log: " + e.Entry.Text + " " + e.Entry.URL
			}
		}
		if p != "" {
			add(p)
		}
	}
}

// waitJS waits up to 30 s for the JavaScript expression to be true, and returns how long it took.
func waitJS(t *testing.T, ctx context.Context, what, expr string) time.Duration {
	t.Helper()
	return waitJSWithin(t, ctx, 30*time.Second, what, expr)
}

// waitJSWithin waits up to d for the JavaScript expression to be true, and returns how long it
// took.
func waitJSWithin(t *testing.T, ctx context.Context, d time.Duration, what, expr string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return time.Since(start)
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true within %s: %s (last error: %v)", what, d, expr, lastErr)
	return 0
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	waitJS(t, ctx, "websocket connected", `document.querySelector('#live-status').textContent === 'Live' || document.body.dataset.page === 'system'`)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := filepath.Join(workspaceRoot(t), "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func text(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent.trim()`, selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return s
}

// dollars parses "$1,234.56" into cents.
func dollars(t *testing.T, s string) int64 {
	t.Helper()
	v := strings.NewReplacer("$", "", ",", "").Replace(s)
	whole, frac, _ := strings.Cut(v, ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || len(frac) != 2 {
		t.Fatalf("not an amount of dollars: %q", s)
	}
	return w*100 + f
}

// postSale posts a sale of qty units of p at store S001 to the POS and returns its id and total.
func postSale(t *testing.T, posURL string, p catalog.Product, qty int) (string, int64) {
	t.Helper()
	id := uuid.NewString()
	total := int64(qty) * p.PriceCents
	body, _ := json.Marshal(map[string]any{
		"sale_id": id, "store_id": "S001", "register": "R01", "occurred_at": time.Now().UTC().Format(time.RFC3339),
		"lines":   []map[string]any{{"sku": p.SKU, "qty": qty, "unit_price_cents": p.PriceCents}},
		"payment": map[string]any{"method": "card", "amount_cents": total},
	})
	resp, err := http.Post(posURL+"/v1/sales", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post sale: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("post sale: %s: %s", resp.Status, b.String())
	}
	return id, total
}

// TestDashboard drives the dashboard in a real browser against the running platform: a sale
// posted to the POS shows up in the ticker and the revenue without a reload, a low-stock
// crossing shows up in the alerts feed, and the system page lists every topic and group.
func TestDashboard(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	p := startPlatform(t, dsn)
	ctx, problems := browser(t)
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Two different products whose stock starts above the threshold: one sold singly, one
	// sold down below its threshold.
	var single, bulk catalog.Product
	for _, pr := range cat.Products() {
		if pr.InitialStock > pr.LowStockThreshold+1 && pr.PriceCents > 0 {
			if single.SKU == "" {
				single = pr
			} else if bulk.SKU == "" {
				bulk = pr
				break
			}
		}
	}

	navigate(t, ctx, p.Web+"/stores/S001")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}
	before := dollars(t, text(t, ctx, "#rev-total"))

	saleID, total := postSale(t, p.POS, single, 1)
	took := waitJS(t, ctx, "sale in the ticker", fmt.Sprintf(`!!document.querySelector('#ticker li[data-sale=%q]')`, saleID))
	t.Logf("sale %s appeared in the ticker %v after its 202", saleID, took.Round(time.Millisecond))
	want := before + total
	waitJS(t, ctx, "revenue moved", fmt.Sprintf(`document.querySelector('#rev-total').textContent.replace(/[$,]/g, '') === %q`,
		fmt.Sprintf("%d.%02d", want/100, want%100)))

	// Sell the second product down to one unit below its threshold: inventory raises
	// alert.low_stock and the feed shows it.
	qty := bulk.InitialStock - bulk.LowStockThreshold + 1
	postSale(t, p.POS, bulk, qty)
	took = waitJS(t, ctx, "low-stock alert in the feed", fmt.Sprintf(
		`[...document.querySelectorAll('#alerts li.alert.low')].some(li => li.textContent.includes(%q))`, bulk.SKU))
	t.Logf("low-stock alert for %s appeared %v after the sale's 202", bulk.SKU, took.Round(time.Millisecond))
	waitJS(t, ctx, "stock row shows low", fmt.Sprintf(
		`(document.querySelector('#stock-table tr[data-sku=%q] .badge') || {}).textContent === 'Low'`, bulk.SKU))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__noReload`)); err != nil || n != 42 {
		t.Fatalf("the page reloaded (marker %d, %v)", n, err)
	}
	// The simulator can start from the inventory's shelves instead of the catalog's.
	checkLoadStock(t, p.Inventory, cat, bulk, bulk.InitialStock-qty)
	// Search narrows the stock table to the product.
	if err := chromedp.Do(ctx, chromedp.SendKeys(`#stock-filter input[name=q]`, bulk.SKU)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "search narrows the table", fmt.Sprintf(
		`document.querySelectorAll('#stock-table tbody tr').length === 1 && !!document.querySelector('#stock-table tr[data-sku=%q]')`, bulk.SKU))
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const q = document.querySelector('#stock-filter input[name=q]');
		q.value = '';
		q.dispatchEvent(new Event('input', {bubbles: true}));
	})()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "search cleared", `document.querySelectorAll('#stock-table tbody tr').length > 100`)
	screenshot(t, ctx, "store")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(820, 1180, chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "store-tablet")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}

	// The page reconnects by itself when the dashboard server restarts, and the server
	// resumes when the broker restarts.
	if ps := problems(); len(ps) > 0 {
		t.Fatalf("the browser reported %d problems:\n%s", len(ps), strings.Join(ps, "\n"))
	}
	beforeRestart := len(problems())
	p.webProc.stop()
	waitJS(t, ctx, "page notices the server is gone", `document.querySelector('#live-status').textContent !== 'Live'`)
	p.webProc.run(t)
	waitHTTP(t, p.webProc, p.Web+"/readyz")
	waitJS(t, ctx, "page reconnected", `document.querySelector('#live-status').textContent === 'Live'`)
	// A restarted dashboard rebuilds revenue today from the broker (ListOffsets by timestamp).
	waitJS(t, ctx, "revenue after the dashboard restart", fmt.Sprintf(
		`document.querySelector('#rev-total').textContent.replace(/[$,]/g, '') === %q`,
		fmt.Sprintf("%d.%02d", (want+int64(qty)*bulk.PriceCents)/100, (want+int64(qty)*bulk.PriceCents)%100)))
	p.brokerProc.restart(t)
	waitHTTP(t, p.brokerProc, p.BrokerHTTP+"/readyz")
	after, _ := postSale(t, p.POS, single, 1)
	waitJS(t, ctx, "sale after the restarts in the ticker", fmt.Sprintf(`!!document.querySelector('#ticker li[data-sale=%q]')`, after))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__noReload`)); err != nil || n != 42 {
		t.Fatalf("the page reloaded (marker %d, %v)", n, err)
	}

	navigate(t, ctx, p.Web+"/")
	waitJS(t, ctx, "chain view shows the sales", fmt.Sprintf(`!!document.querySelector('#ticker li[data-sale=%q]')`, saleID))
	waitJS(t, ctx, "chain view shows the alert", fmt.Sprintf(
		`[...document.querySelectorAll('#alerts li.alert.low')].some(li => li.textContent.includes(%q))`, bulk.SKU))
	screenshot(t, ctx, "chain")

	// The system page lists every topic and every consumer group the broker knows.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(actx)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := adm.ListGroups(actx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) < 7 || len(groups) == 0 {
		t.Fatalf("broker lists %d topics and %d groups; want the 7 FreshMart topics and inventory's group", len(topics), len(groups))
	}
	navigate(t, ctx, p.Web+"/system")
	for _, name := range topics.Names() {
		waitJS(t, ctx, "topic "+name, fmt.Sprintf(`!!document.querySelector('#topics tr[data-topic=%q]')`, name))
	}
	for _, g := range groups.Groups() {
		waitJS(t, ctx, "group "+g, fmt.Sprintf(`!!document.querySelector('details.group[data-group=%q]')`, g))
	}
	// Every health target the system page lists (the broker and each service) is started by
	// startPlatform, so every one must be up.
	waitJS(t, ctx, "every service healthy", `(() => { const k = [...document.querySelectorAll('.health .kpi')];
		return k.length >= 8 && k.every(e => e.classList.contains('ok')); })()`)
	screenshot(t, ctx, "system")

	// While the server was down the browser may log its failed reconnection attempts; those
	// are expected. Anything else is a problem.
	var unexpected []string
	for _, p := range problems()[beforeRestart:] {
		if !strings.Contains(p, "WebSocket connection to") {
			unexpected = append(unexpected, p)
		}
	}
	if len(unexpected) > 0 {
		t.Fatalf("the browser reported %d problems:\n%s", len(unexpected), strings.Join(unexpected, "\n"))
	}
}

// checkLoadStock takes the inventory service's stock into a simulator and checks the figure of
// one product at S001.
func checkLoadStock(t *testing.T, inventoryURL string, cat *catalog.Catalog, p catalog.Product, want int) {
	t.Helper()
	stores, products, err := simulator.FromCatalog(cat, []string{"S001"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := simulator.New(simulator.Config{Stores: stores, Products: products, Seed: 1, Start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	n, err := simulator.LoadStock(context.Background(), &http.Client{Timeout: 10 * time.Second}, inventoryURL, g)
	if err != nil || n < len(products) {
		t.Fatalf("LoadStock took %d figures of %d: %v", n, len(products), err)
	}
	if got, ok := g.OnHand("S001", p.SKU); !ok || got != want {
		t.Fatalf("simulator stock of %s = %d, want the inventory's %d", p.SKU, got, want)
	}
}
