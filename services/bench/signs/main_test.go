package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCentrifugeOnlyInTheBench checks that github.com/centrifugal/centrifuge, the peer of this
// benchmark, is linked by no package of the platform outside services/bench.
func TestCentrifugeOnlyInTheBench(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`,
		"github.com/freshmart/platform/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	pkgs, err := exec.Command("go", "list", "github.com/freshmart/platform/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	ours := map[string]bool{}
	for _, p := range strings.Fields(string(pkgs)) {
		ours[p] = true
	}
	// Walk the import graph from every platform package outside services/bench.
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			imports[f[0]] = f[1:]
		}
	}
	seen := map[string]bool{}
	var walk func(p, from string)
	walk = func(p, from string) {
		if seen[p] {
			return
		}
		seen[p] = true
		if strings.HasPrefix(p, "github.com/centrifugal/") {
			t.Errorf("%s links %s", from, p)
			return
		}
		for _, i := range imports[p] {
			walk(i, from)
		}
	}
	n := 0
	for p := range ours {
		if !strings.Contains(p, "/services/bench") {
			walk(p, p)
			n++
		}
	}
	if n < 20 || !seen["github.com/freshmart/platform/services/signs/signsapp"] {
		t.Fatalf("walked %d packages, not the platform's", n)
	}
}
