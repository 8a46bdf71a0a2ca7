// Package kittest runs services built on the service kit inside a test process.
//
//	s := kittest.Start(t, app.Options, map[string]string{"KAFKA_BROKERS": b.Addr, "DATABASE_URL": dsn}, wire)
//	resp, err := http.Get(kittest.URL(s) + "/v1/stock?store_id=S001")
//
// Each service reads only the variables given (never the test process's environment), listens
// on a free loopback port unless HTTP_ADDR is given, logs at warn unless LOG_LEVEL is given,
// and is stopped (gracefully, as SIGTERM would) when the test ends.
package kittest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/freshmart/platform/internal/kit"
)

// Build builds (but does not run) a service from opts and env, as Start does; it is closed
// when the test ends.
func Build(t testing.TB, opts kit.Options, env map[string]string) *kit.Service {
	t.Helper()
	vars := map[string]string{"HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	opts.Env = kit.Map(vars)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := kit.New(ctx, opts)
	if err != nil {
		t.Fatalf("kittest: build %s: %v", opts.Name, err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start builds a service from opts and env, lets wire add its domain (nil for none), runs it
// and waits until it listens. The service stops when the test ends; a Run that failed fails
// the test then.
func Start(t testing.TB, opts kit.Options, env map[string]string, wire func(ctx context.Context, s *kit.Service) error) *kit.Service {
	t.Helper()
	s := Build(t, opts, env)
	ctx, cancel := context.WithCancel(context.Background())
	if wire != nil {
		if err := wire(ctx, s); err != nil {
			cancel()
			t.Fatalf("kittest: wire %s: %v", opts.Name, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kittest: %s stopped with %v", opts.Name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("kittest: %s did not stop within 30s", opts.Name)
		}
	})
	select {
	case <-s.Listening():
	case err := <-done:
		if err == nil {
			err = errors.New("stopped before listening")
		}
		t.Fatalf("kittest: run %s: %v", opts.Name, err)
	}
	return s
}

// URL returns the base URL of a started service, http://host:port.
func URL(s *kit.Service) string {
	if a := s.Addr(); a != nil {
		return "http://" + a.String()
	}
	return ""
}
