package dashboard

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/freshmart/platform/internal/kit/kittest"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPagesRenderWhenDependenciesAreDown renders every page with the broker and the services
// unreachable: pages still answer, and say what is missing instead of failing.
func TestPagesRenderWhenDependenciesAreDown(t *testing.T) {
	down := closedAddr(t)
	svc := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down,
		"POS_URL": "http://" + down, "BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down, "ANALYTICS_URL": "http://" + down})
	if _, err := New(svc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	tests := []struct {
		path        string
		status      int
		contentType string
		contains    []string
	}{
		{"/", 200, "text/html", []string{"Revenue today", "S001", "Live sales", "/static/app.js", "Complaint spikes are unavailable",
			`id="active-spikes"`, "No active complaint spikes.", `id="chain-spikes"`}},
		{"/stores/S001", 200, "text/html", []string{"Stock is unavailable", `data-store="S001"`, "Revenue today by department", "America/",
			"Complaint spikes are unavailable", `id="spikes"`, "Complaints are unavailable", `id="complaints"`,
			`id="headline-body"`, "The daily report is unavailable right now"}},
		{"/stores/S999", 404, "application/problem+json", []string{`"status":404`, "S999"}},
		{"/fragments/stock?store=S001&q=milk", 200, "text/html", []string{"Stock is unavailable"}},
		{"/fragments/stock?store=nope", 404, "application/problem+json", []string{"nope"}},
		{"/fragments/alerts?store=S002", 200, "text/html", []string{"Alert history is unavailable", "Complaint spikes are unavailable"}},
		{"/fragments/complaints?store=S002", 200, "text/html", []string{"Complaints are unavailable", "No complaints yet."}},
		{"/fragments/complaints?store=nope", 404, "application/problem+json", []string{"nope"}},
		{"/fragments/spikes", 200, "text/html", []string{"Complaint spikes are unavailable", "No chain-wide spikes."}},
		{"/system", 200, "text/html", []string{"broker", "Down", "inventory", "complaints", "analytics", "ETL runs are unavailable", `id="etl-runs"`}},
		{"/finance", 200, "text/html", []string{`class="active">Finance</a>`, `id="day-picker"`, "Reports are unavailable", `id="finance-body"`}},
		{"/finance?date=2026-11-20", 200, "text/html", []string{`value="2026-11-20"`, "Fri, Nov 20, 2026", "Reports are unavailable right now (analytics:"}},
		{"/finance?date=2026-11-31", 400, "application/problem+json", []string{"2026-11-31"}},
		{"/fragments/finance?date=2026-11-20", 200, "text/html", []string{`<div id="finance-body" data-date="2026-11-20"`, "Reports are unavailable"}},
		{"/finance/daily.csv?date=2026-11-20", 502, "application/problem+json", []string{"Analytics unavailable", "analytics:"}},
		{"/finance/daily.csv", 400, "application/problem+json", []string{"date is required"}},
		{"/fragments/headline?store=S001", 200, "text/html", []string{"The daily report is unavailable right now"}},
		{"/fragments/headline?store=nope", 404, "application/problem+json", []string{"nope"}},
		{"/fragments/signs?store=S001", 200, "text/html", []string{`id="signs-unavailable"`, "Sign status is unavailable right now"}},
		{"/fragments/signs?store=nope", 404, "application/problem+json", []string{"nope"}},
		{"/api/live", 200, "application/json", []string{`"chain"`, `"stores"`}},
		{"/static/app.js", 200, "text/javascript", []string{"WebSocket"}},
		{"/static/style.css", 200, "text/css", []string{".ticker"}},
		{"/healthz", 200, "application/json", []string{"ok"}},
		{"/readyz", 503, "application/problem+json", []string{"Not ready", `"broker"`}},
		{"/ws?store=S999", 404, "application/problem+json", []string{"S999"}},
		{"/metrics", 200, "text/plain", []string{"freshmart_web_websocket_clients"}},
		{"/nowhere", 404, "application/problem+json", []string{"/nowhere"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Fatalf("content type %q, want %q", ct, tt.contentType)
			}
			for _, want := range tt.contains {
				if !strings.Contains(string(body), want) {
					t.Errorf("body lacks %q:\n%.2000s", want, body)
				}
			}
		})
	}
}
