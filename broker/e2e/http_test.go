package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// httpAddrRE finds the HTTP address in the broker's log.
var httpAddrRE = regexp.MustCompile(`msg="http endpoints up" .*?\bhttp=(\S+)`)

// TestHTTPEndpoints checks the binary's health and metrics endpoints:
// /healthz and /readyz answer 200 once the broker listens, and /metrics
// serves Prometheus text that counts the records just produced.
func TestHTTPEndpoints(t *testing.T) {
	b := startBroker(t, t.TempDir())
	logText, err := os.ReadFile(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	m := httpAddrRE.FindSubmatch(logText)
	if m == nil {
		t.Fatalf("no `http endpoints up` line with http=<addr> in the broker log:\n%s", logText)
	}
	base := "http://" + string(m[1])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod := b.client(kgo.DefaultProduceTopic("pos-sales"))
	recs := make([]*kgo.Record, 50)
	for i := range recs {
		recs[i] = &kgo.Record{Key: recordKey(int64(i)), Value: []byte(recordValue(int64(i)))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: read body: %v", path, err)
		}
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		path     string
		contains []string
	}{
		{"/healthz", nil},
		{"/readyz", nil},
		{"/metrics", []string{"# TYPE ", "go_goroutines", `broker_records_appended_total{topic="pos-sales"} 50`}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			code, body := get(tc.path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200; body: %.300s", tc.path, code, body)
			}
			for _, want := range tc.contains {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s: body lacks %q", tc.path, want)
				}
			}
		})
	}
	b.stop()
}
