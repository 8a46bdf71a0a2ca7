// Package webtest holds the browser tests of the manager dashboard: they build and start our
// broker, the POS, inventory and complaints services and the dashboard as separate processes on
// free ports against a throwaway Postgres, and drive the pages with headless Chromium
// (chromedp): sales, stock and alerts (TestDashboard), and complaints with their spikes opening
// and resolving live (TestDashboardComplaints). They save screenshots of the pages under
// artifacts/screenshots/ at the repository root.
package webtest
