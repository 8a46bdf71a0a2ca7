package kit

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAndOverrides(t *testing.T) {
	e := Map(map[string]string{"KAFKA_BROKERS": " a:1, b:2 ,", "N": "7", "D": "250ms", "BAD_N": "x", "BAD_D": "5"})
	if got := e.Brokers(); len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("Brokers = %q", got)
	}
	if got := e.String("HTTP_ADDR", "127.0.0.1:8081"); got != "127.0.0.1:8081" {
		t.Errorf("HTTP_ADDR default = %q", got)
	}
	if n, err := e.Int("N", 1); n != 7 || err != nil {
		t.Errorf("Int = %d, %v", n, err)
	}
	if n, err := e.Int("MISSING", 3); n != 3 || err != nil {
		t.Errorf("Int default = %d, %v", n, err)
	}
	if _, err := e.Int("BAD_N", 1); err == nil || !strings.Contains(err.Error(), "BAD_N") {
		t.Errorf("Int bad = %v", err)
	}
	if d, err := e.Duration("D", time.Second); d != 250*time.Millisecond || err != nil {
		t.Errorf("Duration = %v, %v", d, err)
	}
	if _, err := e.Duration("BAD_D", time.Second); err == nil || !strings.Contains(err.Error(), "BAD_D") {
		t.Errorf("Duration bad = %v", err)
	}
	if _, err := e.Required("DATABASE_URL"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("DatabaseURL unset = %v", err)
	}
}

func TestBrokersDefault(t *testing.T) {
	if got := Map(nil).Brokers(); len(got) != 1 || got[0] != DefaultBrokers {
		t.Errorf("Brokers = %q", got)
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"text default", map[string]string{}, "service=pos", false},
		{"json", map[string]string{"LOG_FORMAT": "json"}, `"service":"pos"`, false},
		{"debug hidden at info", map[string]string{"LOG_LEVEL": "warn"}, "", false},
		{"bad level", map[string]string{"LOG_LEVEL": "loud"}, "", true},
		{"bad format", map[string]string{"LOG_FORMAT": "xml"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := Map(tt.env).Logger("pos", &buf)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Logger err = %v", err)
			}
			if err != nil {
				return
			}
			log.Info("hello")
			if !strings.Contains(buf.String(), tt.want) || (tt.want == "") != (buf.Len() == 0) {
				t.Fatalf("logged %q, want it to contain %q", buf.String(), tt.want)
			}
		})
	}
}
