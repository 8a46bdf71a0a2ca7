package run

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// demoSign is the shelf sign `make run` issues a token for, in the demo store.
const (
	demoStore = "S001"
	demoSign  = "demo"
)

// demoSignURL issues a fresh token for the demo store's demo sign with
// `bin/pricing sign-token` (revoking the previous run's) and returns the sign page's URL
// carrying it, or "" and why not when pricing or web is not running.
func (p *Platform) demoSignURL(running map[string]bool) (string, string) {
	if !running["pricing"] || !running["web"] {
		return "", "pricing or web not running"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.cfg.BinDir, "pricing"), "sign-token", "--store", demoStore, "--sign", demoSign)
	cmd.Env = p.cfg.ServiceEnv(os.Environ(), "pricing-sign-token", p.dbURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Sprintf("sign-token failed: %v %s", err, strings.TrimSpace(stderr.String()))
	}
	tok := strings.TrimSpace(stdout.String())
	q := url.Values{"aisle": {"produce"}, "token": {tok}}
	return p.cfg.URL("web") + "/signs/" + demoStore + "/" + demoSign + "?" + q.Encode(), ""
}
