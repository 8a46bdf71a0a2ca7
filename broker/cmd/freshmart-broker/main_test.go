package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config) bool
		wantErr bool
	}{
		{name: "defaults", check: func(c config) bool {
			return c.listen == "127.0.0.1:9092" && c.httpAddr == "127.0.0.1:9644" && c.dataDir == "./data/broker" &&
				c.durability == "fsync" && !c.autoCreate && c.maxFrameBytes == 100<<20 && c.topicsFile == "" && c.logLevel == "info" && c.retentionCheck == 30*time.Second
		}},
		{name: "retention check interval from env", env: map[string]string{"BROKER_RETENTION_CHECK_INTERVAL": "500ms"},
			check: func(c config) bool { return c.retentionCheck == 500*time.Millisecond }},
		{name: "retention check interval flag beats env", args: []string{"--retention-check-interval", "2s"}, env: map[string]string{"BROKER_RETENTION_CHECK_INTERVAL": "500ms"},
			check: func(c config) bool { return c.retentionCheck == 2*time.Second }},
		{name: "zero retention check interval", args: []string{"--retention-check-interval", "0s"}, wantErr: true},
		{name: "bad retention check interval env", env: map[string]string{"BROKER_RETENTION_CHECK_INTERVAL": "soon"}, wantErr: true},
		{name: "env", env: map[string]string{"BROKER_LISTEN": "127.0.0.1:0", "BROKER_DURABILITY": "none", "BROKER_AUTO_CREATE_TOPICS": "true", "BROKER_MAX_FRAME_BYTES": "1024"},
			check: func(c config) bool {
				return c.listen == "127.0.0.1:0" && c.durability == "none" && c.autoCreate && c.maxFrameBytes == 1024
			}},
		{name: "flag beats env", args: []string{"--listen", "127.0.0.1:1", "--auto-create-topics=false"}, env: map[string]string{"BROKER_LISTEN": "127.0.0.1:2", "BROKER_AUTO_CREATE_TOPICS": "1"},
			check: func(c config) bool { return c.listen == "127.0.0.1:1" && !c.autoCreate }},
		{name: "bad bool env", env: map[string]string{"BROKER_AUTO_CREATE_TOPICS": "maybe"}, wantErr: true},
		{name: "bad frame size", args: []string{"--max-frame-bytes", "-1"}, wantErr: true},
		{name: "stray argument", args: []string{"serve"}, wantErr: true},
		{name: "empty data dir", args: []string{"--data-dir", ""}, wantErr: true},
		{name: "security defaults", check: func(c config) bool {
			return c.allowEveryoneIfNoACL && c.listenSASL == "" && c.listenSSL == "" && c.listenSASLSSL == "" && c.tlsClientAuth == "optional" && c.saslMaxReauth == 0
		}},
		{name: "security flags", args: []string{"--listen-sasl-ssl", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--super-users", "User:admin", "--allow-everyone-if-no-acl=false", "--sasl-max-reauth", "1h"},
			check: func(c config) bool {
				return c.listenSASLSSL == "127.0.0.1:0" && c.tlsCert == "c.pem" && c.superUsers == "User:admin" && !c.allowEveryoneIfNoACL && c.saslMaxReauth == time.Hour
			}},
		{name: "security env", env: map[string]string{"BROKER_LISTEN_SASL": "127.0.0.1:0", "BROKER_ALLOW_EVERYONE_IF_NO_ACL": "false"},
			check: func(c config) bool { return c.listenSASL == "127.0.0.1:0" && !c.allowEveryoneIfNoACL }},
		{name: "ssl without cert", args: []string{"--listen-ssl", "127.0.0.1:0"}, wantErr: true},
		{name: "required client cert without CA", args: []string{"--tls-client-auth", "required"}, wantErr: true},
		{name: "bad client auth", args: []string{"--tls-client-auth", "sometimes"}, wantErr: true},
		{name: "bad allow-everyone env", env: map[string]string{"BROKER_ALLOW_EVERYONE_IF_NO_ACL": "perhaps"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error for %v %v", tc.args, tc.env)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// syncBuffer is a log sink safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs the broker in-process and returns its Kafka and HTTP
// addresses from the log, and a stop function returning run's error.
func startRun(t *testing.T, dir string) (kafka, httpAddr string, stop func() error) {
	t.Helper()
	cfg, err := parseFlags([]string{"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", dir, "--durability", "fsync"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, log) }()
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	httpRe := regexp.MustCompile(`http=(\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			kafka = m[1]
			httpAddr = httpRe.FindStringSubmatch(logs.String())[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before listening: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in 60s:\n%s", logs.String())
		}
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return kafka, httpAddr, stop
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunServesAndRestarts starts the broker as main does, checks the
// FreshMart topics, the HTTP endpoints and a produce, stops it the way a
// signal does and starts it again on the same directory.
func TestRunServesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	kafka, httpAddr, stop := startRun(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("pos-sales"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("store-1"), Value: []byte(`{"sale":1}`)}).First()
	if err != nil {
		t.Fatalf("produce to pos-sales: %v", err)
	}
	cl.Close()

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := httpGet(t, "http://"+httpAddr+path); code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
	}
	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	for _, want := range []string{`broker_requests_total{api="Produce"`, `broker_records_appended_total{topic="pos-sales"} 1`, "go_goroutines", "broker_partition_high_watermark", "broker_store_fsyncs_total"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %s", code, want)
		}
	}
	id1, err := os.ReadFile(filepath.Join(dir, "cluster.id"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run after stop: %v", err)
	}

	kafka, _, _ = startRun(t, dir)
	cl, err = kgo.NewClient(kgo.SeedBrokers(kafka),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"pos-sales": {res.Partition: kgo.NewOffset().At(res.Offset)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != `{"sale":1}` {
		t.Fatalf("after restart: %v", recs)
	}
	id2, _ := os.ReadFile(filepath.Join(dir, "cluster.id"))
	if string(id1) != string(id2) || len(bytes.TrimSpace(id1)) == 0 {
		t.Fatalf("cluster id changed across restart: %q -> %q", id1, id2)
	}
}

func TestUsersCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{"no subcommand", nil, "", 2},
		{"unknown", []string{"rename"}, "", 2},
		{"add without name", []string{"add", "--data-dir", dir}, "pw\n", 2},
		{"add empty password", []string{"add", "--data-dir", dir, "u"}, "\n", 2},
		{"add few iterations", []string{"add", "--data-dir", dir, "--iterations", "10", "u"}, "pw\n", 2},
		{"add", []string{"add", "--data-dir", dir, "u"}, "pw\n", 0},
		{"remove missing", []string{"remove", "--data-dir", dir, "nobody"}, "", 2},
		{"remove", []string{"remove", "--data-dir", dir, "u"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := usersMain(tc.args, strings.NewReader(tc.stdin), &out, &errb, func(string) string { return "" }); code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
		})
	}
}
