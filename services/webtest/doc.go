// Package webtest holds the browser tests of the manager dashboard: they build and start our
// broker, the POS, inventory, complaints and analytics services and the dashboard as separate
// processes on free ports against a throwaway Postgres, and drive the pages with headless
// Chromium (chromedp): sales, stock and alerts (TestDashboard), complaints with their spikes
// opening and resolving live (TestDashboardComplaints), and the daily report of a past day
// loaded on demand by `analytics etl` on the finance page, the store's headline and the
// system page (TestFinance). They save screenshots of the pages under
// artifacts/screenshots/ at the repository root.
package webtest
