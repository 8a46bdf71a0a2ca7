package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// converse runs franz-go's client side of mech against a server Conversation.
func converse(t *testing.T, users *Users, mech string, client sasl.Mechanism) (string, error) {
	t.Helper()
	conv, err := NewConversation(mech, users)
	if err != nil {
		t.Fatal(err)
	}
	sess, msg, err := client.Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		out, done, err := conv.Step(msg)
		if err != nil {
			return "", err
		}
		cdone, next, cerr := sess.Challenge(out)
		if cerr != nil {
			return "", cerr // the client rejects the server (bad server signature)
		}
		if done {
			if !cdone {
				t.Fatal("server done, client not")
			}
			return conv.User(), nil
		}
		msg = next
	}
	t.Fatal("exchange did not finish")
	return "", nil
}

func TestScramWithFranzGoClient(t *testing.T) {
	users, err := OpenUsers(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := users.SetPassword("alice", "pw,=é", MinIterations); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mech    string
		client  sasl.Mechanism
		wantErr bool
	}{
		{"sha256", "SCRAM-SHA-256", scram.Auth{User: "alice", Pass: "pw,=é"}.AsSha256Mechanism(), false},
		{"sha512", "SCRAM-SHA-512", scram.Auth{User: "alice", Pass: "pw,=é"}.AsSha512Mechanism(), false},
		{"wrong password", "SCRAM-SHA-256", scram.Auth{User: "alice", Pass: "nope"}.AsSha256Mechanism(), true},
		{"unknown user", "SCRAM-SHA-512", scram.Auth{User: "mallory", Pass: "pw"}.AsSha512Mechanism(), true},
		{"mechanism mismatch", "SCRAM-SHA-512", scram.Auth{User: "alice", Pass: "pw,=é"}.AsSha256Mechanism(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, err := converse(t, users, tc.mech, tc.client)
			if tc.wantErr {
				if !errors.Is(err, ErrAuthFailed) {
					t.Fatalf("error %v, want ErrAuthFailed", err)
				}
				return
			}
			if err != nil || user != "alice" {
				t.Fatalf("user %q, error %v", user, err)
			}
		})
	}
}

func TestPlain(t *testing.T) {
	users, _ := OpenUsers(t.TempDir())
	if err := users.SetPassword("bob", "secret", MinIterations); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, msg string
		ok        bool
	}{
		{"right", "\x00bob\x00secret", true},
		{"authzid same", "bob\x00bob\x00secret", true},
		{"authzid other", "alice\x00bob\x00secret", false},
		{"wrong", "\x00bob\x00secrex", false},
		{"unknown", "\x00eve\x00secret", false},
		{"short", "bob\x00secret", false},
		{"empty password", "\x00bob\x00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conv, _ := NewConversation(MechPlain, users)
			_, done, err := conv.Step([]byte(tc.msg))
			if tc.ok != (err == nil && done) {
				t.Fatalf("done %v err %v, want ok=%v", done, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("error %v does not wrap ErrAuthFailed", err)
			}
		})
	}
}

// TestUsersTwoProcesses: a second store on the same directory (the
// `users` command beside the running broker) sees changes at once, and
// concurrent writers lose nothing (the flock).
func TestUsersTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	broker, _ := OpenUsers(dir)
	cli, _ := OpenUsers(dir)
	if _, ok, _ := broker.Lookup("carol", ScramSHA256); ok {
		t.Fatal("carol exists before she is added")
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := broker
			if i%2 == 1 {
				s = cli
			}
			if err := s.SetPassword("u"+string(rune('a'+i)), "pw", MinIterations); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := cli.SetPassword("carol", "pw", MinIterations); err != nil {
		t.Fatal(err)
	}
	if ok, err := broker.CheckPlain("carol", "pw"); !ok || err != nil {
		t.Fatalf("broker does not see carol: %v %v", ok, err)
	}
	list, _ := broker.List()
	if len(list) != 9 {
		t.Fatalf("%d users, want 9: %+v", len(list), list)
	}
	if err := cli.Delete("carol", ""); err != nil {
		t.Fatal(err)
	}
	if ok, _ := broker.CheckPlain("carol", "pw"); ok {
		t.Fatal("broker still accepts a removed user")
	}
	if err := cli.Delete("carol", ""); !errors.Is(err, ErrNoUser) {
		t.Fatalf("removing twice: %v, want ErrNoUser", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, UsersFile))
	if strings.Contains(string(b), `"pw"`) {
		t.Fatal("users.json holds a password")
	}
	if err := broker.SetPassword("x,y", "pw", MinIterations); !errors.Is(err, ErrBadName) {
		t.Fatalf("bad name: %v", err)
	}
	if err := broker.SetPassword("x", "pw", 100); !errors.Is(err, ErrBadIterations) {
		t.Fatalf("100 iterations: %v", err)
	}
}

func TestAuthorizer(t *testing.T) {
	acls, err := OpenACLs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	A := func(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, p, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
		return ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: p, Host: host, Operation: op, Permission: perm}
	}
	const (
		topic, group = kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup
		lit, pre     = kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
		allow, deny  = kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny
	)
	err = acls.Create([]ACL{
		A(topic, "orders", lit, "User:alice", "*", kmsg.ACLOperationWrite, allow),
		A(topic, "pos-", pre, "User:*", "*", kmsg.ACLOperationRead, allow),
		A(topic, "pos-secret", lit, "User:bob", "*", kmsg.ACLOperationAll, deny),
		A(topic, "lan", lit, "User:alice", "10.0.0.1", kmsg.ACLOperationRead, allow),
		A(group, "*", lit, "User:alice", "*", kmsg.ACLOperationRead, allow),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &Authorizer{ACLs: acls, SuperUsers: map[string]bool{"User:admin": true}}
	for _, tc := range []struct {
		name      string
		principal string
		host      string
		op        kmsg.ACLOperation
		rt        kmsg.ACLResourceType
		res       string
		want      bool
	}{
		{"literal allow", "User:alice", "1.2.3.4", kmsg.ACLOperationWrite, topic, "orders", true},
		{"write implies describe", "User:alice", "1.2.3.4", kmsg.ACLOperationDescribe, topic, "orders", true},
		{"write does not imply read", "User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "orders", false},
		{"other principal", "User:bob", "1.2.3.4", kmsg.ACLOperationWrite, topic, "orders", false},
		{"prefixed wildcard principal", "User:bob", "1.2.3.4", kmsg.ACLOperationRead, topic, "pos-sales", true},
		{"deny wins over prefixed allow", "User:bob", "1.2.3.4", kmsg.ACLOperationRead, topic, "pos-secret", false},
		{"deny only for bob", "User:carol", "1.2.3.4", kmsg.ACLOperationRead, topic, "pos-secret", true},
		{"host matches", "User:alice", "10.0.0.1", kmsg.ACLOperationRead, topic, "lan", true},
		{"host differs", "User:alice", "10.0.0.2", kmsg.ACLOperationRead, topic, "lan", false},
		{"wildcard resource", "User:alice", "1.2.3.4", kmsg.ACLOperationRead, group, "any-group", true},
		{"no acl, not allowed by default", "User:alice", "1.2.3.4", kmsg.ACLOperationRead, topic, "nothing", false},
		{"super user", "User:admin", "1.2.3.4", kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, ClusterName, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Authorize(tc.principal, tc.host, tc.op, tc.rt, tc.res); got != tc.want {
				t.Fatalf("Authorize = %v, want %v", got, tc.want)
			}
		})
	}
	a.AllowEveryoneIfNoACL = true
	if !a.Authorize("User:x", "h", kmsg.ACLOperationRead, topic, "nothing") {
		t.Fatal("AllowEveryoneIfNoACL does not allow a resource without ACLs")
	}
	if a.Authorize("User:x", "h", kmsg.ACLOperationWrite, topic, "orders") {
		t.Fatal("AllowEveryoneIfNoACL allows a resource that has ACLs")
	}
	if !a.AnyAllowed("User:alice", "h", kmsg.ACLOperationWrite, topic) || a.AnyAllowed("User:bob", "h", kmsg.ACLOperationWrite, topic) {
		t.Fatal("AnyAllowed")
	}

	name := "pos-sales"
	match := acls.Describe(Filter{ResourceType: topic, ResourceName: &name, PatternType: kmsg.ACLResourcePatternTypeMatch,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
	if len(match) != 1 || match[0].ResourceName != "pos-" {
		t.Fatalf("MATCH pos-sales: %+v", match)
	}
	reopened, _ := OpenACLs(filepath.Dir(acls.f.path))
	if reopened.Len() != 5 {
		t.Fatalf("reopened %d ACLs, want 5", reopened.Len())
	}
	deleted, err := acls.Delete([]Filter{{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: deny}})
	if err != nil || len(deleted[0]) != 1 || acls.Len() != 4 {
		t.Fatalf("delete denies: %+v %v, %d left", deleted, err, acls.Len())
	}
	if err := acls.Create([]ACL{A(topic, "x", kmsg.ACLResourcePatternTypeMatch, "User:a", "*", kmsg.ACLOperationRead, allow)}); !errors.Is(err, ErrBadACL) {
		t.Fatalf("MATCH pattern stored: %v", err)
	}
	if err := acls.Create([]ACL{A(topic, "x", lit, "alice", "*", kmsg.ACLOperationRead, allow)}); !errors.Is(err, ErrBadACL) {
		t.Fatalf("principal without type stored: %v", err)
	}
}
