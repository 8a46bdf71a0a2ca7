package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokertest"
	"github.com/freshmart/platform/internal/clock"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/kit/kittest"
	"github.com/freshmart/platform/internal/pgtest"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }

// t0 is the services' clock at the start of every test: 10:00 on the test day. Tests move it
// forward (never back) as complaints are filed.
var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// env is one test's broker, database and clock.
type env struct {
	broker *brokertest.Broker
	dsn    string
	clk    *clock.Manual
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{broker: brokertest.Start(t), dsn: pgtest.New(t), clk: clock.NewManual(t0)}
}

func (e *env) vars() map[string]string {
	return map[string]string{"KAFKA_BROKERS": e.broker.Addr, "DATABASE_URL": e.dsn}
}

// start runs a complaints service on e until the test ends and returns its base URL.
func (e *env) start(t *testing.T) string {
	t.Helper()
	s := kittest.Start(t, Options, e.vars(), func(_ context.Context, s *kit.Service) error {
		_, err := New(s, Config{Clock: e.clk})
		return err
	})
	return kittest.URL(s)
}

// hm returns hh:mm on the test day.
func hm(s string) time.Time {
	p, err := time.Parse("15:04", s)
	if err != nil {
		panic(err)
	}
	return time.Date(t0.Year(), t0.Month(), t0.Day(), p.Hour(), p.Minute(), 0, 0, time.UTC)
}

// at moves the clock forward to hh:mm (it never goes back).
func (e *env) at(s string) { e.clk.Set(hm(s)) }

func complaint(id, store, sku string, at time.Time) map[string]any {
	c := map[string]any{"complaint_id": id, "store_id": store, "filed_at": at.Format(time.RFC3339),
		"channel": "app", "category": "product_quality", "severity": 3, "text": "rotten strawberries"}
	if sku != "" {
		c["sku"] = sku
	}
	return c
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func post(t *testing.T, url string, body any) answer {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

// waitFor polls fn until it returns nil, for up to a minute.
func waitFor(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// consumed waits until the service has stored n complaints.
func consumed(t *testing.T, url string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d complaints consumed", n), func() error {
		var got struct{ Complaints []Complaint }
		getJSON(t, url+"/v1/complaints?limit=500", &got)
		if len(got.Complaints) < n {
			return fmt.Errorf("%d consumed", len(got.Complaints))
		}
		return nil
	})
}

// alerts reads store-alerts from the start.
type alerts struct {
	cl  *kgo.Client
	mu  sync.Mutex
	all []alertEvent
}

type alertEvent struct {
	typ   string
	id    string // ce_id
	spike schemas.ComplaintSpike
	chain schemas.ComplaintChainSpike
}

func readAlerts(t *testing.T, e *env) *alerts {
	t.Helper()
	a := &alerts{cl: e.broker.Client(t, kgo.ConsumeTopics(schemas.TopicStoreAlerts), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))}
	return a
}

// poll reads what has arrived (waiting at most a moment).
func (a *alerts) poll(t *testing.T) []alertEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	fs := a.cl.PollFetches(ctx)
	fs.EachRecord(func(r *kgo.Record) {
		ev, err := events.Parse(r)
		if err != nil {
			t.Errorf("store-alerts %d/%d: %v", r.Partition, r.Offset, err)
			return
		}
		x := alertEvent{typ: ev.Type, id: ev.ID}
		if ev.Type == schemas.TypeAlertComplaintChainSpike {
			x.chain, _ = events.Decode[schemas.ComplaintChainSpike](ev)
		} else {
			x.spike, _ = events.Decode[schemas.ComplaintSpike](ev)
		}
		a.mu.Lock()
		a.all = append(a.all, x)
		a.mu.Unlock()
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.all)
}

// until polls until fn holds over what arrived.
func (a *alerts) until(t *testing.T, what string, fn func([]alertEvent) error) []alertEvent {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var err error
	for time.Now().Before(deadline) {
		all := a.poll(t)
		if err = fn(all); err == nil {
			return all
		}
	}
	t.Fatalf("%s: %v", what, err)
	return nil
}

func ofType(all []alertEvent, typ, store, sku string) []alertEvent {
	var out []alertEvent
	for _, x := range all {
		if x.typ == typ && (store == "" || x.spike.StoreID == store) && (sku == "" || x.spike.SKU == sku) {
			out = append(out, x)
		}
	}
	return out
}

func TestIntakeRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	url := e.start(t) + "/v1/complaints"
	ok := func(mut func(map[string]any)) map[string]any {
		c := complaint(uuid.NewString(), "S001", "PRD-0001", t0.Add(-time.Minute))
		mut(c)
		return c
	}
	tests := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"unknown store", ok(func(c map[string]any) { c["store_id"] = "S999" }), 422, "store_id"},
		{"unknown SKU", ok(func(c map[string]any) { c["sku"] = "PRD-9999" }), 422, "sku"},
		{"future", ok(func(c map[string]any) { c["filed_at"] = t0.Add(6 * time.Minute).Format(time.RFC3339) }), 422, "filed_at"},
		{"too old", ok(func(c map[string]any) { c["filed_at"] = t0.Add(-25 * time.Hour).Format(time.RFC3339) }), 422, "filed_at"},
		{"text too long", ok(func(c map[string]any) { c["text"] = strings.Repeat("x", 4001) }), 422, "text"},
		{"missing text", ok(func(c map[string]any) { delete(c, "text") }), 422, "text"},
		{"bad channel", ok(func(c map[string]any) { c["channel"] = "carrier pigeon" }), 422, "channel"},
		{"unknown field", ok(func(c map[string]any) { c["mood"] = "angry" }), 422, "mood"},
		{"malformed", `{"store_id": "S001"`, 400, ""},
		{"not an object", `[1,2]`, 400, ""},
		{"oversized", `{"text":"` + strings.Repeat("x", MaxBody) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, url, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if tt.field != "" && !strings.Contains(a.raw, `"field":"`+tt.field+`"`) {
				t.Fatalf("answer does not name %s: %s", tt.field, a.raw)
			}
		})
	}
	// Nothing was stored: a marker complaint is the only one.
	post(t, url, complaint(uuid.NewString(), "S001", "", t0))
	consumed(t, strings.TrimSuffix(url, "/v1/complaints"), 1)
	var got struct{ Complaints []Complaint }
	getJSON(t, strings.TrimSuffix(url, "/v1/complaints")+"/v1/complaints", &got)
	if len(got.Complaints) != 1 {
		t.Fatalf("bad input was stored: %+v", got.Complaints)
	}
}

func TestRetryAnsweredWithFirstPosition(t *testing.T) {
	e := newEnv(t)
	base := e.start(t)
	c := complaint(uuid.NewString(), "S002", "", t0.Add(-time.Minute))
	first := post(t, base+"/v1/complaints", c)
	if first.status != 202 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	again := post(t, base+"/v1/complaints", c)
	if again.status != 202 || again.body["partition"] != first.body["partition"] || again.body["offset"] != first.body["offset"] {
		t.Fatalf("retry answered %v, first %v", again.body, first.body)
	}
	// Without an id, one is made.
	c2 := complaint("", "S002", "", t0.Add(-time.Minute))
	delete(c2, "complaint_id")
	made := post(t, base+"/v1/complaints", c2)
	if _, err := uuid.Parse(fmt.Sprint(made.body["complaint_id"])); made.status != 202 || err != nil {
		t.Fatalf("no id: %d %s", made.status, made.raw)
	}
	consumed(t, base, 2)
	// A copy produced straight to the topic (another producer's retry) is not counted twice.
	p, err := events.NewProducer(events.ProducerConfig{Brokers: []string{e.broker.Addr}, Source: "freshmart/test"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.Produce(context.Background(), events.Out{Topic: schemas.TopicCustomerComplaints, Key: "S002",
		Type: schemas.TypeComplaintFiled, ID: c["complaint_id"].(string), Payload: c}); err != nil {
		t.Fatal(err)
	}
	marker := complaint(uuid.NewString(), "S002", "", t0.Add(-time.Minute))
	post(t, base+"/v1/complaints", marker)
	consumed(t, base, 3)
	var got struct{ Complaints []Complaint }
	getJSON(t, base+"/v1/complaints?store_id=S002", &got)
	if len(got.Complaints) != 3 {
		t.Fatalf("%d complaints listed, want 3 (the copy counted once)", len(got.Complaints))
	}
}

// TestSpikeBoundariesAndResolution: 3 within 30 minutes (both ends inclusive) alert once,
// joiners update, a set 31 minutes wide never alerts, and the episode resolves when the clock
// passes 30 minutes after its newest complaint, with no new complaint.
func TestSpikeBoundariesAndResolution(t *testing.T) {
	e := newEnv(t)
	base := e.start(t)
	al := readAlerts(t, e)
	file := func(sku, at string) {
		t.Helper()
		e.at(at)
		if a := post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S001", sku, hm(at))); a.status != 202 {
			t.Fatal(a.raw)
		}
	}
	for _, at := range []string{"10:00", "10:10", "10:30"} {
		file("PRD-0001", at)
	}
	e.at("10:00")
	for _, at := range []string{"10:00", "10:16", "10:31"} {
		post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S001", "PRD-0002", hm(at)))
	}
	all := al.until(t, "the spike alert", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpike, "S001", "PRD-0001")); n != 1 {
			return fmt.Errorf("%d spike alerts", n)
		}
		return nil
	})
	sp := ofType(all, schemas.TypeAlertComplaintSpike, "S001", "PRD-0001")[0].spike
	if sp.Count != 3 || !sp.FirstFiledAt.Equal(hm("10:00")) || !sp.LastFiledAt.Equal(hm("10:30")) || !sp.OpenedAt.Equal(hm("10:30")) ||
		!sp.EndsAt.Equal(hm("11:00")) || len(sp.ComplaintIDs) != 3 {
		t.Fatalf("spike %+v", sp)
	}
	file("PRD-0001", "10:50")
	all = al.until(t, "the update", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpikeUpdated, "S001", "PRD-0001")); n != 1 {
			return fmt.Errorf("%d updates", n)
		}
		return nil
	})
	up := ofType(all, schemas.TypeAlertComplaintSpikeUpdated, "S001", "PRD-0001")[0].spike
	if up.AlertID != sp.AlertID || up.Count != 4 || !up.EndsAt.Equal(hm("11:20")) {
		t.Fatalf("update %+v of %s", up, sp.AlertID)
	}
	consumed(t, base, 7)
	if n := len(ofType(al.poll(t), "", "S001", "PRD-0002")); n != 0 {
		t.Fatalf("10:00, 10:16, 10:31 raised %d events", n)
	}
	// The clock reaches the end: resolved by the timer alone.
	e.at("11:20")
	all = al.until(t, "the resolution", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpikeResolved, "S001", "PRD-0001")); n != 1 {
			return fmt.Errorf("%d resolutions", n)
		}
		return nil
	})
	res := ofType(all, schemas.TypeAlertComplaintSpikeResolved, "S001", "PRD-0001")[0]
	if res.spike.AlertID != sp.AlertID || res.spike.Reason != "quiet" || !res.spike.At.Equal(hm("11:20")) {
		t.Fatalf("resolution %+v", res.spike)
	}
	var spikes struct{ Spikes []Spike }
	getJSON(t, base+"/v1/spikes?store_id=S001", &spikes)
	if len(spikes.Spikes) != 1 || spikes.Spikes[0].Status != "resolved" || spikes.Spikes[0].Count != 4 || spikes.Spikes[0].ProductName == "" {
		t.Fatalf("spikes %+v", spikes.Spikes)
	}
	// A later spike of the same SKU is a new episode with a new alert.
	for _, at := range []string{"11:30", "11:31", "11:32"} {
		file("PRD-0001", at)
	}
	all = al.until(t, "a second episode", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpike, "S001", "PRD-0001")); n != 2 {
			return fmt.Errorf("%d spike alerts", n)
		}
		return nil
	})
	if ofType(all, schemas.TypeAlertComplaintSpike, "S001", "PRD-0001")[1].spike.AlertID == sp.AlertID {
		t.Fatal("the second episode reused the first alert id")
	}
}

// TestEveryArrivalOrder posts every order of two 5-complaint sets, each order for its own
// store and SKU, through the service: every order ends with the same episode and raises one
// alert for it. (Bridging needs two episodes, six complaints: TestLateComplaintMerges.)
func TestEveryArrivalOrder(t *testing.T) {
	e := newEnv(t)
	e.at("11:00") // every complaint of the sets is filed by then (11:02 within the 5 minutes ahead)
	base := e.start(t)
	al := readAlerts(t, e)
	cat := catalog.MustLoad()
	var keys [][2]string
	for _, s := range cat.Stores() {
		for _, p := range cat.Products() {
			keys = append(keys, [2]string{s.StoreID, p.SKU})
		}
	}
	sets := [][]string{{"10:00", "10:10", "10:29", "10:35", "10:40"}, {"10:00", "10:01", "10:02", "10:31", "10:45"}}
	type run struct {
		key   [2]string
		order []string
		set   int
	}
	var runs []run
	for si, set := range sets {
		permute(set, func(order []string) {
			runs = append(runs, run{keys[len(runs)], order, si})
		})
	}
	work := make(chan run)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for r := range work {
				for _, at := range r.order {
					if a := post(t, base+"/v1/complaints", complaint(uuid.NewString(), r.key[0], r.key[1], hm(at))); a.status != 202 {
						t.Errorf("%v: %s", r.key, a.raw)
					}
				}
			}
		})
	}
	for _, r := range runs {
		work <- r
	}
	close(work)
	wg.Wait()
	if len(runs) != 240 {
		t.Fatalf("%d runs", len(runs))
	}
	wantOpen := []string{"10:29", "10:02"}
	wantEnd := []string{"11:10", "11:15"}
	// Every run ends with its one episode (polled: the last complaints may still be in flight).
	for _, r := range runs {
		waitFor(t, fmt.Sprintf("%v order %v", r.key, r.order), func() error {
			var got struct{ Spikes []Spike }
			getJSON(t, fmt.Sprintf("%s/v1/spikes?store_id=%s&limit=500", base, r.key[0]), &got)
			var mine []Spike
			for _, s := range got.Spikes {
				if s.SKU == r.key[1] {
					mine = append(mine, s)
				}
			}
			if len(mine) != 1 || mine[0].Count != 5 || !mine[0].OpenedAt.Equal(hm(wantOpen[r.set])) || !mine[0].EndsAt.Equal(hm(wantEnd[r.set])) {
				return fmt.Errorf("episodes %+v", mine)
			}
			return nil
		})
	}
	// And exactly one alert was raised for it.
	al.until(t, "one alert per run", func(all []alertEvent) error {
		for _, r := range runs {
			opened := ofType(all, schemas.TypeAlertComplaintSpike, r.key[0], r.key[1])
			merged := 0
			for _, x := range ofType(all, schemas.TypeAlertComplaintSpikeResolved, r.key[0], r.key[1]) {
				if x.spike.Reason == "merged" {
					merged++
				}
			}
			if len(opened) != 1 || merged != 0 {
				return fmt.Errorf("%v order %v: %d opened, %d merged", r.key, r.order, len(opened), merged)
			}
		}
		return nil
	})
}

func permute(a []string, fn func([]string)) {
	a = slices.Clone(a)
	var rec func(int)
	rec = func(k int) {
		if k == len(a) {
			fn(slices.Clone(a))
			return
		}
		for i := k; i < len(a); i++ {
			a[k], a[i] = a[i], a[k]
			rec(k + 1)
			a[k], a[i] = a[i], a[k]
		}
	}
	rec(0)
}

// TestLateComplaintMerges: two episodes of one SKU (the first already over), then a late
// complaint filed between them that joins the first and so reaches the second: they become
// one, active again, the second's alert is resolved as merged into the first, and no new alert
// is raised.
func TestLateComplaintMerges(t *testing.T) {
	e := newEnv(t)
	e.at("10:42")
	base := e.start(t)
	al := readAlerts(t, e)
	for _, at := range []string{"10:00", "10:01", "10:02", "10:40", "10:41", "10:42"} {
		post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S006", "PRD-0030", hm(at)))
	}
	all := al.until(t, "two episodes", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpike, "S006", "PRD-0030")); n != 2 {
			return fmt.Errorf("%d spike alerts", n)
		}
		return nil
	})
	opened := ofType(all, schemas.TypeAlertComplaintSpike, "S006", "PRD-0030")
	first, second := opened[0].spike.AlertID, opened[1].spike.AlertID
	late := post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S006", "PRD-0030", hm("10:21")))
	if late.status != 202 {
		t.Fatal(late.raw)
	}
	all = al.until(t, "the merge", func(all []alertEvent) error {
		res := ofType(all, schemas.TypeAlertComplaintSpikeResolved, "S006", "PRD-0030")
		up := ofType(all, schemas.TypeAlertComplaintSpikeUpdated, "S006", "PRD-0030")
		if len(res) != 2 || len(up) != 1 {
			return fmt.Errorf("%d resolutions, %d updates", len(res), len(up))
		}
		return nil
	})
	quiet, res := ofType(all, schemas.TypeAlertComplaintSpikeResolved, "S006", "PRD-0030")[0].spike,
		ofType(all, schemas.TypeAlertComplaintSpikeResolved, "S006", "PRD-0030")[1].spike
	if quiet.AlertID != first || quiet.Reason != "quiet" {
		t.Fatalf("the first episode, over at 10:32, resolved as %+v", quiet)
	}
	up := ofType(all, schemas.TypeAlertComplaintSpikeUpdated, "S006", "PRD-0030")[0].spike
	if res.AlertID != second || res.Reason != "merged" || res.MergedInto != first {
		t.Fatalf("resolution %+v", res)
	}
	if up.AlertID != first || up.Count != 7 || !slices.Equal(up.MergedAlertIDs, []string{second}) {
		t.Fatalf("update %+v", up)
	}
	if n := len(ofType(all, schemas.TypeAlertComplaintSpike, "S006", "PRD-0030")); n != 2 {
		t.Fatalf("%d spike alerts after the merge", n)
	}
	var spikes struct{ Spikes []Spike }
	getJSON(t, base+"/v1/spikes?store_id=S006", &spikes)
	if len(spikes.Spikes) != 1 || spikes.Spikes[0].AlertID != first || spikes.Spikes[0].Status != "active" || spikes.Spikes[0].Count != 7 {
		t.Fatalf("spikes after the merge %+v", spikes.Spikes)
	}
}

// TestRestartMidEpisodeAndRebuild stops the service between the second and third complaint of
// an episode: the new instance alerts once, resolves once by its timer, and the rebuild of the
// topic equals the live view, alert ids included; a SKU spiking in two stores makes one
// chain-wide alert naming both and the vendor.
func TestRestartMidEpisodeAndRebuild(t *testing.T) {
	e := newEnv(t)
	al := readAlerts(t, e)
	first := kittest.Build(t, Options, e.vars())
	if _, err := New(first, Config{Clock: e.clk}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	<-first.Listening()
	url := kittest.URL(first)
	e.at("10:05")
	for _, at := range []string{"10:00", "10:05"} {
		post(t, url+"/v1/complaints", complaint(uuid.NewString(), "S003", "PRD-0010", hm(at)))
	}
	consumed(t, url, 2)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	base := e.start(t)
	e.at("10:20")
	post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S003", "PRD-0010", hm("10:20")))
	// The same SKU spikes in another store within a day: chain-wide.
	e.at("13:02")
	for _, at := range []string{"13:00", "13:01", "13:02"} {
		post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S004", "PRD-0010", hm(at)))
	}
	all := al.until(t, "alerts after the restart", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpike, "", "PRD-0010")); n != 2 {
			return fmt.Errorf("%d spike alerts", n)
		}
		if n := len(ofType(all, schemas.TypeAlertComplaintChainSpike, "", "")); n != 1 {
			return fmt.Errorf("%d chain alerts", n)
		}
		return nil
	})
	ch := ofType(all, schemas.TypeAlertComplaintChainSpike, "", "")[0].chain
	if !slices.Equal(ch.StoreIDs, []string{"S003", "S004"}) || ch.SKU != "PRD-0010" || ch.VendorID == "" || len(ch.SpikeAlertIDs) != 2 {
		t.Fatalf("chain alert %+v", ch)
	}
	e.at("14:00")
	al.until(t, "both resolved", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintSpikeResolved, "", "PRD-0010")); n != 2 {
			return fmt.Errorf("%d resolutions", n)
		}
		return nil
	})
	// A partly stale view: one more open episode, not yet ended.
	for _, at := range []string{"13:50", "13:51", "13:52"} {
		post(t, base+"/v1/complaints", complaint(uuid.NewString(), "S005", "PRD-0020", hm(at)))
	}
	consumed(t, base, 9)
	rb := kittest.Build(t, RebuildOptions, e.vars())
	rep, err := Rebuild(context.Background(), rb, Config{Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equal() || rep.LiveEpisodes != 3 || rep.LiveChains != 1 || rep.Records < 9 {
		t.Fatalf("rebuild: %+v", rep)
	}
}

// TestIntakeNamesEveryBadField: schema errors and catalog and clock errors come in one answer.
func TestIntakeNamesEveryBadField(t *testing.T) {
	e := newEnv(t)
	a := post(t, e.start(t)+"/v1/complaints", `{"store_id":"S009","sku":"PRD-9999","filed_at":"2020-01-01T00:00:00Z","channel":"fax","category":"other","text":""}`)
	if a.status != 422 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	for _, f := range []string{"store_id", "sku", "filed_at", "channel", "text"} {
		if !strings.Contains(a.raw, `"field":"`+f+`"`) {
			t.Errorf("answer does not name %s: %s", f, a.raw)
		}
	}
}

// TestChainGroupsAnyOrder produces three stores' spikes of one SKU, opened 20 hours apart
// (straight to the topic, as a help desk backlog would arrive), in time order for one SKU and
// in reverse for another: both make one chain-wide group of the three stores, alerted once.
func TestChainGroupsAnyOrder(t *testing.T) {
	e := newEnv(t)
	base := e.start(t)
	al := readAlerts(t, e)
	p, err := events.NewProducer(events.ProducerConfig{Brokers: []string{e.broker.Addr}, Source: "freshmart/test"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spike := func(store, sku string, at time.Time) {
		for i := range 3 {
			c := complaint(uuid.NewString(), store, sku, at.Add(time.Duration(i)*time.Minute))
			if _, _, err := p.Produce(context.Background(), events.Out{Topic: schemas.TopicCustomerComplaints, Key: store,
				Type: schemas.TypeComplaintFiled, ID: c["complaint_id"].(string), Payload: c}); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, b, c := t0.Add(-50*time.Hour), t0.Add(-30*time.Hour), t0.Add(-10*time.Hour)
	spike("S001", "PRD-0040", a)
	spike("S002", "PRD-0040", b)
	spike("S003", "PRD-0040", c)
	spike("S003", "PRD-0041", c)
	spike("S002", "PRD-0041", b)
	spike("S001", "PRD-0041", a)
	consumed(t, base, 18)
	al.until(t, "two chain alerts", func(all []alertEvent) error {
		if n := len(ofType(all, schemas.TypeAlertComplaintChainSpike, "", "")); n != 2 {
			return fmt.Errorf("%d chain alerts", n)
		}
		return nil
	})
	var got struct {
		ChainSpikes []ChainSpike `json:"chain_spikes"`
	}
	waitFor(t, "both chains of three stores", func() error {
		getJSON(t, base+"/v1/chain-spikes", &got)
		if len(got.ChainSpikes) != 2 {
			return fmt.Errorf("%d chains", len(got.ChainSpikes))
		}
		for _, ch := range got.ChainSpikes {
			stores := slices.Clone(ch.StoreIDs)
			slices.Sort(stores)
			if !slices.Equal(stores, []string{"S001", "S002", "S003"}) || !ch.FirstOpenedAt.Equal(a.Add(2*time.Minute)) {
				return fmt.Errorf("chain %+v", ch)
			}
		}
		return nil
	})
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"defaults", nil, true},
		{"one minute", map[string]string{"COMPLAINT_SPIKE_WINDOW": "1m", "COMPLAINT_SPIKE_THRESHOLD": "2"}, true},
		{"seconds cannot be alerted", map[string]string{"COMPLAINT_SPIKE_WINDOW": "20s"}, false},
		{"not whole minutes", map[string]string{"COMPLAINT_SPIKE_WINDOW": "90s"}, false},
		{"zero threshold", map[string]string{"COMPLAINT_SPIKE_THRESHOLD": "0"}, false},
		{"not a number", map[string]string{"COMPLAINT_SPIKE_THRESHOLD": "three"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(kit.Map(tt.env))
			if (err == nil) != tt.ok {
				t.Fatalf("ConfigFromEnv: %+v, %v", cfg, err)
			}
		})
	}
}
