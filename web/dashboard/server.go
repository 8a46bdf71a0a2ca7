package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options is what the dashboard asks of the service kit: no database, no producer, answering
// on 127.0.0.1:8080 unless HTTP_ADDR says otherwise. Besides the kit's variables it reads
// INVENTORY_URL (http://127.0.0.1:8082), COMPLAINTS_URL (http://127.0.0.1:8083), ANALYTICS_URL
// (http://127.0.0.1:8085), PRICING_URL (http://127.0.0.1:8084; the signs panel and the sign
// page's websocket), LOYALTY_URL (http://127.0.0.1:8086, the loyalty page), REORDER_URL
// (http://127.0.0.1:8087, the purchasing page), POS_URL (http://127.0.0.1:8081) and BROKER_HTTP_URL
// (http://127.0.0.1:9644), for stock, alerts, complaints, the daily reports and ETL runs, and
// the health of the system page.
var Options = kit.Options{Name: "web", Addr: "127.0.0.1:8080"}

// config is what the dashboard reads from the environment.
type config struct {
	InventoryURL  string
	ComplaintsURL string
	AnalyticsURL  string
	PricingURL    string
	LoyaltyURL    string
	POSURL        string
	BrokerHTTP    string
	// SampleEvery is how often topic end offsets are sampled for messages per second.
	SampleEvery time.Duration
}

// Server is the dashboard. Create it with New, serve Handler, and Run its background work.
type Server struct {
	cfg     config
	cat     *catalog.Catalog
	log     *slog.Logger
	live    *Live
	hub     *Hub
	inv     *inventoryClient
	comp    *complaintsClient
	feed    *ComplaintFeed
	ana     *analyticsClient
	reports *ReportFeed
	pricing *pricingClient
	loy     *loyaltyClient
	sys     *system
	buy     *reorderClient
	cons    *consumer
	adm     *kadm.Client
	admCl   *kgo.Client
	tmpl    *template.Template
	reg     *prometheus.Registry
}

// New wires the dashboard onto svc (built with Options): its pages and APIs on svc.Router,
// the broker consumer and the topic sampler as background work, the readiness check "broker"
// and its metrics on svc.Registry. It does not connect to anything yet.
func New(svc *kit.Service) (*Server, error) {
	cfg := config{
		InventoryURL:  svc.Env.String("INVENTORY_URL", kit.DefaultInventoryURL),
		ComplaintsURL: svc.Env.String("COMPLAINTS_URL", DefaultComplaintsURL),
		AnalyticsURL:  svc.Env.String("ANALYTICS_URL", DefaultAnalyticsURL),
		PricingURL:    svc.Env.String("PRICING_URL", DefaultPricingURL),
		LoyaltyURL:    svc.Env.String("LOYALTY_URL", DefaultLoyaltyURL),
		POSURL:        svc.Env.String("POS_URL", kit.DefaultPOSURL),
		BrokerHTTP:    svc.Env.String("BROKER_HTTP_URL", kit.DefaultBrokerHTTPURL),
	}
	var err error
	if cfg.SampleEvery, err = svc.Env.Duration("SAMPLE_EVERY", 2*time.Second); err != nil {
		return nil, err
	}
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("dashboard: load catalog: %w", err)
	}
	live, err := NewLive(cat, nil)
	if err != nil {
		return nil, err
	}
	feed, err := NewComplaintFeed(cat, nil)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	reg := svc.Registry
	admCl, err := kgo.NewClient(append(svc.KafkaOpts("admin"), kgo.SeedBrokers(svc.Brokers...))...)
	if err != nil {
		return nil, fmt.Errorf("dashboard: admin client: %w", err)
	}
	svc.OnClose(admCl.Close)
	s := &Server{
		cfg: cfg, cat: cat, log: svc.Log, live: live, hub: NewHub(reg),
		inv:  &inventoryClient{base: cfg.InventoryURL, client: &http.Client{Timeout: 5 * time.Second}},
		comp: &complaintsClient{base: cfg.ComplaintsURL, client: &http.Client{Timeout: 5 * time.Second}},
		feed: feed,
		ana: &analyticsClient{base: cfg.AnalyticsURL, client: &http.Client{Timeout: 5 * time.Second},
			files: &http.Client{Timeout: 30 * time.Second}},
		reports: NewReportFeed(),
		pricing: &pricingClient{base: cfg.PricingURL, client: &http.Client{Timeout: 5 * time.Second}},
		buy:     newReorderClient(svc.Env.String("REORDER_URL", DefaultReorderURL)),
		loy:     &loyaltyClient{base: cfg.LoyaltyURL, client: &http.Client{Timeout: 5 * time.Second}},
		admCl:   admCl, adm: kadm.NewClient(admCl), reg: reg,
	}
	s.sys = &system{adm: s.adm, client: &http.Client{Timeout: 2 * time.Second}, targets: []Health{
		{Name: "broker", URL: cfg.BrokerHTTP},
		{Name: "pos", URL: cfg.POSURL},
		{Name: "inventory", URL: cfg.InventoryURL},
		{Name: "complaints", URL: cfg.ComplaintsURL},
		{Name: "analytics", URL: cfg.AnalyticsURL},
		{Name: "pricing", URL: cfg.PricingURL},
		{Name: "reorder", URL: svc.Env.String("REORDER_URL", DefaultReorderURL)},
		{Name: "loyalty", URL: cfg.LoyaltyURL},
	}, runs: s.etlRuns}
	s.cons = &consumer{brokers: svc.Brokers, live: live, hub: s.hub, log: s.log, rows: s.stockRow, alert: s.alertRow, feed: feed, reports: s.reports,
		clientOpts: svc.KafkaOpts, lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "freshmart_web_consumer_lag",
			Help: "Records the dashboard is behind each partition's high watermark."}, []string{"topic", "partition"})}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.metrics()
	s.routes(svc.Router)
	svc.Health.AddCheck("broker", func(ctx context.Context) error {
		_, err := s.adm.BrokerMetadata(ctx)
		return err
	})
	svc.Go("sampler", func(ctx context.Context) error { s.sys.sample(ctx, s.cfg.SampleEvery); return nil })
	svc.Go("consumer", s.cons.run)
	return s, nil
}

func (s *Server) metrics() {
	s.reg.MustRegister(s.cons.lag)
	s.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "freshmart_web_websocket_clients",
			Help: "Browsers connected to the live websocket."}, func() float64 { return float64(s.hub.Clients()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "freshmart_web_records_consumed_total",
			Help: "Records read from the broker."}, func() float64 { return float64(s.cons.records.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "freshmart_web_records_invalid_total",
			Help: "Records of a shown type that could not be decoded."}, func() float64 { return float64(s.cons.bad.Load()) }),
	)
}

func (s *Server) routes(r chi.Router) {
	r.Get("/", s.chainPage)
	r.Get("/stores/{id}", s.storePage)
	r.Get("/system", s.systemPage)
	r.Get("/finance", s.financePage)
	r.Get("/finance/daily.csv", s.financeCSV)
	r.Get("/signs/{store}/{sign}", s.signPage)
	r.Get("/purchasing", s.purchasingPage)
	r.Get("/fragments/stock", s.stockFragment)
	r.Get("/fragments/alerts", s.alertsFragment)
	r.Get("/fragments/complaints", s.complaintsFragment)
	r.Get("/fragments/spikes", s.spikesFragment)
	r.Get("/fragments/system", s.systemFragment)
	r.Get("/fragments/finance", s.financeFragment)
	r.Get("/fragments/headline", s.headlineFragment)
	r.Get("/fragments/price-accuracy", s.priceAccuracyFragment)
	r.Get("/fragments/signs", s.signsFragment)
	r.Get("/api/live", s.liveJSON)
	s.loyaltyRoutes(r)
	r.Get("/ws", s.websocket)
	sub, _ := fs.Sub(staticFS, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(sub))))
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

// problem answers an RFC 9457 problem document (httpx, as every service does).
func (s *Server) problem(w http.ResponseWriter, status int, title, detail string) {
	httpx.WriteProblem(w, httpx.Problem{Status: status, Title: title, Detail: detail})
}

// storeView is a store in the page's store picker and chain table.
type storeView struct {
	ID, Name, City, Timezone string
	LocalTime                string
	Revenue                  Revenue
	// Accuracy is the store's price accuracy (the chain page's stores table only).
	Accuracy *PriceAccuracy
}

func (s *Server) stores() []storeView {
	var out []storeView
	for _, st := range s.cat.Stores() {
		v := storeView{ID: st.StoreID, Name: st.Name, City: st.City + ", " + st.State, Timezone: st.Timezone,
			Revenue: s.live.Revenue(st.StoreID)}
		if loc, err := st.Location(); err == nil {
			v.LocalTime = time.Now().In(loc).Format("3:04 PM MST")
		}
		out = append(out, v)
	}
	return out
}

// page is what every page template receives.
type page struct {
	Title     string
	Active    string // "chain", "system", "finance" or a store id
	Stores    []storeView
	Store     *storeView
	Depts     []catalog.Department
	Revenue   Revenue
	Ticker    []TickerSale
	Alerts    []AlertRow
	AlertsErr string
	// Spikes are a store's complaint spikes (active first) or, on the chain view, every
	// store's active ones; SpikesErr says when the complaints service could not be asked.
	Spikes      []SpikeRow
	SpikesErr   string
	ChainSpikes []ChainSpikeRow // chain view
	// Complaints are a store's newest complaints.
	Complaints    []ComplaintRow
	ComplaintsErr string
	Stock         stockFragment
	System        SystemView
	// Headline is a store's headline changes from its latest daily report.
	Headline *Headline
	// Finance is the finance page.
	Finance *financeView
	// PriceAccuracy is a store's price-accuracy card (pricing.go).
	PriceAccuracy *PriceAccuracy
	// Signs is a store's shelf signs panel.
	Signs *SignsPanel
	// Loyalty is the loyalty page.
	Loyalty *LoyaltyView
}

type stockFragment struct {
	Query StockQuery
	Rows  []StockRow
	Low   int
	Out   int
	Err   string
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("render", "template", name, "err", err)
		s.problem(w, http.StatusInternalServerError, "Page failed", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func (s *Server) chainPage(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Chain overview", Active: "chain", Stores: s.stores(), Revenue: s.live.ChainRevenue(),
		Ticker: s.live.Ticker("")}
	var wg sync.WaitGroup
	wg.Go(func() { p.Alerts, p.AlertsErr = s.chainAlerts(r.Context()) })
	wg.Go(func() { p.Spikes, p.ChainSpikes, p.SpikesErr = s.chainSpikes(r.Context()) })
	for i := range p.Stores {
		wg.Go(func() { p.Stores[i].Accuracy = s.priceAccuracy(r.Context(), p.Stores[i].ID) })
	}
	wg.Wait()
	s.render(w, "chain", p)
}

func (s *Server) storePage(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	st, err := s.cat.Store(id)
	if err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", id))
		return
	}
	stores := s.stores()
	var sv *storeView
	for i := range stores {
		if stores[i].ID == st.StoreID {
			sv = &stores[i]
		}
	}
	rev := s.live.Revenue(id)
	p := page{Title: st.Name, Active: id, Stores: stores, Store: sv, Depts: s.cat.Departments(), Revenue: rev,
		Ticker: s.live.Ticker(id)}
	var wg sync.WaitGroup
	wg.Go(func() { p.Stock = s.stock(r.Context(), StockQuery{StoreID: id}) })
	wg.Go(func() { p.Alerts, p.AlertsErr = s.alerts(r.Context(), id) })
	wg.Go(func() { p.Spikes, p.SpikesErr = s.storeSpikes(r.Context(), id) })
	wg.Go(func() { p.Complaints, p.ComplaintsErr = s.storeComplaints(r.Context(), id) })
	wg.Go(func() { h := s.headline(r.Context(), id); p.Headline = &h })
	wg.Go(func() { p.PriceAccuracy = s.priceAccuracy(r.Context(), id) })
	wg.Go(func() { p.Signs = s.signsPanel(r.Context(), id) })
	wg.Wait()
	s.render(w, "store", p)
}

func (s *Server) stock(ctx context.Context, q StockQuery) stockFragment {
	f := stockFragment{Query: q}
	rows, err := s.inv.stock(ctx, q)
	if err != nil {
		f.Err = fmt.Sprintf("Stock is unavailable right now (%v).", err)
		return f
	}
	for i := range rows {
		rows[i] = s.decorate(rows[i])
		switch rows[i].Status {
		case "low":
			f.Low++
		case "out":
			f.Out++
		}
	}
	f.Rows = rows
	return f
}

func (s *Server) alerts(ctx context.Context, storeID string) ([]AlertRow, string) {
	as, err := s.inv.alerts(ctx, storeID, 30)
	if err != nil {
		// Fall back to what the broker delivered since this server started.
		as = s.live.Alerts(storeID)
	}
	var rows []AlertRow
	for _, a := range as {
		row := s.alertRow(&a)
		row.StoreName = "" // the page is the store's own
		rows = append(rows, row)
	}
	if err != nil {
		return rows, fmt.Sprintf("Alert history is unavailable right now (%v); showing alerts since the dashboard started.", err)
	}
	return rows, ""
}

// chainAlerts returns the newest alerts of every store, newest first, from the inventory API
// (asked for each store at once), or what the broker delivered since start if it cannot answer.
func (s *Server) chainAlerts(ctx context.Context) ([]AlertRow, string) {
	stores := s.cat.Stores()
	results := make([][]Alert, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() { results[i], errs[i] = s.inv.alerts(ctx, st.StoreID, 10) })
	}
	wg.Wait()
	var all []Alert
	for i := range stores {
		if errs[i] != nil {
			all = s.live.Alerts("")
			break
		}
		all = append(all, results[i]...)
	}
	slices.SortFunc(all, func(a, b Alert) int { return b.At.Compare(a.At) })
	if len(all) > tickerLen {
		all = all[:tickerLen]
	}
	rows := make([]AlertRow, 0, len(all))
	for _, a := range all {
		rows = append(rows, s.alertRow(&a))
	}
	if err := errors.Join(errs...); err != nil {
		return rows, "Alert history is unavailable right now; showing alerts since the dashboard started."
	}
	return rows, ""
}

func (s *Server) location(storeID string) *time.Location {
	if loc := s.live.locs[storeID]; loc != nil {
		return loc
	}
	return time.UTC
}

// decorate fills in a stock row's names and local time from the catalog.
func (s *Server) decorate(r StockRow) StockRow {
	if p, err := s.cat.Product(r.SKU); err == nil {
		if r.Name == "" {
			r.Name = p.Name
		}
		if r.Department == "" {
			r.Department = p.Department
		}
	}
	r.DeptName = s.live.depts[r.Department]
	if r.Status == "" {
		r.Status = stockStatus(r.OnHand, r.Threshold)
	}
	if !r.UpdatedAt.IsZero() {
		r.Updated = r.UpdatedAt.In(s.location(r.StoreID)).Format("Jan 2, 3:04 PM")
	}
	return r
}

func (s *Server) stockRow(e *StockLevel) StockRow {
	return s.decorate(StockRow{StoreID: e.StoreID, SKU: e.SKU, OnHand: e.OnHand, Threshold: e.Threshold,
		Status: stockStatus(e.OnHand, e.Threshold), UpdatedAt: e.At})
}

func (s *Server) alertRow(a *Alert) AlertRow {
	r := AlertRow{AlertID: a.AlertID, Type: a.Type, StoreID: a.StoreID, SKU: a.SKU, Name: a.Name,
		OnHand: a.OnHand, Threshold: a.Threshold, At: a.At, StoreName: s.live.names[a.StoreID]}
	if r.Name == "" {
		r.Name = s.live.pname[a.SKU]
	}
	switch a.Type {
	case schemas.TypeAlertRestocked, "restocked":
		r.Kind, r.Label = "restocked", "Restocked"
	default:
		r.Kind, r.Label = "low", "Low stock"
		if a.OnHand <= 0 {
			r.Label = "Out of stock"
		}
	}
	r.LocalTime = a.At.In(s.location(a.StoreID)).Format("Jan 2, 3:04:05 PM MST")
	return r
}

func (s *Server) stockFragment(w http.ResponseWriter, r *http.Request) {
	q := StockQuery{StoreID: r.URL.Query().Get("store"), Search: strings.TrimSpace(r.URL.Query().Get("q")),
		Department: r.URL.Query().Get("department"), LowOnly: r.URL.Query().Get("low") == "true"}
	if _, err := s.cat.Store(q.StoreID); err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", q.StoreID))
		return
	}
	if len(q.Search) > 100 {
		s.problem(w, http.StatusUnprocessableEntity, "Search too long", "search for at most 100 characters")
		return
	}
	s.render(w, "stock", s.stock(r.Context(), q))
}

func (s *Server) alertsFragment(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("store")
	if _, err := s.cat.Store(id); err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", id))
		return
	}
	var p page
	var wg sync.WaitGroup
	wg.Go(func() { p.Alerts, p.AlertsErr = s.alerts(r.Context(), id) })
	wg.Go(func() { p.Spikes, p.SpikesErr = s.storeSpikes(r.Context(), id) })
	wg.Wait()
	s.render(w, "storealerts", p)
}

func (s *Server) complaintsFragment(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("store")
	if _, err := s.cat.Store(id); err != nil {
		s.problem(w, http.StatusNotFound, "Unknown store", fmt.Sprintf("store %q is not in the catalog", id))
		return
	}
	var p page
	p.Complaints, p.ComplaintsErr = s.storeComplaints(r.Context(), id)
	s.render(w, "complaints", p)
}

// spikesFragment is the chain view's spikes card: every store's active spikes and the
// chain-wide ones.
func (s *Server) spikesFragment(w http.ResponseWriter, r *http.Request) {
	var p page
	p.Spikes, p.ChainSpikes, p.SpikesErr = s.chainSpikes(r.Context())
	s.render(w, "chainspikes", p)
}

func (s *Server) systemPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, "system", page{Title: "System", Active: "system", Stores: s.stores(), System: s.sys.view(r.Context())})
}

func (s *Server) systemFragment(w http.ResponseWriter, r *http.Request) {
	s.render(w, "systembody", page{System: s.sys.view(r.Context())})
}

func (s *Server) liveJSON(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"chain": s.live.ChainRevenue(), "stores": s.stores(), "ticker": s.live.Ticker("")}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
