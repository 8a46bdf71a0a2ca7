package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDoesNotImportTesting checks that no benchmark binary (services/bench and the ones below
// it) links package testing (and with it the test flags and helpers): what they share with the
// tests must come from non-test packages such as pgcluster and brokerproc, not from pgtest or
// brokertest.
func TestDoesNotImportTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var importers []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "testing" {
			t.Errorf("package testing is a dependency of a benchmark under services/bench")
		}
		for _, imp := range fields[1:] {
			if imp == "testing" {
				importers = append(importers, fields[0])
			}
		}
	}
	if len(importers) > 0 {
		t.Errorf("imported by %s", strings.Join(importers, ", "))
	}
}
