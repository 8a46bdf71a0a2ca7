package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/services/catalog"
)

// postComplaint files a complaint about sku at store, filed now, with the complaints service
// and returns its id and filed_at.
func postComplaint(t *testing.T, complaintsURL, store, sku, text string) (string, time.Time) {
	t.Helper()
	filed := time.Now().UTC()
	body, _ := json.Marshal(map[string]any{"store_id": store, "sku": sku, "filed_at": filed.Format(time.RFC3339Nano),
		"channel": "help_desk", "category": "product_quality", "severity": 3, "text": text})
	resp, err := http.Post(complaintsURL+"/v1/complaints", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post complaint: %v", err)
	}
	defer resp.Body.Close()
	var answer struct {
		ComplaintID string `json:"complaint_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != http.StatusAccepted || answer.ComplaintID == "" {
		t.Fatalf("post complaint: %s, %+v, %v", resp.Status, answer, err)
	}
	return answer.ComplaintID, filed
}

// newTab opens another tab of the browser of ctx, its problems passed to add.
func newTab(t *testing.T, ctx context.Context, add func(string)) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx, chromedp.WithListener(problemListener(add)))
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// TestDashboardComplaints drives the complaint spikes through a real browser against the
// running platform (the complaints service with a window of spikeWindow): three complaints about one
// SKU of S001 filed now show up in the store's complaints card and open a spike on the store
// page and in the chain view's active spikes, live; three more at S002 make it chain-wide;
// about a window after its newest complaint the spike resolves on the store page and leaves
// the chain view, without a reload. After the dashboard restarts (so it knows only what the
// complaints API says) a reload shows the resolved spike, the complaints and the chain-wide
// spike again.
func TestDashboardComplaints(t *testing.T) {
	dsn := pgtest.NewMigrated(t)
	p := startPlatform(t, dsn)
	ctx, problems := browser(t)
	var mu sync.Mutex
	var chainProblems []string
	chainTab := newTab(t, ctx, func(s string) { mu.Lock(); chainProblems = append(chainProblems, s); mu.Unlock() })
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cat.Store("S001")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := st.Location()
	if err != nil {
		t.Fatal(err)
	}
	product := cat.Products()[0]

	navigate(t, ctx, p.Web+"/stores/S001")
	navigate(t, chainTab, p.Web+"/")
	for _, tab := range []context.Context{ctx, chainTab} {
		if _, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.__noReload = 42`)); err != nil {
			t.Fatal(err)
		}
	}
	if s := text(t, ctx, "#alerts-body") + text(t, ctx, "#complaints-body"); strings.Contains(s, "unavailable") {
		t.Fatalf("the store page says the complaints service is unavailable: %s", s)
	}
	waitJS(t, ctx, "no spike yet", `!!document.querySelector('#spikes li.empty')`)
	waitJS(t, chainTab, "no active spike yet", `!!document.querySelector('#active-spikes tr.empty')`)

	long := "The " + product.Name + " I bought this morning were spoiled. " + strings.Repeat("I want a refund and an explanation. ", 8)
	texts := []string{"Spoiled, smells bad.", "Mould on the " + product.Name + ".", long}
	var ids []string
	var last time.Time
	for _, txt := range texts {
		id, filed := postComplaint(t, p.Complaints, "S001", product.SKU, txt)
		ids, last = append(ids, id), filed
	}
	posted, s001Last := time.Now(), last

	// The complaints card lists them live, newest first, in the store's time zone, the long one cut.
	for _, id := range ids {
		waitJS(t, ctx, "complaint "+id+" listed", fmt.Sprintf(`!!document.querySelector('#complaints li[data-complaint=%q]')`, id))
	}
	row := fmt.Sprintf(`document.querySelector('#complaints li[data-complaint=%q]')`, ids[2])
	type shown struct{ Time, Product, Text, Title, First string }
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](`(() => { const li = `+row+`; return {
		Time: li.querySelector('time').textContent, Product: li.querySelector('.product').textContent,
		Text: li.querySelector('.text').textContent, Title: li.querySelector('.text').title,
		First: document.querySelector('#complaints li').dataset.complaint }; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if want := last.In(loc).Format("Jan 2, 3:04 PM"); got.Time != want {
		t.Errorf("complaint time %q, want %q (S001's zone)", got.Time, want)
	}
	if got.Product != product.SKU+" "+product.Name || got.Title != long || !strings.HasSuffix(got.Text, "…") || len([]rune(got.Text)) > 140 || got.First != ids[2] {
		t.Errorf("the long complaint shows %+v", got)
	}

	// The spike opens on the store page and in the chain view.
	spike := fmt.Sprintf(`#spikes li.spike[data-sku=%q]`, product.SKU)
	waitJS(t, ctx, "spike on the store page", fmt.Sprintf(`(document.querySelector('%s.active .spike-count') || {}).textContent === '3'`, spike))
	t.Logf("the spike appeared on the store page %v after the third complaint's 202", time.Since(posted).Round(time.Millisecond))
	active := fmt.Sprintf(`#active-spikes tr[data-sku=%q][data-store="S001"]`, product.SKU)
	waitJS(t, chainTab, "spike in the chain view", fmt.Sprintf(`(document.querySelector('%s .spike-count') || {}).textContent === '3'`, active))
	if s := text(t, ctx, spike+" .what"); !strings.Contains(s, product.Name) || !strings.Contains(s, "3 complaints") || !strings.Contains(s, "ends ") {
		t.Errorf("the spike reads %q", s)
	}
	if s := text(t, chainTab, active); !strings.Contains(s, st.Name) || !strings.Contains(s, product.Name) {
		t.Errorf("the chain view's spike reads %q", s)
	}
	// The same SKU spiking at S002 too makes a chain-wide spike; S001's page does not list
	// S002's spike.
	for _, txt := range texts {
		_, filed := postComplaint(t, p.Complaints, "S002", product.SKU, txt)
		last = filed
	}
	chainRow := fmt.Sprintf(`#chain-spikes tr[data-sku=%q]`, product.SKU)
	waitJS(t, chainTab, "chain-wide spike in the chain view", fmt.Sprintf(
		`(document.querySelector('%s .stores') || {}).textContent === 'S001 Brooklyn, S002 Chicago'`, chainRow))
	waitJS(t, chainTab, "S002's spike in the chain view", fmt.Sprintf(
		`!!document.querySelector('#active-spikes tr[data-sku=%q][data-store="S002"]')`, product.SKU))
	if s := text(t, chainTab, chainRow); !strings.Contains(s, product.VendorID) || !strings.Contains(s, product.Name) {
		t.Errorf("the chain-wide spike reads %q", s)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#spikes li.spike').length`)); err != nil || n != 1 {
		t.Errorf("S001's page lists %d spikes (%v), want its own one", n, err)
	}
	screenshot(t, ctx, "store-complaint-spike")
	screenshot(t, chainTab, "chain-complaint-spike")

	// It resolves about a window after its newest complaint, with nothing else happening.
	due := s001Last.Add(spikeWindow)
	waitJSWithin(t, ctx, time.Until(due)+30*time.Second, "spike resolved on the store page", fmt.Sprintf(
		`!!document.querySelector('%s.resolved') && !document.querySelector('%s.active')`, spike, spike))
	if early := time.Until(due); early > time.Second {
		t.Fatalf("the spike resolved %v before its window passed", early)
	}
	t.Logf("the spike resolved %v after its window passed", (-time.Until(due)).Round(time.Millisecond))
	if s := text(t, ctx, spike+" .what"); !strings.Contains(s, "resolved ") || !strings.Contains(s, "3 complaints") {
		t.Errorf("the resolved spike reads %q", s)
	}
	waitJS(t, chainTab, "spike left the chain view", fmt.Sprintf(`!document.querySelector('%s')`, active))
	waitJSWithin(t, chainTab, time.Until(last.Add(spikeWindow))+30*time.Second, "S002's spike left the chain view too",
		`!document.querySelector('#active-spikes tr[data-alert]') && !!document.querySelector('#active-spikes tr.empty')`)
	for _, tab := range []context.Context{ctx, chainTab} {
		if n, err := chromedp.Run(tab, chromedp.Evaluate[int](`window.__noReload`)); err != nil || n != 42 {
			t.Fatalf("a page reloaded (marker %d, %v)", n, err)
		}
	}
	screenshot(t, ctx, "store-complaint-resolved")

	// A restarted dashboard knows nothing from the broker yet: the reloaded page's spike and
	// complaints come from the complaints API.
	p.webProc.restart(t)
	waitHTTP(t, p.webProc, p.Web+"/readyz")
	navigate(t, ctx, p.Web+"/stores/S001")
	waitJS(t, ctx, "resolved spike after a reload", fmt.Sprintf(`(document.querySelector('%s.resolved .spike-count') || {}).textContent === '3'`, spike))
	for _, id := range ids {
		waitJS(t, ctx, "complaint "+id+" after a reload", fmt.Sprintf(`!!document.querySelector('#complaints li[data-complaint=%q]')`, id))
	}
	navigate(t, chainTab, p.Web+"/")
	waitJS(t, chainTab, "chain-wide spike after a reload", fmt.Sprintf(
		`(document.querySelector('%s .stores') || {}).textContent === 'S001 Brooklyn, S002 Chicago'`, chainRow))
	waitJS(t, chainTab, "no active spike after a reload", `!!document.querySelector('#active-spikes tr.empty')`)

	// The page noticed the restart and reconnected: those failed attempts are expected.
	var unexpected []string
	mu.Lock()
	all := append(problems(), chainProblems...)
	mu.Unlock()
	for _, p := range all {
		if !strings.Contains(p, "WebSocket connection to") {
			unexpected = append(unexpected, p)
		}
	}
	if len(unexpected) > 0 {
		t.Fatalf("the browser reported %d problems:\n%s", len(unexpected), strings.Join(unexpected, "\n"))
	}
}
