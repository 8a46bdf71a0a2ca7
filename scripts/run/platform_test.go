package run

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunFailsEarlyWithAdvice checks the failures that must stop a run before anything starts,
// each with a message that says what to do.
func TestRunFailsEarlyWithAdvice(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	withBroker := t.TempDir()
	if err := os.WriteFile(filepath.Join(withBroker, BrokerBinary), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		binDir string
		base   int
		want   []string
	}{
		{"broker not built", t.TempDir(), 20000, []string{BrokerBinary + " is missing", "make build"}},
		{"port taken", withBroker, takenPort - portOffsets["broker"], []string{"cannot listen on 127.0.0.1:" + strconv.Itoa(takenPort), "FRESHMART_PORT_BASE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			cfg, err := ConfigFromEnv(func(k string) string {
				return map[string]string{
					"FRESHMART_BIN_DIR": tt.binDir, "FRESHMART_DATA_DIR": dataDir,
					"FRESHMART_PORT_BASE": strconv.Itoa(tt.base),
				}[k]
			}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var buf syncBuffer
			err = New(cfg, NewOutput(&buf, false, 8), nil).Run(context.Background())
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("data dir created before the checks passed (stat: %v)", err)
			}
			if strings.Contains(buf.String(), "[postgres]") {
				t.Errorf("Postgres was touched:\n%s", buf.String())
			}
		})
	}
}
