// Package simulator stands in for a chain's checkout lanes, dock scanners and warehouse scanners,
// and for its customers' complaints.
//
// It has two halves. Generator is pure: from the stores, the products, a seed and a start time it
// produces a time-ordered stream of sales, warehouse counts and (without Config.Purchasing)
// deliveries, at the rates a store of the chain reports (about 50 sales a minute, 20 warehouse
// counts a minute and 5 deliveries an hour per store, more sales at lunch and after work in the
// store's own time zone). The same inputs always produce the same stream: ids come from the
// seeded generator, times from a simulated clock. (With Config.Purchasing the shelves also
// depend on when the vendors' deliveries are handed to Restock, which comes from outside, so
// a repeatable seeded run turns purchasing off.)
//
// With Config.Complaints the stream also has customer complaints: about 3 a minute for the chain
// (0.5 per store) about random stores, SKUs or none, and now and then a bad batch, 4 to 6
// complaints about one fresh-produce SKU in one store within 20 minutes, which the complaints
// service's rule (3 within 30 minutes) turns into a spike alert; the first batch comes within the
// first few minutes, then one every 20 to 40 (complaints.go). They are drawn from a random source
// of their own, so the rest of the stream is the same with them as without.
//
// With Config.Voids about 1 sale in 200 is voided at its register 2 to 6 minutes after it, for
// a reason a cashier gives ("customer changed mind", "duplicate scan", ...), its voided_at the
// simulated time of the void (voids.go); they too come from a random source of their own.
//
// Prices (prices.go) makes the lanes charge the prices in force: the Runner's Charge hook sets
// each sale's line prices from the pricing service's GET /v1/prices (every store, read every 3
// s, promotions included) just before the sale is posted, and falls back to the generator's
// catalog prices, saying so in the log, while the pricing service does not answer. About 1
// line in 2,000 (Prices.StaleEvery) is charged a stale price on purpose (the previous price, the
// regular price during a promotion, or the catalog's), so the price-accuracy check has
// something to find. Lines charged in the seconds between a price change and the next read are
// stale too, as at a real lane.
//
// Generator keeps its own model of each store's shelves. Sales take from it, so a lane never sells
// what the model says is gone. With Config.Purchasing (the command's default) the chain buys
// through its purchasing: the stream has no deliveries, the reorder service orders from the
// low-stock alerts, Purchasing delivers those orders through the POS dock API, and its
// OnDelivered hook hands each delivery to Generator.Restock, which queues the units under a
// mutex for the generator to add to its shelves before its next event (the generator runs on
// the Runner's goroutine, Purchasing on its own). Without it the generator's own scheduled
// trucks restock (about 5 deliveries per store an hour, naming no purchase order): each comes
// from the vendor whose products are shortest and
// brings each of them up to half as much again as shoppers asked for since its last delivery
// (sold or not; rounded up to the vendor's packs, and at least to the opening stock); when nothing
// is short the scheduled truck brings a pack of each product of the next vendor in turn.
// Warehouse counts report the model's figure, now and then a unit or two short to stand for
// shrinkage. Stock therefore drifts the way a real store's does: busy evenings sell some items
// out, low-stock alerts happen by themselves, and the next truck restocks. The model starts at the
// catalog's initial stock unless LoadStock first takes over the inventory service's figures (the
// command does by default), so a restarted simulator carries on from the real shelves. Counts and sales are posted concurrently, so a count may land just before a
// sale the model had already applied, as on a real shop floor.
//
// Runner is the transport half: it paces the stream against the wall clock and posts each event to
// the POS service's public API (POST /v1/sales, /v1/deliveries, /v1/stock-counts and
// /v1/sales/{sale_id}/void) with a pool of workers, and each complaint to the complaints
// service's POST /v1/complaints with workers and a queue of their own, so a complaints service
// that does not answer never holds up the sales. A failed post is retried with the same body, so
// a retried sale keeps its sale_id and is counted once downstream. A void is posted only once the
// POS answered its sale 202 (it waits for a sale still in flight); the voids of sales that were
// not accepted are skipped. Runner counts what it sent, what was accepted and what failed (and
// the voids skipped), per kind.
package simulator
