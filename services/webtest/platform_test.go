package webtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/loopback"
)

// The binaries the platform test runs, by package, built once per test binary.
var binaries = map[string]string{
	"freshmart-broker": "./broker/cmd/freshmart-broker",
	"pos":              "./services/cmd/pos",
	"inventory":        "./services/cmd/inventory",
	"complaints":       "./services/cmd/complaints",
	"analytics":        "./services/cmd/analytics",
	"reorder":          "./services/cmd/reorder",
	"pricing":          "./services/cmd/pricing",
	"loyalty":          "./services/cmd/loyalty",
	"web":              "./web/cmd/web",
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// workspaceRoot returns the directory holding go.work.
func workspaceRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("webtest: go.work not found above the test directory")
		}
		dir = parent
	}
}

// build compiles the platform's binaries into a directory shared by the tests of this binary.
func build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "freshmart-webtest-bin-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + string(filepath.Separator)}
		for _, pkg := range binaries {
			args = append(args, pkg)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = workspaceRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("webtest: %v", buildErr)
	}
	return binDir
}

// freeAddr returns a loopback address with a port that was free a moment ago and that no
// other process of this test binary was given.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// process is a platform binary running as a child process.
type process struct {
	name string
	env  []string
	args []string
	cmd  *exec.Cmd
	log  string // path of its combined output
	done chan struct{}
}

// start runs bin with env added to the test's environment; the process is stopped (SIGTERM,
// then SIGKILL after 15 s) when the test ends, and its log is printed if the test failed.
func start(t *testing.T, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, env: env, args: args, log: filepath.Join(t.TempDir(), name+".log")}
	p.run(t)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("--- %s log (last 4 KiB) ---\n%s", name, tail(b, 4096))
		}
	})
	return p
}

// run starts the process, appending to its log.
func (p *process) run(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(build(t), p.name), p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
}

// stop sends SIGTERM and waits for the process to exit, killing it after 15 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// restart stops the process and starts it again with the same arguments.
func (p *process) restart(t *testing.T) {
	t.Helper()
	p.stop()
	p.run(t)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitHTTP waits up to a minute for url to answer 200.
func waitHTTP(t *testing.T, p *process, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited while starting:\n%s", p.name, tail(b, 4096))
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s did not answer 200 within a minute (last: %s)", p.name, url, last)
}

// spikeWindow is the complaints service's COMPLAINT_SPIKE_WINDOW in these tests (30m in
// production), so that a spike resolves within a test's patience. It is the shortest window
// the service can emit alerts with: the spike events carry the window in whole minutes
// (window_minutes, at least 1 by the schema), and with a shorter one the service accepts the
// setting but its consumer stops at the first spike, unable to produce it.
const spikeWindow = time.Minute

// platform is a running broker, POS, inventory, complaints and analytics services and
// dashboard.
type platform struct {
	Broker, BrokerHTTP, POS, Inventory, Complaints, Analytics, Web string // addresses (Broker) and base URLs
	Reorder                                                        string // the reorder service's base URL
	Pricing                                                        string // the pricing service's (and signs hub's) base URL
	Loyalty                                                        string // the loyalty service's base URL
	DSN                                                            string // their Postgres database
	MailDir                                                        string // where reorder spools vendor emails

	brokerProc, webProc *process
}

// startPlatform starts our broker, the POS, inventory, complaints (with a spike window of
// spikeWindow), analytics, reorder (orders grouped for 2 s), pricing and loyalty services and the dashboard, each as its own process on free
// ports, against the Postgres database dsn.
func startPlatform(t *testing.T, dsn string) platform {
	t.Helper()
	dir := t.TempDir()
	topics := filepath.Join(workspaceRoot(t), "broker", "topics.json") // the definitions the broker ships with
	brokerAddr, brokerHTTP := freeAddr(t), freeAddr(t)
	b := start(t, "freshmart-broker", nil, "--listen", brokerAddr, "--http", brokerHTTP,
		"--data-dir", filepath.Join(dir, "broker"), "--topics", topics)
	waitHTTP(t, b, "http://"+brokerHTTP+"/readyz")

	p := platform{Broker: brokerAddr, BrokerHTTP: "http://" + brokerHTTP,
		POS: "http://" + freeAddr(t), Inventory: "http://" + freeAddr(t), Complaints: "http://" + freeAddr(t),
		Analytics: "http://" + freeAddr(t), Web: "http://" + freeAddr(t), Reorder: "http://" + freeAddr(t), Pricing: "http://" + freeAddr(t), Loyalty: "http://" + freeAddr(t), DSN: dsn,
		MailDir: filepath.Join(dir, "mail")}
	common := []string{"KAFKA_BROKERS=" + p.Broker, "DATABASE_URL=" + dsn, "LOG_LEVEL=info",
		"POS_URL=" + p.POS, "INVENTORY_URL=" + p.Inventory, "COMPLAINTS_URL=" + p.Complaints, "ANALYTICS_URL=" + p.Analytics,
		"BROKER_HTTP_URL=" + p.BrokerHTTP, "REORDER_URL=" + p.Reorder, "PRICING_URL=" + p.Pricing, "LOYALTY_URL=" + p.Loyalty}
	pos := start(t, "pos", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.POS, "http://")))
	inv := start(t, "inventory", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Inventory, "http://")))
	comp := start(t, "complaints", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Complaints, "http://"),
		"COMPLAINT_SPIKE_WINDOW="+spikeWindow.String()))
	ana := start(t, "analytics", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Analytics, "http://")))
	// Orders are grouped for 2 s, so a test sees its order's email without waiting 5 minutes.
	ro := start(t, "reorder", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Reorder, "http://"),
		"REORDER_GROUP_WINDOW=2s", "REORDER_SPOOL_DIR="+p.MailDir))
	pri := start(t, "pricing", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Pricing, "http://")))
	loy := start(t, "loyalty", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Loyalty, "http://")))
	web := start(t, "web", append(common, "HTTP_ADDR="+strings.TrimPrefix(p.Web, "http://")))
	waitHTTP(t, pos, p.POS+"/healthz")
	waitHTTP(t, inv, p.Inventory+"/readyz")
	waitHTTP(t, comp, p.Complaints+"/readyz")
	waitHTTP(t, ana, p.Analytics+"/readyz")
	waitHTTP(t, ro, p.Reorder+"/readyz")
	waitHTTP(t, pri, p.Pricing+"/readyz")
	waitHTTP(t, loy, p.Loyalty+"/readyz")
	waitHTTP(t, web, p.Web+"/readyz")
	p.brokerProc, p.webProc = b, web
	return p
}

// etl runs `analytics etl args...` against the platform's database, as an operator would, and
// returns what it printed; a failure fails the test.
func (p platform) etl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(build(t), "analytics"), append([]string{"etl"}, args...)...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+p.DSN, "KAFKA_BROKERS="+p.Broker, "LOG_LEVEL=warn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("analytics etl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// context returns a context cancelled when the test ends.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
