package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/scripts/run"
)

const smokeTopic = "e2e-smoke"

func TestMakeRunStartsServesStopsAndKeepsData(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAll(t, root)
	data := openTempDir(t)
	base := freePortBase(t)
	cfg, err := run.ConfigFromEnv(func(k string) string {
		return map[string]string{"FRESHMART_PORT_BASE": strconv.Itoa(base), "FRESHMART_DATA_DIR": data, "FRESHMART_BIN_DIR": bin}[k]
	}, root)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"FRESHMART_PORT_BASE=" + strconv.Itoa(base),
		"FRESHMART_DATA_DIR=" + data,
		"FRESHMART_BIN_DIR=" + bin,
		"FRESHMART_STOP_TIMEOUT=10s",
		"LOG_LEVEL=info",
		"NO_COLOR=1",
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DATABASE_URL", "KAFKA_BROKERS", "FRESHMART_SKIP", "FRESHMART_HOST":
			// The test wants the local Postgres and the bundled broker on its own ports.
		default:
			env = append(env, kv)
		}
	}
	t.Cleanup(func() { stopLeftoverPostgres(t, data) })

	// First run: everything comes up; leave data in the broker and in Postgres.
	r1 := startRun(t, root, env)
	r1.waitFor(t, "FreshMart is running", 5*time.Minute)
	services := checkServing(t, cfg, bin, r1)
	if len(services) == 0 {
		t.Error("no service binary was built; expected at least pos and inventory")
	}
	// A service that dies is restarted.
	if slices.Contains(services, "pos") {
		pid := pidOf(t, filepath.Join(bin, "pos"))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill pos: %v", err)
		}
		r1.waitFor(t, "killed by signal 9 (killed)", time.Minute)
		r1.waitFor(t, "restarting in 1s", time.Minute)
		waitOK(t, cfg.URL("pos")+"/healthz")
		if again := pidOf(t, filepath.Join(bin, "pos")); again == pid {
			t.Errorf("pos has the same pid %d after SIGKILL", pid)
		}
	}
	dbURL := postgresURL(t, data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	produceMarker(t, ctx, cfg.Addr("broker"))
	withDB(t, ctx, dbURL, func(conn *pgx.Conn) {
		if _, err := conn.Exec(ctx, "CREATE TABLE e2e_marker (v text); INSERT INTO e2e_marker VALUES ('kept')"); err != nil {
			t.Fatalf("write marker: %v", err)
		}
	})
	r1.interrupt(t)
	checkStopped(t, cfg, dbURL, r1)

	// Second run on the same data directory: the same cluster, port and data.
	r2 := startRun(t, root, env)
	r2.waitFor(t, "FreshMart is running", 5*time.Minute)
	if !strings.Contains(r2.out.String(), "reusing the cluster in") {
		t.Errorf("second run did not reuse the Postgres cluster:\n%s", r2.out.String())
	}
	if got := postgresURL(t, data); got != dbURL {
		t.Errorf("second run's Postgres at %s, first at %s", got, dbURL)
	}
	checkServing(t, cfg, bin, r2)
	withDB(t, ctx, dbURL, func(conn *pgx.Conn) {
		var v string
		if err := conn.QueryRow(ctx, "SELECT v FROM e2e_marker").Scan(&v); err != nil || v != "kept" {
			t.Errorf("Postgres marker after restart = %q, %v; want kept", v, err)
		}
	})
	if got := consumeMarker(t, ctx, cfg.Addr("broker")); got != "survives" {
		t.Errorf("broker record after restart = %q, want survives", got)
	}
	r2.interrupt(t)
	checkStopped(t, cfg, dbURL, r2)
}

// buildAll builds every main package the Makefile builds into a temporary bin directory.
func buildAll(t *testing.T, root string) string {
	t.Helper()
	bin := t.TempDir()
	args := []string{"build", "-o", bin + "/"}
	for _, dir := range []string{"broker/cmd", "services/cmd", "web/cmd", "scripts/cmd"} {
		if _, err := os.Stat(filepath.Join(root, dir)); err == nil {
			args = append(args, "./"+dir+"/...")
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, b := range []string{"freshmart-run", run.BrokerBinary} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("build did not produce %s: %v", b, err)
		}
	}
	return bin
}

// runProc is one `scripts/run.sh` with its combined output.
type runProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startRun(t *testing.T, root string, env []string) *runProc {
	t.Helper()
	r := &runProc{out: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command("bash", "scripts/run.sh")
	r.cmd.Dir = root
	r.cmd.Env = env
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start scripts/run.sh: %v", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			// The test failed midway: kill the supervisor; its children get SIGTERM.
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
		if t.Failed() {
			t.Logf("make run output:\n%s", r.out.String())
		}
	})
	return r
}

// waitFor waits until the output contains s; it fails if the run exits first.
func (r *runProc) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.out.String(), s) {
		select {
		case <-r.done:
			t.Fatalf("make run exited (%v) before printing %q", r.err, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run did not print %q within %s", s, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// interrupt sends SIGINT (what Ctrl-C sends) and waits for a clean exit.
func (r *runProc) interrupt(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	select {
	case <-r.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("make run did not exit within 3 minutes of SIGINT")
	}
	if r.err != nil {
		t.Errorf("make run exited with %v after SIGINT, want status 0", r.err)
	}
	if !strings.Contains(r.out.String(), "[run]") || !strings.Contains(r.out.String(), "all stopped") {
		t.Errorf("no clean-stop message in the output")
	}
}

// checkServing checks the broker's HTTP endpoints and every started service's /healthz; it
// returns the names of the services checked.
func checkServing(t *testing.T, cfg run.Config, bin string, r *runProc) []string {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		waitOK(t, cfg.URL("broker-http")+path)
	}
	var checked []string
	for _, s := range run.Services {
		if _, err := os.Stat(filepath.Join(bin, s.Name)); err != nil {
			if !strings.Contains(r.out.String(), "skipping "+s.Name+":") {
				t.Errorf("%s is not built but the run did not say it skipped it", s.Name)
			}
			continue
		}
		if s.Port == 0 {
			continue
		}
		waitOK(t, cfg.URL(s.Name)+"/healthz")
		if !strings.Contains(r.out.String(), "["+s.Name+"]") {
			t.Errorf("no line prefixed [%s] in the output", s.Name)
		}
		checked = append(checked, s.Name)
	}
	return checked
}

// checkStopped checks that nothing answers any more after a stop.
func checkStopped(t *testing.T, cfg run.Config, dbURL string, r *runProc) {
	t.Helper()
	for _, name := range []string{"broker", "broker-http", "pos", "inventory", "complaints", "web"} {
		if c, err := net.DialTimeout("tcp", cfg.Addr(name), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening on %s after the stop", name, cfg.Addr(name))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		conn.Close(ctx)
		t.Error("Postgres still accepts connections after the stop")
	}
	if !strings.Contains(r.out.String(), "[postgres]   stopped") {
		t.Error("no Postgres stop in the output")
	}
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Errorf("GET %s: %v", url, err)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func produceMarker(t *testing.T, ctx context.Context, broker string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, smokeTopic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create topic on the bundled broker: %v", err)
	}
	if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create topic on the bundled broker: %v", resp.Err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: smokeTopic, Value: []byte("survives")}).FirstErr(); err != nil {
		t.Fatalf("produce to the bundled broker: %v", err)
	}
}

func consumeMarker(t *testing.T, ctx context.Context, broker string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(smokeTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		for _, r := range fs.Records() {
			return string(r.Value)
		}
	}
	t.Errorf("no record read back from %s: %v", smokeTopic, ctx.Err())
	return ""
}

// postgresURL reads the local cluster's port from the data directory, as the run left it.
func postgresURL(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "postgres.json"))
	if err != nil {
		t.Fatalf("postgres state: %v", err)
	}
	var st struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Port == 0 {
		t.Fatalf("postgres state %s: %v", b, err)
	}
	return fmt.Sprintf("postgres://freshmart@127.0.0.1:%d/freshmart?sslmode=disable", st.Port)
}

func withDB(t *testing.T, ctx context.Context, url string, f func(*pgx.Conn)) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer conn.Close(ctx)
	f(conn)
}

// freePortBase finds a base port with the ten ports after it free, so the platform runs beside
// a developer's `make run` and beside other tests. It stays below Linux's ephemeral range
// (32768 and up), where tests listening on port 0 could take a port between check and use.
func freePortBase(t *testing.T) int {
	t.Helper()
	for range 200 {
		base := 20000 + 10*rand.IntN(1270)
		free := true
		for i := range 10 {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free range of ten ports found")
	return 0
}

// openTempDir returns a temporary directory every user can search, so the postgres system user
// can reach the cluster in it when the test runs as root.
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "freshmart-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// syncBuffer collects output written from several goroutines.
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

// pidOf returns the pid of the one running process whose executable is path.
func pidOf(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pids []int
		entries, err := os.ReadDir("/proc")
		if err != nil {
			t.Fatalf("list processes: %v", err)
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && exe == path {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 1 {
			return pids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("want one process running %s, found %v", path, pids)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopLeftoverPostgres stops the local cluster of a run that did not stop it (a failed test).
func stopLeftoverPostgres(t *testing.T, data string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run.StopPostgresAt(ctx, data); err != nil {
		t.Logf("cleanup: %v", err)
	}
}
