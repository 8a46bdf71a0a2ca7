package server

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
	"github.com/freshmart/platform/broker/internal/storage"
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

// TestMetadataV0AllDenied: a v0 Metadata naming only denied topics must not
// turn into "all topics" once they are removed from the request.
func TestMetadataV0AllDenied(t *testing.T) {
	dir := t.TempDir()
	acls, err := auth.OpenACLs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := acls.Create([]auth.ACL{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "secret", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:someone", Host: "*", Operation: kmsg.ACLOperationDescribe, Permission: kmsg.ACLPermissionTypeAllow}}); err != nil {
		t.Fatal(err)
	}
	users, _ := auth.OpenUsers(dir)
	sec := &Security{Users: users, ACLs: acls, Authorizer: &auth.Authorizer{ACLs: acls, AllowEveryoneIfNoACL: true}}
	br := startBroker(t, "", func(c *Config, _ *storage.Options) { c.Security = sec })
	br.createTopic("secret", 1, nil)
	br.createTopic("public", 1, nil)
	c := dialRaw(t, br.addr)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("secret")
	req.Topics = append(req.Topics, rt)
	corr := c.send(req)
	resp := kmsg.NewPtrMetadataResponse()
	c.recv(resp, corr)
	if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "secret" || resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("v0 metadata for a denied topic: %+v", resp.Topics)
	}
}
