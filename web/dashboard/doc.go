// Package dashboard is the store manager's live dashboard: an HTTP server that renders pages with
// html/template, serves its embedded static assets, and pushes live updates to browsers over a
// websocket.
//
// Where the data comes from:
//   - the broker: a plain (group-less) consumer reads pos-sales and daily-sales-report from the
//     start of the earliest store's business day (ListOffsets by timestamp), so "revenue today"
//     is right after a restart and no report produced while it starts is missed, and
//     inventory-updates, store-alerts and customer-complaints from their ends. Live folds the
//     sales into per-store figures for the store's current local day and a ticker of recent sales;
//     ComplaintFeed folds the complaint spikes (alert.complaint_spike, _updated, _resolved),
//     the chain-wide spikes and the complaints (complaint.filed) into their current state;
//     ReportFeed remembers the newest version heard of each date's report.daily_sales; Hub fans
//     them out to the connected browsers.
//   - the inventory service's API (INVENTORY_URL): the stock table and the alerts already raised.
//   - the complaints service's API (COMPLAINTS_URL): a page's first spikes (/v1/spikes),
//     complaints (/v1/complaints) and chain-wide spikes (/v1/chain-spikes), merged with what
//     ComplaintFeed heard since start; when the service cannot answer, the page says so and shows
//     the latter.
//   - the analytics service's API (ANALYTICS_URL): the daily report of a date
//     (/v1/reports/daily, JSON for the finance page, the chart's 14 days and a store's headline;
//     CSV passed on to the browser) and the ETL's runs (/v1/etl-runs: the system page's table,
//     and the newest loaded date of a store or of the chain); when it cannot answer, the pages
//     say so.
//   - the broker's admin API (kadm): topics, partitions, end offsets, messages per second and every
//     consumer group's lag per partition, for the system page; each service's /healthz.
//
// It never reads another service's tables.
//
// Routes: GET / (chain-wide view), GET /stores/{id}, GET /finance?date=YYYY-MM-DD (the daily
// report; no date: yesterday in the first store's zone, or the newest report when that day has
// none), GET /finance/daily.csv?date=[&version=] (the report's CSV from the analytics API),
// GET /system, GET /ws?store=ID (websocket; no store means the chain, view=finance the finance
// page), GET /fragments/{stock,alerts,complaints,spikes,system,finance,headline} (HTML pieces
// the page swaps in after a search, a reconnect or a new report: alerts are a store's spikes and
// stock alerts, spikes the chain view's spikes card, finance the finance page's body of a date,
// headline a store's), GET /api/live (the chain's live figures as JSON), /healthz, /readyz,
// /metrics and /static/.
//
// Websocket messages are JSON objects with a "type": "snapshot" (sent first: revenue and ticker,
// and the complaint state heard since start: "spikes", and "complaints" on a store page or
// "chain_spikes" on the chain view), "sale" (a new sale and the store's new revenue), "revenue"
// (a void moved it), "stock" (a stock level, store pages only), "alert" (a stock alert raised or
// cleared), "spike" (a complaint spike opened, grew, resolved or merged: the whole SpikeRow with
// its status, to the store and the chain), "chain_spike" (a chain-wide spike, chain view only)
// and "complaint" (a new complaint, store pages only), and "report" (a new version of a date's
// daily report: its date, version and stores; to the finance page and the pages of its stores,
// which fetch their body or headline again when it is newer than what they show; their snapshot
// carries the "reports" heard since start). A spike's "rank" orders its states, so a page keeps
// the later of two it gets in either order (a snapshot racing a live message).
package dashboard
