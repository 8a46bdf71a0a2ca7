package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshmart/platform/scripts/run"
)

// TestMakeRunAgainstAnExternalKafka runs the platform with KAFKA_BROKERS pointing at a broker
// that has no topics (standing in for a fresh Kafka cluster): the bundled broker is not started,
// the FreshMart topics are created there, and the services come up against it.
func TestMakeRunAgainstAnExternalKafka(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAll(t, root)
	noTopics := filepath.Join(t.TempDir(), "none.json")
	if err := os.WriteFile(noTopics, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	kafka := startBroker(t, filepath.Join(bin, run.BrokerBinary), noTopics)

	data := openTempDir(t)
	base := freePortBase(t)
	cfg, err := run.ConfigFromEnv(func(k string) string {
		return map[string]string{"FRESHMART_PORT_BASE": strconv.Itoa(base), "KAFKA_BROKERS": kafka}[k]
	}, root)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"FRESHMART_PORT_BASE=" + strconv.Itoa(base),
		"FRESHMART_DATA_DIR=" + data,
		"FRESHMART_BIN_DIR=" + bin,
		"FRESHMART_STOP_TIMEOUT=10s",
		"FRESHMART_SKIP=simulator",
		"KAFKA_BROKERS=" + kafka,
		"NO_COLOR=1",
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "FRESHMART_") && k != "DATABASE_URL" && k != "KAFKA_BROKERS" {
			env = append(env, kv)
		}
	}
	t.Cleanup(func() { stopLeftoverPostgres(t, data) })

	r := startRun(t, root, env)
	r.waitFor(t, "FreshMart is running", 5*time.Minute)
	out := r.out.String()
	for _, want := range []string{"using KAFKA_BROKERS " + kafka, "created topic pos-sales (12 partitions)",
		"created topic daily-sales-report (1 partitions)", "Kafka (external)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "[broker]") {
		t.Error("the bundled broker was started although KAFKA_BROKERS is set")
	}
	for _, s := range run.Services {
		if s.Port == 0 || cfg.Skipped(s.Name) {
			continue
		}
		if _, err := os.Stat(filepath.Join(bin, s.Name)); err == nil {
			waitOK(t, cfg.URL(s.Name)+"/healthz")
		}
	}
	r.interrupt(t)
}
