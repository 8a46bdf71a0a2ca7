package simulator

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/freshmart/platform/schemas"
)

// Complaints (Config.Complaints) come in two kinds:
//
//   - background complaints, ComplaintsPerMinute per store (0.5, so 3 a minute for the chain's
//     six stores) times Rate, at random times: a random store, a category (product quality,
//     out of stock, pricing, cleanliness, staff, checkout, other), a SKU when the category is
//     about one, a channel, usually a severity, sometimes a loyalty id, and a short text. Spread
//     over every store and SKU they rarely make a spike (3 about one store and SKU within 30
//     minutes) at Rate 1; at high rates they do, the rule being absolute;
//   - bad batches, now and then: 4 to 6 complaints about one fresh-produce SKU (a department
//     whose id or name says produce; any SKU when there is none) in one store, the gaps
//     between them 30 s to 4 min, so the batch spans less than 20 minutes and its third
//     complaint, which makes a spike, comes at most 8 minutes after its first. The first batch
//     starts 1 to 3 minutes into the stream, the next ones BadBatchEvery (30 minutes) apart on
//     average, each gap between 2/3 and 4/3 of it, so a run shows a spike within its first 11
//     minutes and about two an hour after that. Rate divides the gaps between batches and, at
//     Rates above 1, the gaps within one too (more shoppers buy the bad batch, and complain,
//     sooner); below 1 a batch is not stretched, so it is still a spike.
//
// They are drawn from a random source of their own (seeded from Seed), so the same seed gives
// the same complaints, and the sales, counts and deliveries are the same with complaints as
// without. filed_at is the event's time, the simulated clock.
//
// complaintGen draws the complaints of a Generator.
type complaintGen struct {
	g         *Generator
	rng       *rand.Rand
	lambda    float64       // background complaints per second, every store together
	bgNext    time.Duration // offset of the next background complaint
	batchNext time.Duration // offset of the next bad batch; negative: none
	every     time.Duration // mean gap between bad batches at the configured rate
	within    float64       // scale of the gaps within a batch: 1/max(Rate, 1)
	fresh     []int         // the products a bad batch can be of
	pending   []pendingComplaint
	batches   int
}

// pendingComplaint is a complaint of a bad batch under way, due at offset at.
type pendingComplaint struct {
	at time.Duration
	ev Event
}

func newComplaintGen(g *Generator) *complaintGen {
	cfg := g.cfg
	c := &complaintGen{
		g:         g,
		rng:       rand.New(rand.NewPCG(cfg.Seed^0x5bd1e9955bd1e995, cfg.Seed+0x27d4eb2f165667c5)),
		lambda:    cfg.ComplaintsPerMinute * cfg.Rate * float64(len(g.stores)) / 60,
		within:    1 / max(cfg.Rate, 1),
		batchNext: -1,
	}
	for i, p := range g.products {
		if freshProduce(p.Department) {
			c.fresh = append(c.fresh, i)
		}
	}
	if len(c.fresh) == 0 {
		for i := range g.products {
			c.fresh = append(c.fresh, i)
		}
	}
	if cfg.BadBatchEvery > 0 {
		c.every = time.Duration(float64(cfg.BadBatchEvery) / cfg.Rate)
		c.batchNext = c.minutes(1+2*c.rng.Float64(), c.within)
	}
	c.bgNext = c.afterBackground(0)
	return c
}

// freshProduce reports whether a department (its id) is fresh produce.
func freshProduce(dept string) bool { return strings.Contains(strings.ToLower(dept), "produce") }

// minutes returns m minutes times scale.
func (c *complaintGen) minutes(m, scale float64) time.Duration {
	return time.Duration(m * scale * float64(time.Minute))
}

func (c *complaintGen) afterBackground(from time.Duration) time.Duration {
	if c.lambda <= 0 {
		return 1<<63 - 1
	}
	return from + time.Duration(c.rng.ExpFloat64()/c.lambda*float64(time.Second))
}

// peek returns the offset of the next complaint, starting the bad batches due by then.
func (c *complaintGen) peek() time.Duration {
	for c.batchNext >= 0 && c.batchNext <= c.bgNext && (len(c.pending) == 0 || c.batchNext <= c.pending[0].at) {
		c.badBatch(c.batchNext)
		c.batchNext += time.Duration(float64(c.every) * (2 + 2*c.rng.Float64()) / 3)
	}
	t := c.bgNext
	if len(c.pending) > 0 && c.pending[0].at <= t {
		t = c.pending[0].at
	}
	return t
}

// next returns the next complaint (a batch's first, at the same time as a background one).
func (c *complaintGen) next() Event {
	c.peek()
	if len(c.pending) > 0 && c.pending[0].at <= c.bgNext {
		ev := c.pending[0].ev
		c.pending = c.pending[1:]
		return ev
	}
	at := c.bgNext
	c.bgNext = c.afterBackground(at)
	return c.background(at)
}

// badBatch schedules the complaints of a bad batch starting at offset at.
func (c *complaintGen) badBatch(at time.Duration) {
	c.batches++
	st := c.g.stores[c.rng.IntN(len(c.g.stores))]
	p := c.g.products[c.fresh[c.rng.IntN(len(c.fresh))]]
	n := 4 + c.rng.IntN(3)
	for i := range n {
		if i > 0 {
			at += c.minutes(0.5+3.5*c.rng.Float64(), c.within)
		}
		cf := c.filed(st.store.ID, at)
		cf.Category = "product_quality"
		cf.Channel = pick(c.rng, batchChannels)
		cf.Severity = 3 + pick(c.rng, []weighted[int]{{0, 35}, {1, 40}, {2, 25}})
		cf.SKU = p.SKU
		cf.Text = fmt.Sprintf(badBatchTexts[c.rng.IntN(len(badBatchTexts))], productName(p))
		ev := Event{At: c.g.cfg.Start.Add(at).UTC(), Kind: KindComplaint, StoreID: st.store.ID, Complaint: cf, BadBatch: c.batches}
		j := sort.Search(len(c.pending), func(j int) bool { return c.pending[j].at > at })
		c.pending = append(c.pending, pendingComplaint{})
		copy(c.pending[j+1:], c.pending[j:])
		c.pending[j] = pendingComplaint{at: at, ev: ev}
	}
}

// filed returns a complaint of a store at offset at with its id, time and perhaps a loyalty id.
func (c *complaintGen) filed(store string, at time.Duration) *schemas.ComplaintFiled {
	cf := &schemas.ComplaintFiled{ComplaintID: newID(c.rng), StoreID: store, FiledAt: stamp(c.g.cfg.Start.Add(at))}
	if c.rng.Float64() < 0.4 {
		cf.LoyaltyID = fmt.Sprintf("LOY-%06d", c.rng.IntN(20000))
	}
	return cf
}

// background returns a background complaint at offset at.
func (c *complaintGen) background(at time.Duration) Event {
	st := c.g.stores[c.rng.IntN(len(c.g.stores))]
	cf := c.filed(st.store.ID, at)
	k := complaintKinds[pick(c.rng, complaintKindWeights)]
	cf.Category = k.category
	cf.Channel = pick(c.rng, channels)
	if c.rng.Float64() < 0.88 {
		cf.Severity = 1 + pick(c.rng, []weighted[int]{{0, 20}, {1, 30}, {2, 30}, {3, 15}, {4, 5}})
	}
	if len(k.about) > 0 && (len(k.general) == 0 || c.rng.Float64() < k.skuShare) {
		p := c.g.products[c.pickProduct()]
		cf.SKU = p.SKU
		cf.Text = fmt.Sprintf(k.about[c.rng.IntN(len(k.about))], productName(p))
	} else {
		cf.Text = k.general[c.rng.IntN(len(k.general))]
	}
	return Event{At: c.g.cfg.Start.Add(at).UTC(), Kind: KindComplaint, StoreID: st.store.ID, Complaint: cf}
}

// pickProduct picks a product as shoppers' baskets do (by department weight), from the
// complaints' own random source.
func (c *complaintGen) pickProduct() int {
	depts := c.g.depts
	r := c.rng.Float64() * depts[len(depts)-1].cum
	d := min(sort.Search(len(depts), func(i int) bool { return depts[i].cum > r }), len(depts)-1)
	ps := depts[d].products
	return ps[c.rng.IntN(len(ps))]
}

func productName(p Product) string {
	if p.Name != "" {
		return p.Name
	}
	return p.SKU
}

type weighted[T any] struct {
	v      T
	weight float64
}

func pick[T any](rng *rand.Rand, ws []weighted[T]) T {
	var sum float64
	for _, w := range ws {
		sum += w.weight
	}
	r := rng.Float64() * sum
	for _, w := range ws {
		if r < w.weight {
			return w.v
		}
		r -= w.weight
	}
	return ws[len(ws)-1].v
}

var channels = []weighted[string]{{"app", 35}, {"in_store", 25}, {"help_desk", 15}, {"email", 15}, {"phone", 10}}

var batchChannels = []weighted[string]{{"app", 40}, {"in_store", 30}, {"help_desk", 20}, {"phone", 10}}

// complaintKind is a category of background complaints: about names a product (%s is its
// name), general does not.
type complaintKind struct {
	category string
	weight   float64 // share of the background complaints
	skuShare float64 // of the category's complaints, the share about a product when it has both
	about    []string
	general  []string
}

var complaintKinds = []complaintKind{
	{category: "product_quality", weight: 30, skuShare: 1, about: []string{
		"The %s I bought were past their best.",
		"%s was damaged when I got it home.",
		"Packaging on the %s was split open.",
		"%s tasted stale.",
		"%s on the shelf was past its best-before date.",
		"The %s was not as fresh as it should be.",
	}},
	{category: "out_of_stock", weight: 20, skuShare: 1, about: []string{
		"%s has been out of stock all week.",
		"The shelf for %s was empty again.",
		"Came in specially for %s and there was none.",
		"The app said %s was in stock but the shelf was empty.",
	}},
	{category: "pricing", weight: 15, skuShare: 0.8, about: []string{
		"%s rang up higher than the shelf label.",
		"The shelf price for %s doesn't match my receipt.",
		"The promotion on %s wasn't applied at checkout.",
	}, general: []string{
		"I was overcharged at checkout.",
		"The loyalty discount was missing from my receipt.",
	}},
	{category: "cleanliness", weight: 10, general: []string{
		"The floor by the entrance was sticky.",
		"The restrooms were dirty.",
		"A spill in aisle 4 was left for ages.",
		"The trolleys were filthy.",
		"The bins at the front were overflowing.",
	}},
	{category: "staff", weight: 10, general: []string{
		"Nobody at the deli counter for 15 minutes.",
		"A staff member was rude when I asked for help.",
		"Couldn't find anyone to help me.",
		"Staff were chatting and ignored the queue.",
	}},
	{category: "checkout", weight: 10, general: []string{
		"Only one till open and a long queue.",
		"Self-checkout kept freezing.",
		"The card reader rejected my card twice.",
		"Waited 20 minutes to pay.",
	}},
	{category: "other", weight: 5, skuShare: 0.3, about: []string{
		"Please stock a bigger size of %s.",
		"%s has moved and I can't find it.",
	}, general: []string{
		"The car park lights are out.",
		"The music in the store is far too loud.",
		"The website's opening hours are wrong.",
	}},
}

// complaintKindWeights picks an index of complaintKinds.
var complaintKindWeights = func() []weighted[int] {
	ws := make([]weighted[int], len(complaintKinds))
	for i, k := range complaintKinds {
		ws[i] = weighted[int]{i, k.weight}
	}
	return ws
}()

// badBatchTexts are what customers say about a bad batch of fresh produce.
var badBatchTexts = []string{
	"The %s were mouldy the day after I bought them.",
	"%s already rotten inside.",
	"Bought %s this morning, soft and brown already.",
	"%s smelled off straight out of the bag.",
	"The whole pack of %s had gone bad.",
	"Found mould on the %s I bought today.",
	"The %s went slimy within a day.",
	"%s bruised and mushy, the whole display looked bad.",
}
