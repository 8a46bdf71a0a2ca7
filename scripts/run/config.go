package run

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Service is one platform process started after the broker, by binary name.
type Service struct {
	Name string // binary name in the bin directory, and the log prefix
	Port int    // documented HTTP port; 0 for a process without an HTTP server
	URL  string // name of the variable every process gets with this service's base URL ("" for none)
}

// Services is the one list of platform processes `make run` starts, in start order (stopped in
// reverse). A binary that is not built yet is skipped with a notice. Processes without an HTTP
// port start after every HTTP service has answered /healthz.
var Services = []Service{
	{Name: "pos", Port: 8081, URL: "POS_URL"},
	{Name: "inventory", Port: 8082, URL: "INVENTORY_URL"},
	{Name: "complaints", Port: 8083, URL: "COMPLAINTS_URL"},
	{Name: "pricing", Port: 8084, URL: "PRICING_URL"},
	{Name: "analytics", Port: 8085, URL: "ANALYTICS_URL"},
	{Name: "loyalty", Port: 8086, URL: "LOYALTY_URL"},
	{Name: "reorder", Port: 8087, URL: "REORDER_URL"},
	{Name: "web", Port: 8080, URL: "WEB_URL"},
	{Name: "simulator"},
}

// Documented ports of the bundled broker.
const (
	BrokerPort     = 9092 // Kafka protocol
	BrokerHTTPPort = 9644 // health and metrics
)

// portOffsets places every port at FRESHMART_PORT_BASE + offset when a base is set.
var portOffsets = map[string]int{
	"web": 0, "pos": 1, "inventory": 2, "complaints": 3, "pricing": 4, "analytics": 5,
	"loyalty": 6, "reorder": 7, "broker": 8, "broker-http": 9,
}

// Config is what the supervisor needs to know, read from the environment by ConfigFromEnv.
type Config struct {
	Root         string        // repository root (default: the working directory)
	DataDir      string        // FRESHMART_DATA_DIR (default Root/.data): Postgres cluster, broker data
	BinDir       string        // FRESHMART_BIN_DIR (default Root/bin): where `make build` put the binaries
	Host         string        // FRESHMART_HOST (default 127.0.0.1): the IP address every port binds to
	PortBase     int           // FRESHMART_PORT_BASE (default 0: the documented ports); see Port
	LogLevel     string        // LOG_LEVEL (default info), passed to every process
	DatabaseURL  string        // DATABASE_URL: use this database instead of a local cluster
	KafkaBrokers string        // KAFKA_BROKERS: use this Kafka cluster instead of the bundled broker
	Skip         []string      // FRESHMART_SKIP: comma-separated service names not to start
	StopTimeout  time.Duration // FRESHMART_STOP_TIMEOUT (default 15s): SIGTERM to SIGKILL
	Backoff      Backoff       // restart policy (DefaultBackoff)
}

// ConfigFromEnv reads the Config from getenv (os.Getenv in main), with root as the default root.
func ConfigFromEnv(getenv func(string) string, root string) (Config, error) {
	c := Config{
		Root:         root,
		Host:         "127.0.0.1",
		LogLevel:     "info",
		DatabaseURL:  getenv("DATABASE_URL"),
		KafkaBrokers: getenv("KAFKA_BROKERS"),
		StopTimeout:  15 * time.Second,
		Backoff:      DefaultBackoff,
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return c, fmt.Errorf("root %q: %w", root, err)
	}
	c.Root = abs
	c.DataDir = filepath.Join(c.Root, ".data")
	c.BinDir = filepath.Join(c.Root, "bin")
	if v := getenv("FRESHMART_DATA_DIR"); v != "" {
		if c.DataDir, err = filepath.Abs(v); err != nil {
			return c, fmt.Errorf("FRESHMART_DATA_DIR %q: %w", v, err)
		}
	}
	if v := getenv("FRESHMART_BIN_DIR"); v != "" {
		if c.BinDir, err = filepath.Abs(v); err != nil {
			return c, fmt.Errorf("FRESHMART_BIN_DIR %q: %w", v, err)
		}
	}
	if v := getenv("FRESHMART_HOST"); v != "" {
		if net.ParseIP(v) == nil {
			return c, fmt.Errorf("FRESHMART_HOST %q: want an IP address such as 127.0.0.1", v)
		}
		c.Host = v
	}
	if v := getenv("FRESHMART_PORT_BASE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1024 || n > 65535-len(portOffsets) {
			return c, fmt.Errorf("FRESHMART_PORT_BASE %q: want a port number between 1024 and %d", v, 65535-len(portOffsets))
		}
		c.PortBase = n
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		c.LogLevel = v
	}
	if v := getenv("FRESHMART_SKIP"); v != "" {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Skip = append(c.Skip, s)
			}
		}
	}
	if v := getenv("FRESHMART_STOP_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("FRESHMART_STOP_TIMEOUT %q: want a positive duration such as 15s", v)
		}
		c.StopTimeout = d
	}
	return c, nil
}

// Port returns the port of a process by name ("pos", "broker", "broker-http" ...): its documented
// port, or FRESHMART_PORT_BASE plus a fixed offset when a base is set (web +0, pos +1, inventory
// +2, complaints +3, pricing +4, analytics +5, loyalty +6, reorder +7, broker +8, broker-http +9).
// It returns 0 for a process without a port.
func (c Config) Port(name string) int {
	if c.PortBase != 0 {
		if off, ok := portOffsets[name]; ok {
			return c.PortBase + off
		}
		return 0
	}
	switch name {
	case "broker":
		return BrokerPort
	case "broker-http":
		return BrokerHTTPPort
	}
	for _, s := range Services {
		if s.Name == name {
			return s.Port
		}
	}
	return 0
}

// Addr returns host:port of a process by name, or "" for a process without a port.
func (c Config) Addr(name string) string {
	p := c.Port(name)
	if p == 0 {
		return ""
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(p))
}

// URL returns the http:// base URL of a process by name, or "".
func (c Config) URL(name string) string {
	a := c.Addr(name)
	if a == "" {
		return ""
	}
	return "http://" + a
}

// Brokers returns the Kafka bootstrap addresses the services use: KAFKA_BROKERS if set, else
// the bundled broker's address.
func (c Config) Brokers() string {
	if c.KafkaBrokers != "" {
		return c.KafkaBrokers
	}
	return c.Addr("broker")
}

// Skipped reports whether the service name is listed in FRESHMART_SKIP.
func (c Config) Skipped(name string) bool {
	return slices.Contains(c.Skip, name)
}

// ServiceEnv returns the environment of a platform process: base (normally os.Environ()) with
// the platform variables set consistently: KAFKA_BROKERS, DATABASE_URL, LOG_LEVEL,
// BROKER_HTTP_URL, every service's *_URL, and HTTP_ADDR for the named process.
func (c Config) ServiceEnv(base []string, name, databaseURL string) []string {
	set := map[string]string{
		"KAFKA_BROKERS": c.Brokers(),
		"LOG_LEVEL":     c.LogLevel,
	}
	if databaseURL != "" {
		set["DATABASE_URL"] = databaseURL
	}
	if c.KafkaBrokers == "" {
		set["BROKER_HTTP_URL"] = c.URL("broker-http")
	}
	for _, s := range Services {
		if s.URL != "" {
			set[s.URL] = c.URL(s.Name)
		}
	}
	if a := c.Addr(name); a != "" {
		set["HTTP_ADDR"] = a
	}
	return mergeEnv(base, set)
}

// BrokerEnv returns the environment of the bundled broker: base with BROKER_LISTEN, BROKER_HTTP,
// BROKER_DATA_DIR, LOG_LEVEL and BROKER_LOG_LEVEL set.
func (c Config) BrokerEnv(base []string) []string {
	set := map[string]string{
		"BROKER_LISTEN":   c.Addr("broker"),
		"BROKER_HTTP":     c.Addr("broker-http"),
		"BROKER_DATA_DIR": c.BrokerDataDir(),
		"LOG_LEVEL":       c.LogLevel,
	}
	// BROKER_LOG_LEVEL follows LOG_LEVEL unless it is set explicitly.
	if !slices.ContainsFunc(base, func(kv string) bool { return strings.HasPrefix(kv, "BROKER_LOG_LEVEL=") }) {
		set["BROKER_LOG_LEVEL"] = c.LogLevel
	}
	return mergeEnv(base, set)
}

// BrokerDataDir is where the bundled broker keeps its log: DataDir/broker.
func (c Config) BrokerDataDir() string { return filepath.Join(c.DataDir, "broker") }

// mergeEnv returns base with the variables in set replaced or added; the result is sorted as
// base was, with new variables appended in name order.
func mergeEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	seen := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := set[k]; ok {
			if !seen[k] {
				out = append(out, k+"="+v)
				seen[k] = true
			}
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}

// executable reports whether path names an existing regular, executable file.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
