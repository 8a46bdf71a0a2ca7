package dashboard

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

// The complaints part of the dashboard: complaint spikes beside a store's stock alerts, the
// store's latest complaints and, on the chain view, the active spikes of every store and the
// chain-wide ones. A page's first state comes from the complaints service's API
// (COMPLAINTS_URL), merged with what the broker delivered since the dashboard started
// (ComplaintFeed); the consumer's "spike", "chain_spike" and "complaint" messages keep it live.

// DefaultComplaintsURL is where the complaints service answers unless COMPLAINTS_URL says
// otherwise.
const DefaultComplaintsURL = "http://127.0.0.1:8083"

// Spike statuses, as the complaints service names them.
const (
	SpikeActive   = "active"
	SpikeResolved = "resolved"
	SpikeMerged   = "merged"
)

// How many rows the feed keeps and the pages show.
const (
	// complaintsLen is how many complaints of a store the feed keeps and the store page lists.
	complaintsLen = 20
	// maxSpikes bounds the spikes the feed remembers; resolved ones are forgotten first.
	maxSpikes = 300
	// storeSpikesLen is how many spikes (active first) a store page lists.
	storeSpikesLen = 10
	// chainSpikesLen is how many chain-wide spikes the chain view lists and the feed keeps.
	chainSpikesLen = 10
	// activeSpikesLen is how many active spikes the chain view lists (and a snapshot carries).
	activeSpikesLen = 100
	// excerptLen is how many characters of a complaint's text the list shows.
	excerptLen = 140
)

// The event payloads of the complaints service.
type (
	// ComplaintEvent is a complaint.filed event.
	ComplaintEvent = schemas.ComplaintFiled
	// ChainSpikeEvent is an alert.complaint_chain_spike event.
	ChainSpikeEvent = schemas.ComplaintChainSpike
)

// SpikeEvent is an alert.complaint_spike, alert.complaint_spike_updated or
// alert.complaint_spike_resolved event, with its type.
type SpikeEvent struct {
	schemas.ComplaintSpike
	// Type is the event type.
	Type string `json:"-"`
}

// SpikeRow is one complaint spike (a store and SKU's episode) as the pages show it.
type SpikeRow struct {
	AlertID string `json:"alert_id"`
	// Status is active, resolved or merged (into MergedInto; pages drop merged spikes).
	Status string `json:"status"`
	// Label is the badge: "Complaint spike", "Resolved" or "Merged".
	Label          string   `json:"label"`
	Reason         string   `json:"reason,omitempty"`
	MergedInto     string   `json:"merged_into,omitempty"`
	MergedAlertIDs []string `json:"merged_alert_ids,omitempty"` // spikes merged into this one
	StoreID        string   `json:"store_id"`
	StoreName      string   `json:"store_name"`
	SKU            string   `json:"sku"`
	Name           string   `json:"name"` // the product's
	Count          int64    `json:"count"`
	// Rank orders what is known of one spike: a higher rank is a later state (complaints only
	// join an episode, it resolves after it was active at that count, merged is final), so a
	// page keeps the higher of two it has, whichever arrived first.
	Rank         int64      `json:"rank"`
	FirstFiledAt time.Time  `json:"first_filed_at"`
	LastFiledAt  time.Time  `json:"last_filed_at"`
	OpenedAt     time.Time  `json:"opened_at"`
	EndsAt       time.Time  `json:"ends_at"`
	ResolvedAt   *time.Time `json:"resolved_at,omitempty"`
	// Window is first to last filed_at in the store's time zone, e.g. "Nov 22, 10:02 – 10:14 AM EST".
	Window string `json:"window"`
	// Ends is "ends 10:44 AM EST" while active, "resolved 10:44 AM EST" after.
	Ends string `json:"ends"`
	// Since is the first filed_at in the store's zone, e.g. "Nov 22, 10:02 AM EST".
	Since string `json:"since"`
	// LocalTime is opened_at in the store's zone, as stock alerts show their time.
	LocalTime string `json:"local_time"`
}

// ComplaintRow is one complaint as the store page lists it.
type ComplaintRow struct {
	ComplaintID   string    `json:"complaint_id"`
	StoreID       string    `json:"store_id"`
	SKU           string    `json:"sku,omitempty"`
	Name          string    `json:"name,omitempty"` // the product's, when there is a SKU
	Category      string    `json:"category"`
	CategoryLabel string    `json:"category_label"` // e.g. "Product quality"
	Channel       string    `json:"channel"`
	ChannelLabel  string    `json:"channel_label"` // e.g. "Help desk"
	Severity      int       `json:"severity,omitempty"`
	FiledAt       time.Time `json:"filed_at"`
	LocalTime     string    `json:"local_time"` // filed_at in the store's zone, e.g. "Nov 22, 3:04 PM"
	Text          string    `json:"text"`       // the customer's words, whole
	Excerpt       string    `json:"excerpt"`    // at most excerptLen characters of them, cut at a word
}

// ChainSpikeRow is one chain-wide spike: one SKU spiking in several stores.
type ChainSpikeRow struct {
	AlertID    string   `json:"alert_id"`
	SKU        string   `json:"sku"`
	Name       string   `json:"name"`
	VendorID   string   `json:"vendor_id"`
	VendorName string   `json:"vendor_name"`
	StoreIDs   []string `json:"store_ids"`
	// Stores names them with their cities, e.g. "S001 Brooklyn, S002 Chicago".
	Stores        string    `json:"stores"`
	FirstOpenedAt time.Time `json:"first_opened_at"`
	At            time.Time `json:"at"`
	// LocalTime is FirstOpenedAt in the first store's zone.
	LocalTime string `json:"local_time"`
}

// ComplaintFeed keeps what the broker delivered about complaints since the dashboard started:
// every spike it heard of by alert id (with the status its events imply), each store's newest
// complaints and the newest chain-wide spikes. It builds the rows the pages show, from events
// and from the complaints API alike. Safe for concurrent use.
type ComplaintFeed struct {
	now      func() time.Time
	locs     map[string]*time.Location
	stores   map[string]string // store id -> name
	cities   map[string]string // store id -> city
	products map[string]string // sku -> name
	vendors  map[string]string // vendor id -> name

	mu         sync.Mutex
	spikes     map[string]SpikeRow
	complaints map[string][]ComplaintRow // store id -> newest filed_at first
	chain      []ChainSpikeRow           // newest first
}

// NewComplaintFeed returns an empty feed for the catalog's stores and products; now is the clock
// (time.Now when nil).
func NewComplaintFeed(cat *catalog.Catalog, now func() time.Time) (*ComplaintFeed, error) {
	if now == nil {
		now = time.Now
	}
	f := &ComplaintFeed{now: now, locs: map[string]*time.Location{}, stores: map[string]string{}, cities: map[string]string{},
		products: map[string]string{}, vendors: map[string]string{},
		spikes: map[string]SpikeRow{}, complaints: map[string][]ComplaintRow{}}
	for _, s := range cat.Stores() {
		loc, err := s.Location()
		if err != nil {
			return nil, err
		}
		f.locs[s.StoreID], f.stores[s.StoreID], f.cities[s.StoreID] = loc, s.Name, s.City
	}
	for _, p := range cat.Products() {
		f.products[p.SKU] = p.Name
	}
	for _, v := range cat.Vendors() {
		f.vendors[v.VendorID] = v.Name
	}
	return f, nil
}

func (f *ComplaintFeed) loc(store string) *time.Location {
	if l := f.locs[store]; l != nil {
		return l
	}
	return time.UTC
}

// ApplySpike folds a spike event in and returns the spike as it now stands. Its status: active
// once opened; resolved or merged as the resolution says; after an update, active when the
// episode's end is still ahead (a late complaint reopens a resolved episode only then), else
// what it was (resolved when the feed never heard of it).
func (f *ComplaintFeed) ApplySpike(e *SpikeEvent) SpikeRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, known := f.spikes[e.AlertID]
	var status string
	var resolvedAt *time.Time
	switch e.Type {
	case schemas.TypeAlertComplaintSpikeResolved:
		status = SpikeResolved
		if e.Reason == "merged" {
			status = SpikeMerged
		}
		at := e.At
		resolvedAt = &at
	case schemas.TypeAlertComplaintSpikeUpdated:
		switch {
		case e.EndsAt.After(f.now()):
			status = SpikeActive
		case known:
			status, resolvedAt = prev.Status, prev.ResolvedAt
		default:
			status = SpikeResolved
			at := e.EndsAt
			resolvedAt = &at
		}
	default:
		status = SpikeActive
	}
	row := f.spikeRow(e.ComplaintSpike, status, resolvedAt)
	f.remember(row)
	for _, id := range e.MergedAlertIDs {
		if m, ok := f.spikes[id]; ok && m.Status != SpikeMerged {
			m.Status, m.MergedInto = SpikeMerged, e.AlertID
			f.remember(f.relabel(m))
		}
	}
	return row
}

// remember stores a spike, forgetting the oldest resolved or merged one (or, when every one is
// active, the oldest) beyond maxSpikes. Callers hold f.mu.
func (f *ComplaintFeed) remember(row SpikeRow) {
	f.spikes[row.AlertID] = row
	if len(f.spikes) <= maxSpikes {
		return
	}
	var drop string
	var dropRow SpikeRow
	for id, r := range f.spikes {
		older := func() bool {
			if (r.Status == SpikeActive) != (dropRow.Status == SpikeActive) {
				return r.Status != SpikeActive
			}
			return r.OpenedAt.Before(dropRow.OpenedAt)
		}
		if drop == "" || older() {
			drop, dropRow = id, r
		}
	}
	delete(f.spikes, drop)
}

// ApplyComplaint folds a complaint in and returns its row; ok is false for a complaint the feed
// already has (a copy).
func (f *ComplaintFeed) ApplyComplaint(c *ComplaintEvent) (row ComplaintRow, ok bool) {
	row = f.complaintRow(*c, "")
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.complaints[c.StoreID]
	if slices.ContainsFunc(list, func(r ComplaintRow) bool { return r.ComplaintID == c.ComplaintID }) {
		return row, false
	}
	f.complaints[c.StoreID] = mergeComplaints(list, []ComplaintRow{row}, complaintsLen)
	return row, true
}

// ApplyChainSpike folds a chain-wide spike in and returns its row.
func (f *ComplaintFeed) ApplyChainSpike(c *ChainSpikeEvent) ChainSpikeRow {
	row := f.chainRow(*c, "")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chain = mergeChainSpikes(f.chain, []ChainSpikeRow{row}, chainSpikesLen)
	return row
}

// Spikes returns the spikes heard of since start, of a store or (store "") of every store,
// merged ones left out, active first, then the latest opened first.
func (f *ComplaintFeed) Spikes(store string) []SpikeRow {
	f.mu.Lock()
	var out []SpikeRow
	for _, r := range f.spikes {
		if store == "" || r.StoreID == store {
			out = append(out, r)
		}
	}
	f.mu.Unlock()
	return mergeSpikes(out, nil)
}

// Complaints returns a store's newest complaints heard of since start, newest first.
func (f *ComplaintFeed) Complaints(store string) []ComplaintRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.complaints[store])
}

// ChainSpikes returns the newest chain-wide spikes heard of since start.
func (f *ComplaintFeed) ChainSpikes() []ChainSpikeRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.chain)
}

// spikeRank is SpikeRow.Rank.
func spikeRank(status string, count int64) int64 {
	switch status {
	case SpikeMerged:
		return 1 << 62
	case SpikeResolved:
		return 2*count + 1
	}
	return 2 * count
}

// spikeRow builds the row of spike s in status.
func (f *ComplaintFeed) spikeRow(s schemas.ComplaintSpike, status string, resolvedAt *time.Time) SpikeRow {
	r := SpikeRow{AlertID: s.AlertID, Status: status, Reason: s.Reason, MergedInto: s.MergedInto,
		MergedAlertIDs: s.MergedAlertIDs, StoreID: s.StoreID, StoreName: f.stores[s.StoreID], SKU: s.SKU,
		Name: f.products[s.SKU], Count: s.Count, FirstFiledAt: s.FirstFiledAt, LastFiledAt: s.LastFiledAt,
		OpenedAt: s.OpenedAt, EndsAt: s.EndsAt, ResolvedAt: resolvedAt}
	if r.Count == 0 {
		r.Count = int64(len(s.ComplaintIDs))
	}
	return f.relabel(r)
}

// relabel fills in the row's rank, label and local times from its fields.
func (f *ComplaintFeed) relabel(r SpikeRow) SpikeRow {
	loc := f.loc(r.StoreID)
	first, last, end := r.FirstFiledAt.In(loc), r.LastFiledAt.In(loc), r.EndsAt.In(loc)
	r.Rank = spikeRank(r.Status, r.Count)
	r.Since = first.Format("Jan 2, 3:04 PM MST")
	r.LocalTime = r.OpenedAt.In(loc).Format("Jan 2, 3:04:05 PM MST")
	switch {
	case first.Format("Jan 2, 3:04 PM") == last.Format("Jan 2, 3:04 PM"):
		r.Window = r.Since
	case first.Format(time.DateOnly) == last.Format(time.DateOnly):
		r.Window = first.Format("Jan 2, 3:04 PM") + " – " + last.Format("3:04 PM MST")
	default:
		r.Window = first.Format("Jan 2, 3:04 PM") + " – " + last.Format("Jan 2, 3:04 PM MST")
	}
	clock := func(t time.Time) string {
		if t.Format(time.DateOnly) != last.Format(time.DateOnly) {
			return t.Format("Jan 2, 3:04 PM MST")
		}
		return t.Format("3:04 PM MST")
	}
	switch r.Status {
	case SpikeActive:
		r.Label, r.Ends = "Complaint spike", "ends "+clock(end)
	case SpikeResolved:
		r.Label = "Resolved"
		at := end
		if r.ResolvedAt != nil {
			at = r.ResolvedAt.In(loc)
		}
		r.Ends = "resolved " + clock(at)
	default:
		r.Label, r.Ends = "Merged", "merged into an earlier spike"
	}
	return r
}

var categoryLabels = map[string]string{"product_quality": "Product quality", "out_of_stock": "Out of stock",
	"pricing": "Pricing", "cleanliness": "Cleanliness", "staff": "Staff", "checkout": "Checkout", "other": "Other"}

var channelLabels = map[string]string{"app": "App", "help_desk": "Help desk", "in_store": "In store",
	"email": "Email", "phone": "Phone"}

// label is the label of a known value, or the value with its underscores as spaces.
func label(labels map[string]string, v string) string {
	if l, ok := labels[v]; ok {
		return l
	}
	return strings.ReplaceAll(v, "_", " ")
}

// complaintRow builds the row of complaint c; name is the product's name when known.
func (f *ComplaintFeed) complaintRow(c schemas.ComplaintFiled, name string) ComplaintRow {
	if name == "" && c.SKU != "" {
		name = f.products[c.SKU]
	}
	return ComplaintRow{ComplaintID: c.ComplaintID, StoreID: c.StoreID, SKU: c.SKU, Name: name,
		Category: c.Category, CategoryLabel: label(categoryLabels, c.Category), Channel: c.Channel,
		ChannelLabel: label(channelLabels, c.Channel), Severity: c.Severity, FiledAt: c.FiledAt,
		LocalTime: c.FiledAt.In(f.loc(c.StoreID)).Format("Jan 2, 3:04 PM"), Text: c.Text, Excerpt: excerpt(c.Text, excerptLen)}
}

// chainRow builds the row of chain-wide spike c; name is the product's name when known.
func (f *ComplaintFeed) chainRow(c schemas.ComplaintChainSpike, name string) ChainSpikeRow {
	if name == "" {
		name = f.products[c.SKU]
	}
	r := ChainSpikeRow{AlertID: c.AlertID, SKU: c.SKU, Name: name, VendorID: c.VendorID, VendorName: f.vendors[c.VendorID],
		StoreIDs: c.StoreIDs, FirstOpenedAt: c.FirstOpenedAt, At: c.At}
	names := make([]string, 0, len(c.StoreIDs))
	for _, id := range c.StoreIDs {
		names = append(names, strings.TrimSpace(id+" "+f.cities[id]))
	}
	r.Stores = strings.Join(names, ", ")
	var loc *time.Location = time.UTC
	if len(c.StoreIDs) > 0 {
		loc = f.loc(c.StoreIDs[0])
	}
	r.LocalTime = c.FirstOpenedAt.In(loc).Format("Jan 2, 3:04 PM MST")
	return r
}

// excerpt returns s with its runs of white space made single spaces, cut to at most n
// characters: at the last space when there is one in its last third, with "…".
func excerpt(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	cut := len(r)
	for i := len(r) - 1; i >= len(r)*2/3; i-- {
		if unicode.IsSpace(r[i]) {
			cut = i
			break
		}
	}
	return strings.TrimRightFunc(string(r[:cut]), func(c rune) bool { return unicode.IsSpace(c) || unicode.IsPunct(c) }) + "…"
}

// mergeSpikes puts two views of spikes together: for each alert id the row of higher rank (the
// first on a tie), merged ones left out, active first, then the latest opened first.
func mergeSpikes(a, b []SpikeRow) []SpikeRow {
	best := map[string]SpikeRow{}
	var order []string
	for _, r := range slices.Concat(a, b) {
		old, ok := best[r.AlertID]
		if !ok {
			order = append(order, r.AlertID)
		}
		if !ok || r.Rank > old.Rank {
			best[r.AlertID] = r
		}
	}
	out := []SpikeRow{}
	for _, id := range order {
		if r := best[id]; r.Status != SpikeMerged {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(x, y SpikeRow) int {
		return cmp.Or(cmp.Compare(activeFirst(x.Status), activeFirst(y.Status)), y.OpenedAt.Compare(x.OpenedAt),
			strings.Compare(x.AlertID, y.AlertID))
	})
	return out
}

func activeFirst(status string) int {
	if status == SpikeActive {
		return 0
	}
	return 1
}

// mergeComplaints puts two lists of complaints together, each complaint once, newest filed
// first, at most n.
func mergeComplaints(a, b []ComplaintRow, n int) []ComplaintRow {
	seen := map[string]bool{}
	out := []ComplaintRow{}
	for _, r := range slices.Concat(a, b) {
		if !seen[r.ComplaintID] {
			seen[r.ComplaintID] = true
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(x, y ComplaintRow) int {
		return cmp.Or(y.FiledAt.Compare(x.FiledAt), strings.Compare(x.ComplaintID, y.ComplaintID))
	})
	return out[:min(n, len(out))]
}

// mergeChainSpikes puts two lists of chain-wide spikes together: for each alert id the row
// naming more stores (stores join a chain spike's row without a new event; the first on a tie),
// the latest first opened first, at most n.
func mergeChainSpikes(a, b []ChainSpikeRow, n int) []ChainSpikeRow {
	best := map[string]ChainSpikeRow{}
	for _, r := range slices.Concat(a, b) {
		if old, ok := best[r.AlertID]; !ok || len(r.StoreIDs) > len(old.StoreIDs) {
			best[r.AlertID] = r
		}
	}
	out := make([]ChainSpikeRow, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y ChainSpikeRow) int {
		return cmp.Or(y.FirstOpenedAt.Compare(x.FirstOpenedAt), strings.Compare(x.AlertID, y.AlertID))
	})
	return out[:min(n, len(out))]
}

// complaintsClient reads the complaints service's API.
type complaintsClient struct {
	base   string
	client *http.Client
}

// apiSpike is one row of GET /v1/spikes.
type apiSpike struct {
	schemas.ComplaintSpike
	Status      string     `json:"status"`
	ProductName string     `json:"product_name"`
	ResolvedAt  *time.Time `json:"resolved_at"`
}

// apiComplaint is one row of GET /v1/complaints.
type apiComplaint struct {
	schemas.ComplaintFiled
	ProductName string `json:"product_name"`
}

// apiChainSpike is one row of GET /v1/chain-spikes.
type apiChainSpike struct {
	schemas.ComplaintChainSpike
	ProductName string `json:"product_name"`
}

func (c *complaintsClient) get(ctx context.Context, path string, q url.Values, into any) error {
	return getJSON(ctx, c.client, "complaints", c.base, path, q, into)
}

// spikes returns a store's (store "": every store's) spikes in status (active, resolved or
// all), the latest opened first.
func (c *complaintsClient) spikes(ctx context.Context, store, status string, limit int) ([]apiSpike, error) {
	q := url.Values{"status": {status}, "limit": {strconv.Itoa(limit)}}
	if store != "" {
		q.Set("store_id", store)
	}
	var body struct {
		Spikes []apiSpike `json:"spikes"`
	}
	err := c.get(ctx, "/v1/spikes", q, &body)
	return body.Spikes, err
}

// complaints returns a store's newest complaints.
func (c *complaintsClient) complaints(ctx context.Context, store string, limit int) ([]apiComplaint, error) {
	var body struct {
		Complaints []apiComplaint `json:"complaints"`
	}
	err := c.get(ctx, "/v1/complaints", url.Values{"store_id": {store}, "limit": {strconv.Itoa(limit)}}, &body)
	return body.Complaints, err
}

// chainSpikes returns the newest chain-wide spikes.
func (c *complaintsClient) chainSpikes(ctx context.Context, limit int) ([]apiChainSpike, error) {
	var body struct {
		ChainSpikes []apiChainSpike `json:"chain_spikes"`
	}
	err := c.get(ctx, "/v1/chain-spikes", url.Values{"limit": {strconv.Itoa(limit)}}, &body)
	return body.ChainSpikes, err
}

// fromAPI converts the API's spikes to rows.
func (f *ComplaintFeed) fromAPI(spikes []apiSpike) []SpikeRow {
	rows := make([]SpikeRow, 0, len(spikes))
	for _, s := range spikes {
		r := f.spikeRow(s.ComplaintSpike, cmp.Or(s.Status, SpikeActive), s.ResolvedAt)
		r.Name = cmp.Or(s.ProductName, r.Name)
		rows = append(rows, r)
	}
	return rows
}

// storeSpikes returns a store's spikes for its page, active first: the complaints API's merged
// with what the broker delivered since start, or only the latter, with a notice, when the API
// cannot answer.
func (s *Server) storeSpikes(ctx context.Context, store string) ([]SpikeRow, string) {
	api, err := s.comp.spikes(ctx, store, "all", storeSpikesLen)
	rows := mergeSpikes(s.feed.fromAPI(api), s.feed.Spikes(store))
	rows = rows[:min(storeSpikesLen, len(rows))]
	if err != nil {
		return rows, fmt.Sprintf("Complaint spikes are unavailable right now (%v); showing spikes since the dashboard started.", err)
	}
	return rows, ""
}

// storeComplaints returns a store's newest complaints for its page, from the complaints API and
// what the broker delivered since start, or only the latter, with a notice, when the API
// cannot answer.
func (s *Server) storeComplaints(ctx context.Context, store string) ([]ComplaintRow, string) {
	api, err := s.comp.complaints(ctx, store, complaintsLen)
	rows := make([]ComplaintRow, 0, len(api))
	for _, c := range api {
		rows = append(rows, s.feed.complaintRow(c.ComplaintFiled, c.ProductName))
	}
	rows = mergeComplaints(rows, s.feed.Complaints(store), complaintsLen)
	if err != nil {
		return rows, fmt.Sprintf("Complaints are unavailable right now (%v); showing complaints since the dashboard started.", err)
	}
	return rows, ""
}

// chainSpikes returns the chain view's active spikes of every store and its chain-wide spikes,
// from the complaints API and what the broker delivered since start.
func (s *Server) chainSpikes(ctx context.Context) ([]SpikeRow, []ChainSpikeRow, string) {
	var (
		api          []apiSpike
		chains       []apiChainSpike
		errSp, errCh error
		wg           sync.WaitGroup
	)
	wg.Go(func() { api, errSp = s.comp.spikes(ctx, "", SpikeActive, activeSpikesLen) })
	wg.Go(func() { chains, errCh = s.comp.chainSpikes(ctx, chainSpikesLen) })
	wg.Wait()
	var active []SpikeRow
	for _, r := range mergeSpikes(s.feed.fromAPI(api), s.feed.Spikes("")) {
		if r.Status == SpikeActive && len(active) < activeSpikesLen {
			active = append(active, r)
		}
	}
	rows := make([]ChainSpikeRow, 0, len(chains))
	for _, c := range chains {
		rows = append(rows, s.feed.chainRow(c.ComplaintChainSpike, c.ProductName))
	}
	rows = mergeChainSpikes(rows, s.feed.ChainSpikes(), chainSpikesLen)
	if err := cmp.Or(errSp, errCh); err != nil {
		return active, rows, fmt.Sprintf("Complaint spikes are unavailable right now (%v); showing spikes since the dashboard started.", err)
	}
	return active, rows, ""
}
