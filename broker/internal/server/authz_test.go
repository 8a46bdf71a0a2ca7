package server

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEveryKeyHasAuthzRule: a served API key without a row in the
// authorizer's table would be allowed to everyone; only ApiVersions and the
// SASL keys, which run before there is a principal, may lack one.
func TestEveryKeyHasAuthzRule(t *testing.T) {
	open := map[int16]bool{kmsg.ApiVersions.Int16(): true, kmsg.SASLHandshake.Int16(): true, kmsg.SASLAuthenticate.Int16(): true}
	for _, k := range registeredKeys() {
		if _, ok := authzRules[k]; !ok && !open[k] {
			t.Errorf("%s (key %d) is served but has no row in authzRules (authz_rules.go)", kmsg.NameForKey(k), k)
		}
	}
}
