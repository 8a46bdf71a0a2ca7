// Command hub is the signs hub alone (signsapp on the service kit, no price book), as
// `make bench-signs` runs it in its own process so that its CPU and memory are its own. It
// reads the kit's environment (KAFKA_BROKERS, DATABASE_URL, HTTP_ADDR) and the SIGNS_*
// variables of package signsapp; with BENCH_PPROF_ADDR set it serves net/http/pprof there (the bench's -profile).
package main

import (
	"context"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/bench/signs/benchpprof"
	"github.com/freshmart/platform/services/signs/signsapp"
)

func main() {
	benchpprof.Start()
	kit.Main(kit.Options{Name: "pricing", Addr: "127.0.0.1:8084", Database: true}, func(_ context.Context, s *kit.Service) error {
		_, err := signsapp.New(s, signsapp.Config{})
		return err
	})
}
