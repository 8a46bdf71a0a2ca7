package brokerproc

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartKillRestartStop runs the FreshMart broker through a crash: it listens and logs,
// comes back on the same address after Kill and Restart, and stops cleanly, twice.
func TestStartKillRestartStop(t *testing.T) {
	b, err := Start("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() }) //nolint:errcheck // stopped below; this is for a failure
	if !strings.Contains(b.Log(), "msg=listening") {
		t.Fatalf("no listening line in the log:\n%s", b.Log())
	}
	addr := b.Addr
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Kill", addr)
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if b.Addr != addr {
		t.Fatalf("restarted on %s, want %s", b.Addr, addr)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("stopping a stopped broker: %v", err)
	}
}

func TestStartUnknownKind(t *testing.T) {
	if _, err := Start("redpanda", t.TempDir()); err == nil || !strings.Contains(err.Error(), "want freshmart or kfake") {
		t.Fatalf("Start(redpanda): %v", err)
	}
}

func TestField(t *testing.T) {
	tests := []struct {
		name, line, key, want string
	}{
		{"plain", `time=x level=INFO msg=listening addr=127.0.0.1:9092 advertised=h:9092`, "addr", "127.0.0.1:9092"},
		{"quoted", `msg=listening addr="[::1]:9092"`, "addr", "[::1]:9092"},
		{"prefix of another key", `msg=listening address=x addr=y`, "addr", "y"},
		{"missing", `msg=listening`, "addr", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := field(tt.line, tt.key); got != tt.want {
				t.Errorf("field(%q, %q) = %q, want %q", tt.line, tt.key, got, tt.want)
			}
		})
	}
}
