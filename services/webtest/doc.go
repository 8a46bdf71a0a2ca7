// Package webtest holds the browser test of the manager dashboard: it builds and starts our
// broker, the POS and inventory services and the dashboard as separate processes on free ports
// against a throwaway Postgres, and drives the pages with headless Chromium (chromedp). It
// saves a screenshot of each page under artifacts/screenshots/ at the repository root.
package webtest
