// Command hub is the signs hub alone (signsapp on the service kit, no price book), as
// `make bench-signs` runs it in its own process so that its CPU and memory are its own. It
// reads the kit's environment (KAFKA_BROKERS, DATABASE_URL, HTTP_ADDR) and the SIGNS_*
// variables of package signsapp; with BENCH_CPUPROFILE set it writes a CPU profile there.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/signs/signsapp"
)

func main() {
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hub:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "hub:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	kit.Main(kit.Options{Name: "pricing", Addr: "127.0.0.1:8084", Database: true}, func(_ context.Context, s *kit.Service) error {
		_, err := signsapp.New(s, signsapp.Config{})
		return err
	})
}
