package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/catalog"
)

type sale struct {
	SaleID string `json:"sale_id"`
	Lines  []struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	} `json:"lines"`
}

// echo is a handler in the style the services use: read, decode, answer or Error.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(w, r, 0)
	if err != nil {
		Error(w, r, slog.Default(), err)
		return
	}
	var s sale
	if err := Decode(body, &s); err != nil {
		Error(w, r, slog.Default(), err)
		return
	}
	var fe FieldErrors
	for i, l := range s.Lines {
		if l.Qty < 1 {
			fe.Add(fmt.Sprintf("lines[%d].qty", i), "must be at least 1")
		}
	}
	if err := fe.Err(); err != nil {
		Error(w, r, slog.Default(), err)
		return
	}
	WriteJSON(w, http.StatusAccepted, s)
}

func TestBodyHandling(t *testing.T) {
	srv := httptest.NewServer(Recover(slog.Default(), http.HandlerFunc(echo)))
	defer srv.Close()
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantField   string
	}{
		{"ok", "application/json", `{"sale_id":"a","lines":[{"sku":"x","qty":1}]}`, 202, ""},
		{"charset ok", "application/json; charset=utf-8", `{"sale_id":"a"}`, 202, ""},
		{"no content type", "", `{}`, 415, ""},
		{"text", "text/plain", `{}`, 415, ""},
		{"latin1", "application/json; charset=latin1", `{}`, 415, ""},
		{"empty", "application/json", ``, 400, ""},
		{"syntax", "application/json", `{"sale_id":`, 400, ""},
		{"trailing", "application/json", `{} {}`, 400, ""},
		{"not object", "application/json", `[1]`, 400, ""},
		{"wrong type", "application/json", `{"sale_id":5}`, 422, "sale_id"},
		{"unknown field", "application/json", `{"saleid":"a"}`, 422, "saleid"},
		{"field rule", "application/json", `{"lines":[{"sku":"x","qty":1},{"sku":"y","qty":0}]}`, 422, "lines[1].qty"},
		{"too large", "application/json", `{"sale_id":"` + strings.Repeat("x", MaxBody) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, raw)
			}
			if resp.StatusCode < 400 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != ProblemContentType {
				t.Fatalf("content type %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("problem body %q: %v", raw, err)
			}
			if p.Status != tt.wantStatus || p.Title == "" || p.Type == "" {
				t.Fatalf("problem %+v", p)
			}
			if tt.wantField != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.wantField) {
				t.Fatalf("errors %+v, want field %s", p.Errors, tt.wantField)
			}
		})
	}
}

func TestProblemFor(t *testing.T) {
	verr := schemas.Validate("sale.completed", []byte(`{}`))
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"schema", fmt.Errorf("events: %w", verr), 422},
		{"schema syntax", schemas.Validate("sale.completed", []byte(`{`)), 400},
		{"unavailable", fmt.Errorf("produce: %w", events.ErrUnavailable), 503},
		{"catalog", fmt.Errorf("x: %w", catalog.ErrNotFound), 404},
		{"not found", ErrNotFound, 404},
		{"other", errors.New("disk on fire"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ProblemFor(tt.err)
			if p.Status != tt.status {
				t.Fatalf("status %d, want %d (%+v)", p.Status, tt.status, p)
			}
			if tt.status == 500 && strings.Contains(p.Detail, "fire") {
				t.Fatal("internal error details leaked")
			}
		})
	}
	if p := ProblemFor(verr); len(p.Errors) == 0 || p.Errors[0].Field == "" {
		t.Fatalf("schema errors not listed: %+v", p)
	}
	rec := httptest.NewRecorder()
	WriteProblem(rec, ProblemFor(events.ErrUnavailable))
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestRecover(t *testing.T) {
	var logged bytes.Buffer
	h := Recover(slog.New(slog.NewTextHandler(&logged, nil)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 500 || !strings.Contains(logged.String(), "boom") {
		t.Fatalf("status %d, log %q", rec.Code, logged.String())
	}
}

func TestHealth(t *testing.T) {
	h := Health{CheckTimeout: 200 * time.Millisecond}
	var healthy atomic.Bool
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h.AddCheck("postgres", func(context.Context) error { return nil })
	h.AddCheck("consumer", FlagCheck(healthy.Load, "not assigned yet"))
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(Log(slog.Default(), mux))
	t.Cleanup(srv.Close)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "not assigned yet") ||
		!strings.Contains(body, `"consumer"`) || !strings.Contains(body, `"postgres":"ok"`) {
		t.Errorf("/readyz while not ready: %d %s", code, body)
	}
	healthy.Store(true)
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"consumer":"ok"`) || !strings.Contains(body, `"postgres":"ok"`) {
		t.Errorf("/readyz when ready: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d", code)
	}

	// A check that ignores its context (a frozen dependency behind a blocking call) does not
	// hold the answer: it is reported as not answering within the check timeout.
	h.AddCheck("broker", func(context.Context) error { <-release; return nil })
	start := time.Now()
	code, body := get("/readyz")
	if code != 503 || !strings.Contains(body, `"broker":"no answer within 200ms"`) || !strings.Contains(body, `"consumer":"ok"`) {
		t.Errorf("/readyz with a hung check: %d %s", code, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("/readyz with a hung check took %s", took)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"sale_id":"a","lines":[{"sku":"x","qty":1}]}`))
	f.Add([]byte(`{"lines":[{"qty":"1"}]}`))
	f.Add([]byte(`{"x":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var s sale
		err := Decode(body, &s)
		if err == nil {
			return
		}
		var fe *FieldErrors
		if !errors.Is(err, ErrMalformed) && !errors.As(err, &fe) {
			t.Fatalf("Decode error of unexpected kind: %v", err)
		}
		if p := ProblemFor(err); p.Status != 400 && p.Status != 422 {
			t.Fatalf("bad body mapped to %d", p.Status)
		}
	})
}
