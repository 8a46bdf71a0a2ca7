package run

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name: "defaults are the documented ports under the root",
			env:  map[string]string{},
			check: func(t *testing.T, c Config) {
				want := map[string]string{
					"web": "127.0.0.1:8080", "pos": "127.0.0.1:8081", "inventory": "127.0.0.1:8082",
					"complaints": "127.0.0.1:8083", "pricing": "127.0.0.1:8084", "analytics": "127.0.0.1:8085",
					"loyalty": "127.0.0.1:8086", "reorder": "127.0.0.1:8087",
					"broker": "127.0.0.1:9092", "broker-http": "127.0.0.1:9644", "simulator": "",
				}
				for n, w := range want {
					if got := c.Addr(n); got != w {
						t.Errorf("Addr(%s) = %q, want %q", n, got, w)
					}
				}
				if c.DataDir != "/repo/.data" || c.BinDir != "/repo/bin" {
					t.Errorf("dirs = %s, %s", c.DataDir, c.BinDir)
				}
				if c.Brokers() != "127.0.0.1:9092" || c.LogLevel != "info" || c.StopTimeout != 15*time.Second {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "port base moves every port",
			env:  map[string]string{"FRESHMART_PORT_BASE": "20000", "FRESHMART_DATA_DIR": "/tmp/x", "FRESHMART_BIN_DIR": "/tmp/b"},
			check: func(t *testing.T, c Config) {
				if c.Addr("web") != "127.0.0.1:20000" || c.Addr("pos") != "127.0.0.1:20001" ||
					c.Addr("reorder") != "127.0.0.1:20007" || c.Addr("broker") != "127.0.0.1:20008" ||
					c.Addr("broker-http") != "127.0.0.1:20009" || c.Addr("simulator") != "" {
					t.Errorf("ports not moved: web %s pos %s broker %s", c.Addr("web"), c.Addr("pos"), c.Addr("broker"))
				}
				if c.DataDir != "/tmp/x" || c.BinDir != "/tmp/b" {
					t.Errorf("dirs = %s, %s", c.DataDir, c.BinDir)
				}
			},
		},
		{
			name: "external kafka and database, skip list",
			env: map[string]string{"KAFKA_BROKERS": "k1:9092,k2:9092", "DATABASE_URL": "postgres://u@h/db",
				"FRESHMART_SKIP": "simulator, web", "LOG_LEVEL": "debug", "FRESHMART_STOP_TIMEOUT": "3s"},
			check: func(t *testing.T, c Config) {
				if c.Brokers() != "k1:9092,k2:9092" || c.DatabaseURL != "postgres://u@h/db" || c.LogLevel != "debug" {
					t.Errorf("config = %+v", c)
				}
				if !c.Skipped("simulator") || !c.Skipped("web") || c.Skipped("pos") {
					t.Errorf("skip = %q", c.Skip)
				}
				if c.StopTimeout != 3*time.Second {
					t.Errorf("stop timeout = %s", c.StopTimeout)
				}
			},
		},
		{name: "bad port base", env: map[string]string{"FRESHMART_PORT_BASE": "80"}, wantErr: "FRESHMART_PORT_BASE"},
		{name: "port base not a number", env: map[string]string{"FRESHMART_PORT_BASE": "x"}, wantErr: "FRESHMART_PORT_BASE"},
		{name: "host not an IP address", env: map[string]string{"FRESHMART_HOST": "localhost; rm"}, wantErr: "FRESHMART_HOST"},
		{name: "bad stop timeout", env: map[string]string{"FRESHMART_STOP_TIMEOUT": "-1s"}, wantErr: "FRESHMART_STOP_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(envOf(tt.env), "/repo")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestServiceEnvIsConsistent(t *testing.T) {
	c, err := ConfigFromEnv(envOf(map[string]string{"FRESHMART_PORT_BASE": "30000"}), "/repo")
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=/bin", "HTTP_ADDR=127.0.0.1:1", "KAFKA_BROKERS=elsewhere:1", "HTTP_ADDR=dup"}
	env := c.ServiceEnv(base, "inventory", "postgres://db")
	got := map[string][]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = append(got[k], v)
	}
	want := map[string]string{
		"PATH": "/bin", "HTTP_ADDR": "127.0.0.1:30002", "KAFKA_BROKERS": "127.0.0.1:30008",
		"DATABASE_URL": "postgres://db", "LOG_LEVEL": "info", "BROKER_HTTP_URL": "http://127.0.0.1:30009",
		"POS_URL": "http://127.0.0.1:30001", "INVENTORY_URL": "http://127.0.0.1:30002", "WEB_URL": "http://127.0.0.1:30000",
	}
	for k, v := range want {
		if len(got[k]) != 1 || got[k][0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got[k], v)
		}
	}
	if env := c.ServiceEnv(nil, "simulator", ""); strings.Contains(strings.Join(env, " "), "HTTP_ADDR=") {
		t.Errorf("simulator got an HTTP_ADDR: %q", env)
	}

	benv := strings.Join(c.BrokerEnv(nil), " ")
	for _, w := range []string{"BROKER_LISTEN=127.0.0.1:30008", "BROKER_HTTP=127.0.0.1:30009",
		"BROKER_DATA_DIR=/repo/.data/broker", "BROKER_LOG_LEVEL=info"} {
		if !strings.Contains(benv, w) {
			t.Errorf("broker env lacks %s: %s", w, benv)
		}
	}
	if benv := strings.Join(c.BrokerEnv([]string{"BROKER_LOG_LEVEL=debug"}), " "); !strings.Contains(benv, "BROKER_LOG_LEVEL=debug") || strings.Contains(benv, "BROKER_LOG_LEVEL=info") {
		t.Errorf("explicit BROKER_LOG_LEVEL not kept: %s", benv)
	}
}
