// Package dashboard is the store manager's live dashboard: an HTTP server that renders pages with
// html/template, serves its embedded static assets, and pushes live updates to browsers over a
// websocket.
//
// Where the data comes from:
//   - the broker: a plain (group-less) consumer reads pos-sales from the start of the earliest
//     store's business day (ListOffsets by timestamp), so "revenue today" is right after a restart,
//     and inventory-updates and store-alerts from their ends. Live folds the events into per-store
//     figures for the store's current local day and a ticker of recent sales; Hub fans them out to
//     the connected browsers.
//   - the inventory service's API (INVENTORY_URL): the stock table and the alerts already raised.
//   - the broker's admin API (kadm): topics, partitions, end offsets, messages per second and every
//     consumer group's lag per partition, for the system page; each service's /healthz.
//
// It never reads another service's tables.
//
// Routes: GET / (chain-wide view), GET /stores/{id}, GET /system, GET /ws?store=ID (websocket;
// no store means the chain), GET /fragments/{stock,alerts,system} (HTML pieces the page swaps in
// after a search or a reconnect), GET /api/live (the chain's live figures as JSON), /healthz,
// /readyz, /metrics and /static/.
//
// Websocket messages are JSON objects with a "type": "snapshot" (sent first: revenue and ticker),
// "sale" (a new sale and the store's new revenue), "stock" (a stock level, store pages only) and
// "alert" (an alert raised or cleared).
package dashboard
