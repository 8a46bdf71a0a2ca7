// Package dashboard is the store manager's live dashboard: an HTTP server that renders pages with
// html/template, serves its embedded static assets, and pushes live updates to browsers over a
// websocket.
//
// Where the data comes from:
//   - the broker: a plain (group-less) consumer reads pos-sales from the start of the earliest
//     store's business day (ListOffsets by timestamp), so "revenue today" is right after a restart,
//     and inventory-updates, store-alerts and customer-complaints from their ends. Live folds the
//     sales into per-store figures for the store's current local day and a ticker of recent sales;
//     ComplaintFeed folds the complaint spikes (alert.complaint_spike, _updated, _resolved),
//     the chain-wide spikes and the complaints (complaint.filed) into their current state; Hub
//     fans them out to the connected browsers.
//   - the inventory service's API (INVENTORY_URL): the stock table and the alerts already raised.
//   - the complaints service's API (COMPLAINTS_URL): a page's first spikes (/v1/spikes),
//     complaints (/v1/complaints) and chain-wide spikes (/v1/chain-spikes), merged with what
//     ComplaintFeed heard since start; when the service cannot answer, the page says so and shows
//     the latter.
//   - the broker's admin API (kadm): topics, partitions, end offsets, messages per second and every
//     consumer group's lag per partition, for the system page; each service's /healthz.
//
// It never reads another service's tables.
//
// Routes: GET / (chain-wide view), GET /stores/{id}, GET /system, GET /ws?store=ID (websocket;
// no store means the chain), GET /fragments/{stock,alerts,complaints,spikes,system} (HTML pieces
// the page swaps in after a search or a reconnect: alerts are a store's spikes and stock alerts,
// spikes the chain view's spikes card), GET /api/live (the chain's live figures as JSON),
// /healthz, /readyz, /metrics and /static/.
//
// Websocket messages are JSON objects with a "type": "snapshot" (sent first: revenue and ticker,
// and the complaint state heard since start: "spikes", and "complaints" on a store page or
// "chain_spikes" on the chain view), "sale" (a new sale and the store's new revenue), "revenue"
// (a void moved it), "stock" (a stock level, store pages only), "alert" (a stock alert raised or
// cleared), "spike" (a complaint spike opened, grew, resolved or merged: the whole SpikeRow with
// its status, to the store and the chain), "chain_spike" (a chain-wide spike, chain view only)
// and "complaint" (a new complaint, store pages only). A spike's "rank" orders its states, so a
// page keeps the later of two it gets in either order (a snapshot racing a live message).
package dashboard
