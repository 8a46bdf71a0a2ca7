// Package simulator stands in for a chain's checkout lanes, dock scanners and warehouse scanners.
//
// It has two halves. Generator is pure: from the stores, the products, a seed and a start time it
// produces a time-ordered stream of sales, warehouse counts and deliveries, at the rates a store of
// the chain reports (about 50 sales a minute, 20 warehouse counts a minute and 5 deliveries an hour
// per store, more sales at lunch and after work in the store's own time zone). The same inputs
// always produce the same stream: ids come from the seeded generator, times from a simulated clock.
//
// Generator keeps its own model of each store's shelves. Sales take from it, so a lane never sells
// what the model says is gone. Each delivery comes from the vendor whose products are shortest and
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
// the POS service's public API (POST /v1/sales, /v1/deliveries, /v1/stock-counts) with a pool of
// workers. A failed post is retried with the same body, so a retried sale keeps its sale_id and is
// counted once downstream. Runner counts what it sent, what was accepted and what failed.
package simulator
