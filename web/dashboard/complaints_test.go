package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Alert and complaint ids of the tests.
const (
	spikeA = "0b5f8a64-1c2d-4e3f-8a9b-000000000001"
	spikeB = "0b5f8a64-1c2d-4e3f-8a9b-000000000002"
	chainA = "0b5f8a64-1c2d-4e3f-8a9b-0000000000c1"
)

func complaintID(i int) string { return fmt.Sprintf("5e0c1a2b-3c4d-4e5f-9a0b-%012d", i) }

func newFeed(t *testing.T, now *time.Time) *ComplaintFeed {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewComplaintFeed(cat, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// spikeJSON is the payload of a spike event of S001's PRD-0001 with complaints 1..n filed a
// minute apart from first, with a 30-minute window, extra appended to its fields. Its "at" is
// the newest complaint's filed_at, or the end for a quiet resolution.
func spikeJSON(id string, first time.Time, n int, extra string) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", complaintID(i+1))
	}
	last := first.Add(time.Duration(n-1) * time.Minute)
	end := last.Add(30 * time.Minute)
	at := last
	if strings.Contains(extra, `"quiet"`) {
		at = end
	}
	return fmt.Sprintf(`{"alert_id":%q,"store_id":"S001","sku":"PRD-0001","complaint_ids":[%s],"count":%d,`+
		`"first_filed_at":%q,"last_filed_at":%q,"opened_at":%q,"ends_at":%q,"window_minutes":30,"threshold":3,"at":%q%s}`,
		id, strings.Join(ids, ","), n, first.Format(time.RFC3339), last.Format(time.RFC3339),
		first.Add(2*time.Minute).Format(time.RFC3339), end.Format(time.RFC3339), at.Format(time.RFC3339), extra)
}

func decodeSpike(t *testing.T, typ, body string) *SpikeEvent {
	t.Helper()
	if err := schemas.Validate(typ, []byte(body)); err != nil {
		t.Fatalf("the test's payload is not a valid %s: %v", typ, err)
	}
	v, err := decodeEvent(typ, []byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	e, ok := v.(*SpikeEvent)
	if !ok || e.Type != typ {
		t.Fatalf("decoded %T %+v, want a *SpikeEvent of type %s", v, v, typ)
	}
	return e
}

func TestDecodeComplaintEvents(t *testing.T) {
	first := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	chain := `{"alert_id":"` + chainA + `","sku":"PRD-0001","vendor_id":"V001","store_ids":["S001","S002"],` +
		`"spike_alert_ids":["` + spikeA + `","` + spikeB + `"],"window_hours":24,"first_opened_at":"2026-11-22T15:02:00Z","at":"2026-11-22T16:00:00Z"}`
	complaint := `{"complaint_id":"` + complaintID(1) + `","store_id":"S001","filed_at":"2026-11-22T15:00:00Z","channel":"app",` +
		`"category":"product_quality","sku":"PRD-0001","text":"Bruised"}`
	tests := []struct {
		name, ceType, value string
		want                any
	}{
		{"spike", schemas.TypeAlertComplaintSpike, spikeJSON(spikeA, first, 3, ""), &SpikeEvent{}},
		{"updated", schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeA, first, 4, `,"merged_alert_ids":["`+spikeB+`"]`), &SpikeEvent{}},
		{"resolved", schemas.TypeAlertComplaintSpikeResolved, spikeJSON(spikeA, first, 4, `,"reason":"quiet"`), &SpikeEvent{}},
		{"chain spike", schemas.TypeAlertComplaintChainSpike, chain, &ChainSpikeEvent{}},
		{"complaint", schemas.TypeComplaintFiled, complaint, &ComplaintEvent{}},
		{"spike without store", schemas.TypeAlertComplaintSpike, `{"alert_id":"a","sku":"PRD-0001"}`, nil},
		{"spike without alert id", schemas.TypeAlertComplaintSpikeUpdated, `{"store_id":"S001","sku":"PRD-0001"}`, nil},
		{"spike with a negative count", schemas.TypeAlertComplaintSpike, `{"alert_id":"a","store_id":"S001","sku":"PRD-0001","count":-1}`, nil},
		{"spike with a bad time", schemas.TypeAlertComplaintSpikeResolved, `{"alert_id":"a","store_id":"S001","sku":"P","ends_at":"soon"}`, nil},
		{"chain spike without stores", schemas.TypeAlertComplaintChainSpike, `{"alert_id":"a","sku":"PRD-0001","store_ids":[]}`, nil},
		{"complaint without id", schemas.TypeComplaintFiled, `{"store_id":"S001","text":"x"}`, nil},
		{"complaint without store", schemas.TypeComplaintFiled, `{"complaint_id":"c","text":"x"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeEvent(tt.ceType, []byte(tt.value))
			if tt.want == nil {
				if err == nil || errors.Is(err, ErrUnknownType) {
					t.Fatalf("decoded %+v (err %v), want an error", v, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%T", v) != fmt.Sprintf("%T", tt.want) {
				t.Fatalf("decoded a %T, want a %T", v, tt.want)
			}
			if e, ok := v.(*SpikeEvent); ok && (e.Type != tt.ceType || e.AlertID != spikeA || e.Count == 0) {
				t.Fatalf("spike %+v", e)
			}
		})
	}
}

// TestComplaintFeedSpikeLifecycle follows one episode through its events and checks the
// status, rank and texts the pages get at each step.
func TestComplaintFeedSpikeLifecycle(t *testing.T) {
	first := time.Date(2026, 11, 22, 15, 2, 0, 0, time.UTC) // 10:02 AM in Brooklyn (EST)
	now := first.Add(5 * time.Minute)
	f := newFeed(t, &now)
	steps := []struct {
		name, typ, body string
		now             time.Time
		status          string
		count           int64
		ends            string
	}{
		{"opened", schemas.TypeAlertComplaintSpike, spikeJSON(spikeA, first, 3, ""), now, SpikeActive, 3, "ends 10:34 AM EST"},
		{"a complaint joins", schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeA, first, 4, ""), now, SpikeActive, 4, "ends 10:35 AM EST"},
		{"quiet", schemas.TypeAlertComplaintSpikeResolved, spikeJSON(spikeA, first, 4, `,"reason":"quiet"`), first.Add(33 * time.Minute), SpikeResolved, 4, "resolved 10:35 AM EST"},
		// A late complaint inside the window joins, but the end stays behind: still resolved.
		{"a late joiner, end passed", schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeA, first, 5, ""), first.Add(3 * time.Hour), SpikeResolved, 5, "resolved 10:35 AM EST"},
		// One whose new end is ahead makes it active again.
		{"a late joiner, end ahead", schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeA, first, 6, ""), first.Add(20 * time.Minute), SpikeActive, 6, "ends 10:37 AM EST"},
	}
	prevRank := int64(-1)
	for _, s := range steps {
		now = s.now
		row := f.ApplySpike(decodeSpike(t, s.typ, s.body))
		if row.Status != s.status || row.Count != s.count || row.Ends != s.ends {
			t.Fatalf("%s: status %s, count %d, %q; want %s, %d, %q", s.name, row.Status, row.Count, row.Ends, s.status, s.count, s.ends)
		}
		if row.Rank <= prevRank {
			t.Fatalf("%s: rank %d is not above the previous %d", s.name, row.Rank, prevRank)
		}
		prevRank = row.Rank
		if row.Name != "Bananas" || row.StoreName == "" || row.Window != "Nov 22, 10:02 AM – "+first.Add(time.Duration(s.count-1)*time.Minute).In(f.loc("S001")).Format("3:04 PM MST") {
			t.Fatalf("%s: row %+v", s.name, row)
		}
		if got := f.Spikes("S001"); len(got) != 1 || got[0].Status != s.status || got[0].Count != s.count {
			t.Fatalf("%s: the feed has %+v", s.name, got)
		}
	}
	if got := f.Spikes("S002"); len(got) != 0 {
		t.Fatalf("another store's spikes: %+v", got)
	}

	// A late complaint bridges A and a later episode B: B is resolved as merged and A's update
	// names it; B leaves every list.
	later := first.Add(50 * time.Minute)
	now = later.Add(3 * time.Minute)
	f.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpike, spikeJSON(spikeB, later, 3, "")))
	if got := f.Spikes(""); len(got) != 2 || got[0].AlertID != spikeB {
		t.Fatalf("two spikes, the newest first: %+v", got)
	}
	merged := f.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpikeResolved, spikeJSON(spikeB, later, 3, `,"reason":"merged","merged_into":"`+spikeA+`"`)))
	if merged.Status != SpikeMerged || merged.MergedInto != spikeA || merged.Label != "Merged" {
		t.Fatalf("merged row %+v", merged)
	}
	f.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeA, first, 10, `,"merged_alert_ids":["`+spikeB+`"]`)))
	if got := f.Spikes(""); len(got) != 1 || got[0].AlertID != spikeA || got[0].Count != 10 {
		t.Fatalf("after the merge: %+v", got)
	}

	// An update of a spike the feed never heard of (opened before the dashboard started) whose
	// end has passed is taken as resolved; one whose end is ahead as active.
	g := newFeed(t, &now)
	now = first.Add(2 * time.Hour)
	if row := g.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeA, first, 4, ""))); row.Status != SpikeResolved {
		t.Fatalf("unknown, end passed: %+v", row)
	}
	now = first
	if row := g.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpikeUpdated, spikeJSON(spikeB, first, 4, ""))); row.Status != SpikeActive {
		t.Fatalf("unknown, end ahead: %+v", row)
	}
}

// TestComplaintFeedForgetsResolvedFirst: beyond maxSpikes the feed forgets resolved spikes
// before active ones.
func TestComplaintFeedForgetsResolvedFirst(t *testing.T) {
	now := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	f := newFeed(t, &now)
	id := func(i int) string { return fmt.Sprintf("0b5f8a64-1c2d-4e3f-8a9b-%012d", i) }
	f.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpikeResolved, spikeJSON(id(0), now.Add(-time.Hour), 3, `,"reason":"quiet"`)))
	for i := 1; i <= maxSpikes; i++ {
		f.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpike, spikeJSON(id(i), now.Add(-time.Duration(i)*time.Second), 3, "")))
	}
	all := f.Spikes("")
	if len(all) != maxSpikes {
		t.Fatalf("%d spikes kept, want %d", len(all), maxSpikes)
	}
	for _, r := range all {
		if r.AlertID == id(0) || r.Status != SpikeActive {
			t.Fatalf("kept %+v; the resolved one should go first", r)
		}
	}
	f.ApplySpike(decodeSpike(t, schemas.TypeAlertComplaintSpike, spikeJSON(id(maxSpikes+1), now, 3, "")))
	all = f.Spikes("")
	if len(all) != maxSpikes || all[0].AlertID != id(maxSpikes+1) {
		t.Fatalf("%d spikes, newest %s", len(all), all[0].AlertID)
	}
	for _, r := range all {
		if r.AlertID == id(maxSpikes) { // the oldest opened
			t.Fatal("the oldest active spike is kept; it should have gone")
		}
	}
}

// TestMergeSpikes: the API's rows and the feed's are put together by rank, whichever is
// first: a resolution beats the active state at the same count, more complaints beat fewer,
// merged spikes are left out; active ones come first.
func TestMergeSpikes(t *testing.T) {
	at := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	row := func(id, status string, count int64, opened time.Time) SpikeRow {
		return SpikeRow{AlertID: id, Status: status, Count: count, Rank: spikeRank(status, count), OpenedAt: opened}
	}
	api := []SpikeRow{row("a", SpikeResolved, 3, at), row("b", SpikeActive, 3, at.Add(time.Minute)), row("c", SpikeActive, 4, at.Add(2*time.Minute)),
		row("e", SpikeActive, 3, at.Add(-time.Hour))}
	live := []SpikeRow{row("a", SpikeActive, 3, at), row("b", SpikeActive, 5, at.Add(time.Minute)), row("c", SpikeMerged, 4, at.Add(2*time.Minute)),
		row("d", SpikeActive, 3, at.Add(3*time.Minute))}
	var got []string
	for _, r := range mergeSpikes(api, live) {
		got = append(got, fmt.Sprintf("%s:%s:%d", r.AlertID, r.Status, r.Count))
	}
	if want := "[d:active:3 b:active:5 e:active:3 a:resolved:3]"; fmt.Sprint(got) != want {
		t.Fatalf("merged %v, want %s", got, want)
	}
	if out := mergeSpikes(nil, nil); out == nil || len(out) != 0 {
		t.Fatalf("merging nothing: %#v", out)
	}
}

func TestComplaintFeedComplaints(t *testing.T) {
	now := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	f := newFeed(t, &now)
	long := strings.Repeat("The bananas were brown and mushy inside. ", 10)
	c := func(i int, store string, at time.Time) *ComplaintEvent {
		return &ComplaintEvent{ComplaintID: complaintID(i), StoreID: store, FiledAt: at, Channel: "help_desk",
			Category: "product_quality", SKU: "PRD-0001", Text: long}
	}
	row, ok := f.ApplyComplaint(c(1, "S001", now))
	if !ok {
		t.Fatal("a new complaint is not taken")
	}
	if row.LocalTime != "Nov 22, 10:00 AM" || row.Name != "Bananas" || row.CategoryLabel != "Product quality" ||
		row.ChannelLabel != "Help desk" || row.Text != long {
		t.Fatalf("row %+v", row)
	}
	if n := len([]rune(row.Excerpt)); n > excerptLen || !strings.HasSuffix(row.Excerpt, "…") || !strings.HasPrefix(long, strings.TrimSuffix(row.Excerpt, "…")) {
		t.Fatalf("excerpt %q (%d characters)", row.Excerpt, n)
	}
	if _, ok := f.ApplyComplaint(c(1, "S001", now)); ok {
		t.Fatal("a copy of a complaint is taken again")
	}
	f.ApplyComplaint(c(2, "S001", now.Add(-time.Hour))) // filed earlier, arrives later
	f.ApplyComplaint(c(3, "S001", now.Add(time.Minute)))
	f.ApplyComplaint(c(4, "S002", now))
	var ids []string
	for _, r := range f.Complaints("S001") {
		ids = append(ids, r.ComplaintID[len(r.ComplaintID)-1:])
	}
	if fmt.Sprint(ids) != "[3 1 2]" {
		t.Fatalf("S001's complaints %v, want newest filed first", ids)
	}
	for i := 10; i < 10+2*complaintsLen; i++ {
		f.ApplyComplaint(c(i, "S003", now.Add(time.Duration(i)*time.Second)))
	}
	if got := f.Complaints("S003"); len(got) != complaintsLen || got[0].ComplaintID != complaintID(9+2*complaintsLen) {
		t.Fatalf("%d complaints kept, newest %s", len(got), got[0].ComplaintID)
	}
	none, _ := f.ApplyComplaint(&ComplaintEvent{ComplaintID: complaintID(99), StoreID: "S001", FiledAt: now, Channel: "fax",
		Category: "odd_smell", Text: "x"})
	if none.Name != "" || none.ChannelLabel != "fax" || none.CategoryLabel != "odd smell" {
		t.Fatalf("a complaint without a product or with unknown labels: %+v", none)
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"  spaced\n\tout  text ", 20, "spaced out text"},
		{"aaaa bbbb cccc dddd", 10, "aaaa bbbb…"},
		{"aaaaaaaaaaaaaaaaaaaa", 10, "aaaaaaaaa…"}, // no space: cut in the word
		{"ééééé ééééé ééééé", 10, "ééééé ééé…"},    // the space is too far back
		{"ééé ééééé ééééé", 10, "ééé ééééé…"},      // characters, not bytes
		{"words, then more words", 12, "words, then…"},
	}
	for _, tt := range tests {
		if got := excerpt(tt.in, tt.n); got != tt.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestChainSpikes(t *testing.T) {
	now := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	f := newFeed(t, &now)
	row := f.ApplyChainSpike(&ChainSpikeEvent{AlertID: chainA, SKU: "PRD-0001", VendorID: "V001", StoreIDs: []string{"S001", "S002"},
		SpikeAlertIDs: []string{spikeA, spikeB}, WindowHours: 24, FirstOpenedAt: now, At: now.Add(time.Hour)})
	if row.Name != "Bananas" || row.VendorName != "Valley Fresh Farms" || row.Stores != "S001 Brooklyn, S002 Chicago" ||
		row.LocalTime != "Nov 22, 10:00 AM EST" {
		t.Fatalf("row %+v", row)
	}
	// The API names a store that joined later; its row wins over the event's.
	api := row
	api.StoreIDs = []string{"S001", "S002", "S003"}
	got := mergeChainSpikes([]ChainSpikeRow{api}, f.ChainSpikes(), chainSpikesLen)
	if len(got) != 1 || len(got[0].StoreIDs) != 3 {
		t.Fatalf("merged %+v", got)
	}
}

// fakeComplaints is a complaints API answering from fixed rows, recording what it was asked.
func fakeComplaints(t *testing.T, first time.Time) *httptest.Server {
	t.Helper()
	var spike schemas.ComplaintSpike
	if err := json.Unmarshal([]byte(spikeJSON(spikeA, first, 3, "")), &spike); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		switch r.URL.Path {
		case "/v1/spikes":
			if q.Get("store_id") != "" && q.Get("store_id") != "S001" {
				_, _ = io.WriteString(w, `{"spikes":[]}`)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"spikes": []any{apiSpike{ComplaintSpike: spike, Status: "active", ProductName: "Bananas"}}})
		case "/v1/complaints":
			_ = json.NewEncoder(w).Encode(map[string]any{"complaints": []any{apiComplaint{ComplaintFiled: schemas.ComplaintFiled{
				ComplaintID: complaintID(1), StoreID: q.Get("store_id"), FiledAt: first, Channel: "email", Category: "pricing",
				Text: "Charged twice <b>again</b>"}}}})
		case "/v1/chain-spikes":
			_ = json.NewEncoder(w).Encode(map[string]any{"chain_spikes": []any{apiChainSpike{ComplaintChainSpike: schemas.ComplaintChainSpike{
				AlertID: chainA, SKU: "PRD-0001", VendorID: "V001", StoreIDs: []string{"S001", "S002"}, SpikeAlertIDs: []string{spikeA, spikeB},
				WindowHours: 24, FirstOpenedAt: first, At: first}}}})
		case "/healthz":
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

// TestPagesShowComplaints renders the pages against a complaints API: the store page lists the
// spike (count, window in the store's zone) and the complaint (escaped), the chain view the
// active spike and the chain-wide one, and the system page the service up.
func TestPagesShowComplaints(t *testing.T) {
	first := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Minute)
	api := fakeComplaints(t, first)
	down := closedAddr(t)
	svc := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down,
		"POS_URL": "http://" + down, "BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": api.URL, "ANALYTICS_URL": "http://" + down})
	if _, err := New(svc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	ny, _ := time.LoadLocation("America/New_York")
	window := first.In(ny).Format("Jan 2, 3:04 PM") + " – " + first.Add(2*time.Minute).In(ny).Format("3:04 PM MST")
	store := get(t, srv.URL+"/stores/S001")
	for _, want := range []string{`data-alert="` + spikeA + `"`, `class="alert spike active"`, `<span class="spike-count">3</span> complaints`,
		window, "Complaint spike", `data-complaint="` + complaintID(1) + `"`, "Charged twice &lt;b&gt;again&lt;/b&gt;", "Pricing", "Email"} {
		if !strings.Contains(store, want) {
			t.Errorf("the store page lacks %q", want)
		}
	}
	if strings.Contains(store, "unavailable right now (complaints") {
		t.Error("the store page says the complaints service is unavailable")
	}
	if other := get(t, srv.URL+"/stores/S002"); strings.Contains(other, spikeA) || !strings.Contains(other, "No complaint spikes.") {
		t.Error("S002's page shows S001's spike")
	}
	chain := get(t, srv.URL+"/")
	for _, want := range []string{`<tr data-alert="` + spikeA + `" data-sku="PRD-0001" data-store="S001"`, `<td class="num spike-count">3</td>`,
		`data-alert="` + chainA + `"`, "V001 · Valley Fresh Farms", "S001 Brooklyn, S002 Chicago"} {
		if !strings.Contains(chain, want) {
			t.Errorf("the chain view lacks %q", want)
		}
	}
	if sys := get(t, srv.URL+"/fragments/system"); !strings.Contains(sys, "<h2>complaints</h2><p class=\"big\">Up</p>") {
		t.Errorf("the system page does not show complaints up:\n%s", sys)
	}
}

// TestComplaintMessages feeds records to the consumer as the broker would deliver them: a
// store page gets its spikes and complaints (and a snapshot with them after a reconnect), the
// chain view every store's spikes and the chain-wide ones but no complaints.
func TestComplaintMessages(t *testing.T) {
	s, base := wsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := dialWS(t, ctx, base, "?store=S001")
	chain := dialWS(t, ctx, base, "")
	readMessage(t, ctx, store)
	readMessage(t, ctx, chain)
	first := time.Now().UTC().Add(-time.Minute)
	record := func(typ, value string) *kgo.Record {
		return &kgo.Record{Topic: "t", Value: []byte(value), Headers: []kgo.RecordHeader{{Key: "ce_type", Value: []byte(typ)}}}
	}
	complaint := `{"complaint_id":"` + complaintID(1) + `","store_id":"S001","filed_at":"` + first.Format(time.RFC3339) +
		`","channel":"app","category":"product_quality","sku":"PRD-0001","text":"Bruised"}`
	s.cons.handle(record(schemas.TypeComplaintFiled, complaint))
	s.cons.handle(record(schemas.TypeComplaintFiled, complaint)) // a copy: no second message
	s.cons.handle(record(schemas.TypeAlertComplaintSpike, spikeJSON(spikeA, first, 3, "")))
	s.cons.handle(record(schemas.TypeAlertComplaintChainSpike, `{"alert_id":"`+chainA+`","sku":"PRD-0001","vendor_id":"V001",`+
		`"store_ids":["S001","S002"],"spike_alert_ids":["`+spikeA+`","`+spikeB+`"],"window_hours":24,"first_opened_at":"2026-11-22T15:02:00Z","at":"2026-11-22T16:00:00Z"}`))
	s.cons.handle(record(schemas.TypeAlertComplaintSpikeResolved, spikeJSON(spikeA, first, 3, `,"reason":"quiet"`)))
	s.cons.handle(record(schemas.TypeAlertComplaintSpike, `{"alert_id":"x"}`)) // invalid: counted, not sent

	_, m := readMessage(t, ctx, store)
	if m.Type != "complaint" || m.Complaint == nil || m.Complaint.ComplaintID != complaintID(1) || m.Complaint.Name != "Bananas" {
		t.Fatalf("store page: %+v", m)
	}
	for _, v := range []struct {
		name  string
		conn  *websocket.Conn
		chain bool
	}{{"store page", store, false}, {"chain view", chain, true}} {
		_, m := readMessage(t, ctx, v.conn)
		if m.Type != "spike" || m.Spike == nil || m.Spike.Status != SpikeActive || m.Spike.Count != 3 || m.StoreID != "S001" {
			t.Fatalf("%s: first spike message %+v", v.name, m)
		}
		if v.chain {
			_, m = readMessage(t, ctx, v.conn)
			if m.Type != "chain_spike" || m.ChainSpike == nil || m.ChainSpike.AlertID != chainA {
				t.Fatalf("%s: %+v", v.name, m)
			}
		}
		_, m = readMessage(t, ctx, v.conn)
		if m.Type != "spike" || m.Spike.Status != SpikeResolved || !strings.HasPrefix(m.Spike.Ends, "resolved ") {
			t.Fatalf("%s: resolution %+v", v.name, m)
		}
	}
	if n := s.cons.bad.Load(); n != 1 {
		t.Fatalf("%d invalid records counted, want 1", n)
	}
	// A page that connects now gets what was delivered in its snapshot.
	again := dialWS(t, ctx, base, "?store=S001")
	if _, m := readMessage(t, ctx, again); m.Type != "snapshot" || len(m.Spikes) != 1 || m.Spikes[0].Status != SpikeResolved ||
		len(m.Complaints) != 1 || m.Chains != nil {
		t.Fatalf("store snapshot %+v", m)
	}
	chain2 := dialWS(t, ctx, base, "")
	if _, m := readMessage(t, ctx, chain2); m.Type != "snapshot" || len(m.Spikes) != 1 || len(m.Chains) != 1 || m.Complaints != nil {
		t.Fatalf("chain snapshot %+v", m)
	}
}
