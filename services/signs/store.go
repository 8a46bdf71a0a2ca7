package signs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/freshmart/platform/services/catalog"
)

// Store is the display view of one store: every SKU of the catalog with its State and the
// item JSON a sign receives for it. It is not safe for concurrent use; the app guards it.
type Store struct {
	id      string
	cat     *catalog.Catalog
	version int64
	entries map[string]*entry
}

type entry struct {
	product catalog.Product
	state   State
	item    []byte // ItemOf(product, state) as JSON
}

// NewStore returns the view of store id with every product of cat at its Initial state.
func NewStore(cat *catalog.Catalog, id string) *Store {
	s := &Store{id: id, cat: cat, entries: map[string]*entry{}}
	for _, p := range cat.Products() {
		e := &entry{product: p, state: Initial(p)}
		e.item = mustItem(p, e.state)
		s.entries[p.SKU] = e
	}
	return s
}

// ID returns the store's id.
func (s *Store) ID() string { return s.id }

// Version returns the store's version: the highest version of its SKUs (0 when none changed).
func (s *Store) Version() int64 { return s.version }

// Load sets a SKU's State as read back from storage. It reports false for a SKU not in the
// catalog.
func (s *Store) Load(sku string, st State) bool {
	e := s.entries[sku]
	if e == nil {
		return false
	}
	e.state = st
	e.item = mustItem(e.product, st)
	s.version = max(s.version, st.Version)
	return true
}

// State returns the State of sku and whether the catalog has it.
func (s *Store) State(sku string) (State, bool) {
	e := s.entries[sku]
	if e == nil {
		return State{}, false
	}
	return e.state, true
}

// Apply folds c into the State of sku. When something a sign shows changed it returns the
// new State, else ok is false. Events for a SKU not in the catalog change nothing.
func (s *Store) Apply(sku string, c Change) (st State, ok bool) {
	e := s.entries[sku]
	if e == nil {
		return State{}, false
	}
	n, changed := Apply(e.state, c)
	if !changed {
		return e.state, false
	}
	e.state = n
	e.item = mustItem(e.product, n)
	s.version = max(s.version, n.Version)
	return n, true
}

// Update returns the update frame carrying sku alone, at its version (nil for a SKU not in
// the catalog).
func (s *Store) Update(sku string) []byte {
	e := s.entries[sku]
	if e == nil {
		return nil
	}
	return UpdateFrame(e.state.Version, e.item)
}

// AppendUpdates appends to dst the update frame of a sign showing skus that was sent
// everything up to version since: the SKUs whose State changed after since, at the highest
// of their versions, which it returns. With nothing changed it returns dst unchanged and
// since. It is how a sign catches up, however many changes it missed: with the latest State
// of each SKU, in one frame.
func (s *Store) AppendUpdates(dst []byte, skus []string, since int64) ([]byte, int64) {
	top := since
	for _, sku := range skus {
		if e := s.entries[sku]; e != nil {
			top = max(top, e.state.Version)
		}
	}
	if top == since {
		return dst, since
	}
	dst = append(dst, updatePrefix...)
	dst = strconv.AppendInt(dst, top, 10)
	dst = append(dst, itemsPrefix...)
	first := true
	for _, sku := range skus {
		e := s.entries[sku]
		if e == nil || e.state.Version <= since {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, e.item...)
	}
	return append(dst, frameSuffix...), top
}

// SignVersion is the version a sign showing skus must have acknowledged to be up to date: the
// highest version of those SKUs (0 when none changed since the catalog's).
func (s *Store) SignVersion(skus []string) int64 {
	var v int64
	for _, sku := range skus {
		if e := s.entries[sku]; e != nil {
			v = max(v, e.state.Version)
		}
	}
	return v
}

// Snapshot returns the snapshot frame of skus at the store's version.
func (s *Store) Snapshot(skus []string) []byte {
	return s.frame("snapshot", skus, func(*entry) bool { return true })
}

// Since returns the first frame of a sign showing skus that reconnects having shown version
// since: an update frame with the SKUs changed after since (possibly none), when since lies
// within window versions below the store's version; else (the hub does not know since: it
// is older than the window, or newer than the store's version) the snapshot. delta reports
// which it is.
func (s *Store) Since(skus []string, since, window int64) (frame []byte, delta bool) {
	if since < 0 || since > s.version || s.version-since > window {
		return s.Snapshot(skus), false
	}
	return s.frame("update", skus, func(e *entry) bool { return e.state.Version > since }), true
}

func (s *Store) frame(typ string, skus []string, keep func(*entry) bool) []byte {
	b := make([]byte, 0, 64+len(skus)*200)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","version":`...)
	b = strconv.AppendInt(b, s.version, 10)
	b = append(b, `,"items":[`...)
	first := true
	for _, sku := range skus {
		e := s.entries[sku]
		if e == nil || !keep(e) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, e.item...)
	}
	return append(b, "]}"...)
}

func mustItem(p catalog.Product, st State) []byte {
	b, err := json.Marshal(ItemOf(p, st))
	if err != nil {
		panic(fmt.Sprintf("signs: marshal item %s: %v", p.SKU, err)) // plain structs always marshal
	}
	return b
}

const (
	updatePrefix = `{"type":"update","version":`
	itemsPrefix  = `,"items":[`
	frameSuffix  = `]}`
)

// UpdateFrame returns the update frame of one item (JSON) at version.
func UpdateFrame(version int64, item []byte) []byte {
	b := make([]byte, 0, len(updatePrefix)+20+len(itemsPrefix)+len(item)+len(frameSuffix))
	b = append(b, updatePrefix...)
	b = strconv.AppendInt(b, version, 10)
	b = append(b, itemsPrefix...)
	b = append(b, item...)
	return append(b, frameSuffix...)
}

// FrameVersion returns the version of a snapshot or update frame.
func FrameVersion(f []byte) (int64, error) {
	var h struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(f, &h); err != nil {
		return 0, fmt.Errorf("signs: frame: %w", err)
	}
	return h.Version, nil
}

// Ack is a sign's acknowledgement: it shows version Version.
type Ack struct {
	Version int64
}

// ParseAck reads a sign's frame, which must be {"type":"ack","version":V} with V >= 0 and at
// most sent (the newest version the sign was sent). The error says what is wrong, for the
// close reason (at most 123 bytes).
func ParseAck(data []byte, sent int64) (Ack, error) {
	// The frame every sign sends, read without the JSON decoder (10,000 signs ack each frame).
	if rest, ok := strings.CutPrefix(string(data), `{"type":"ack","version":`); ok {
		if digits, ok := strings.CutSuffix(rest, "}"); ok && len(digits) > 0 && len(digits) < 19 && digits[0] != '-' && digits[0] != '+' {
			if v, err := strconv.ParseInt(digits, 10, 64); err == nil && v <= sent {
				return Ack{Version: v}, nil
			}
		}
	}
	var m struct {
		Type    string `json:"type"`
		Version *int64 `json:"version"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Ack{}, fmt.Errorf("bad frame: not JSON")
	}
	switch {
	case m.Type != "ack":
		return Ack{}, fmt.Errorf("bad frame: type %.40q, want \"ack\"", m.Type)
	case m.Version == nil:
		return Ack{}, fmt.Errorf("bad frame: ack without a version")
	case *m.Version < 0 || *m.Version > sent:
		return Ack{}, fmt.Errorf("bad frame: ack of version %d, never sent (newest %d)", *m.Version, sent)
	}
	return Ack{Version: *m.Version}, nil
}

// ParamError is a bad query parameter of a sign's request.
type ParamError struct {
	Param, Message string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

// MaxSKUs bounds how many SKUs one sign may show.
const MaxSKUs = 500

// Select returns the SKUs a sign shows: skus (comma-separated SKUs, in their order, without
// repeats) or every product of department aisle, in catalog order. Exactly one of them must
// be given; an unknown SKU or department is a *ParamError naming the parameter.
func Select(cat *catalog.Catalog, skus, aisle string) ([]string, error) {
	skus, aisle = strings.TrimSpace(skus), strings.TrimSpace(aisle)
	switch {
	case skus == "" && aisle == "":
		return nil, &ParamError{"skus", "give skus=PRD-0001,... or aisle=<department id>"}
	case skus != "" && aisle != "":
		return nil, &ParamError{"aisle", "give skus or aisle, not both"}
	case aisle != "":
		if _, err := cat.Department(aisle); err != nil {
			return nil, &ParamError{"aisle", fmt.Sprintf("unknown department %q", aisle)}
		}
		var out []string
		for _, p := range cat.Products() {
			if p.Department == aisle {
				out = append(out, p.SKU)
			}
		}
		return out, nil
	}
	var out []string
	for _, sku := range strings.Split(skus, ",") {
		sku = strings.TrimSpace(sku)
		if sku == "" {
			continue
		}
		if _, err := cat.Product(sku); err != nil {
			return nil, &ParamError{"skus", fmt.Sprintf("unknown sku %.40q", sku)}
		}
		if !slices.Contains(out, sku) {
			out = append(out, sku)
		}
		if len(out) > MaxSKUs {
			return nil, &ParamError{"skus", fmt.Sprintf("at most %d SKUs per sign", MaxSKUs)}
		}
	}
	if len(out) == 0 {
		return nil, &ParamError{"skus", "no SKU given"}
	}
	return out, nil
}
