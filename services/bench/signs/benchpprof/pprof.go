// Package benchpprof lets the hubs of `make bench-signs` serve net/http/pprof on the address
// in BENCH_PPROF_ADDR (set by the bench's -profile flag), so the bench can take a CPU profile
// of one phase and a heap profile with every sign connected.
package benchpprof

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// Start serves pprof in the background when BENCH_PPROF_ADDR is set.
func Start() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, "benchpprof:", err)
		}
	}()
}
