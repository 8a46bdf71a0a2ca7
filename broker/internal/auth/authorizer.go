package auth

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Anonymous is the principal of a connection that has not authenticated
// (PLAINTEXT, or SSL without a client certificate).
const Anonymous = "User:ANONYMOUS"

// ClusterName is the name of the single cluster resource.
const ClusterName = "kafka-cluster"

// Authorizer decides requests from the ACLs (see the package doc for the
// rules).
type Authorizer struct {
	// ACLs is the store consulted. Required.
	ACLs *ACLs
	// SuperUsers are principals ("User:admin") allowed everything.
	SuperUsers map[string]bool
	// AllowEveryoneIfNoACL allows a request on a resource no ACL matches
	// (Kafka's allow.everyone.if.no.acl.found). The broker defaults it to
	// true, so that a broker without ACLs behaves as one without an
	// authorizer.
	AllowEveryoneIfNoACL bool
}

// Open reports whether every request is allowed without looking (no ACLs
// and AllowEveryoneIfNoACL): the request path skips authorization then.
func (a *Authorizer) Open() bool {
	return a.AllowEveryoneIfNoACL && a.ACLs.Len() == 0
}

// implies reports whether an ALLOW for op grants want.
func implies(op, want kmsg.ACLOperation) bool {
	if op == want || op == kmsg.ACLOperationAll {
		return true
	}
	switch want {
	case kmsg.ACLOperationDescribe:
		return op == kmsg.ACLOperationRead || op == kmsg.ACLOperationWrite ||
			op == kmsg.ACLOperationDelete || op == kmsg.ACLOperationAlter
	case kmsg.ACLOperationDescribeConfigs:
		return op == kmsg.ACLOperationAlterConfigs
	}
	return false
}

func principalMatches(acl, p string) bool { return acl == p || acl == "User:*" }
func hostMatches(acl, h string) bool      { return acl == "*" || acl == h }

// Authorize reports whether principal, connected from host (an IP
// address), may do op on the resource of type rt named name.
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a.SuperUsers[principal] {
		return true
	}
	matched, allowed := false, false
	for _, acl := range a.ACLs.All() {
		if acl.ResourceType != rt || !patternCovers(acl, name) {
			continue
		}
		matched = true
		if !principalMatches(acl.Principal, principal) || !hostMatches(acl.Host, host) {
			continue
		}
		if acl.Permission == kmsg.ACLPermissionTypeDeny {
			if acl.Operation == op || acl.Operation == kmsg.ACLOperationAll {
				return false // deny wins
			}
			continue
		}
		if implies(acl.Operation, op) {
			allowed = true
		}
	}
	if !matched {
		return a.AllowEveryoneIfNoACL
	}
	return allowed
}

// AnyAllowed reports whether principal may do op on at least one resource
// of type rt: an ALLOW ACL for it exists (Kafka lets an idempotent producer
// in with WRITE on any topic).
func (a *Authorizer) AnyAllowed(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if a.SuperUsers[principal] {
		return true
	}
	for _, acl := range a.ACLs.All() {
		if acl.ResourceType == rt && acl.Permission == kmsg.ACLPermissionTypeAllow &&
			principalMatches(acl.Principal, principal) && hostMatches(acl.Host, host) && implies(acl.Operation, op) {
			return true
		}
	}
	return false
}
