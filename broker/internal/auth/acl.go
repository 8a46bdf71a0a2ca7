package auth

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACL is one access control entry: Principal from Host may (Permission
// ALLOW) or may not (DENY) do Operation on the resources of ResourceType
// whose name equals ResourceName (PatternType LITERAL; "*" is every name)
// or starts with it (PREFIXED). The enums are Kafka's (kmsg), kept in the
// file by name.
type ACL struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// Filter selects ACLs for DescribeAcls and DeleteAcls. ResourceType,
// Operation and Permission ANY match every value; nil names, principals and
// hosts match every value. PatternType ANY matches every pattern with the
// given name exactly, MATCH matches every ACL that would apply to a
// resource of that name (literal equal or "*", prefixed patterns that it
// starts with), LITERAL and PREFIXED only that pattern type.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// ErrBadACL is returned for an ACL that cannot be stored (an ANY or
// unknown enum, a malformed principal, an empty name).
var ErrBadACL = errors.New("invalid ACL")

// Validate checks that a is a concrete entry that can be stored.
func (a ACL) Validate() error {
	switch a.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return fmt.Errorf("%w: resource type %v", ErrBadACL, a.ResourceType)
	}
	if a.PatternType != kmsg.ACLResourcePatternTypeLiteral && a.PatternType != kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("%w: pattern type %v (want LITERAL or PREFIXED)", ErrBadACL, a.PatternType)
	}
	if a.ResourceName == "" {
		return fmt.Errorf("%w: empty resource name", ErrBadACL)
	}
	if a.ResourceType == kmsg.ACLResourceTypeCluster && a.ResourceName != "kafka-cluster" {
		return fmt.Errorf("%w: the cluster resource is named kafka-cluster", ErrBadACL)
	}
	if typ, name, ok := strings.Cut(a.Principal, ":"); !ok || typ == "" || name == "" {
		return fmt.Errorf("%w: principal %q (want Type:name, e.g. User:alice)", ErrBadACL, a.Principal)
	}
	if a.Host == "" {
		return fmt.Errorf("%w: empty host (use *)", ErrBadACL)
	}
	if a.Operation < kmsg.ACLOperationAll || a.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("%w: operation %v", ErrBadACL, a.Operation)
	}
	if a.Permission != kmsg.ACLPermissionTypeAllow && a.Permission != kmsg.ACLPermissionTypeDeny {
		return fmt.Errorf("%w: permission %v", ErrBadACL, a.Permission)
	}
	return nil
}

// Matches reports whether f selects a.
func (f Filter) Matches(a ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != a.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != a.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !patternCovers(a, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != a.PatternType || (f.ResourceName != nil && *f.ResourceName != a.ResourceName) {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != a.Permission {
		return false
	}
	return true
}

// ValidateFilter rejects filters with unknown enum values.
func (f Filter) ValidateFilter() error {
	if f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeUser {
		return fmt.Errorf("%w: resource type %v", ErrBadACL, f.ResourceType)
	}
	if f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("%w: pattern type %v", ErrBadACL, f.PatternType)
	}
	if f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("%w: operation %v", ErrBadACL, f.Operation)
	}
	if f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow {
		return fmt.Errorf("%w: permission %v", ErrBadACL, f.Permission)
	}
	return nil
}

// patternCovers reports whether a's resource pattern applies to a
// resource named name.
func patternCovers(a ACL, name string) bool {
	if a.PatternType == kmsg.ACLResourcePatternTypePrefixed {
		return strings.HasPrefix(name, a.ResourceName)
	}
	return a.ResourceName == "*" || a.ResourceName == name
}

type aclsDoc struct {
	Version int   `json:"version"`
	ACLs    []ACL `json:"acls"`
}

// ACLsFile is the name of the ACL file in the data directory.
const ACLsFile = "acls.json"

// ACLs is the durable ACL store, acls.json in the data directory. ACLs are
// changed through the broker (CreateAcls, DeleteAcls); the authorizer reads
// an in-memory snapshot, replaced after each durable change.
type ACLs struct {
	f    *jsonFile[aclsDoc]
	snap atomic.Pointer[[]ACL]
}

// OpenACLs loads the ACL store of data directory dir.
func OpenACLs(dir string) (*ACLs, error) {
	s := &ACLs{f: &jsonFile[aclsDoc]{path: filepath.Join(dir, ACLsFile), empty: func() aclsDoc { return aclsDoc{Version: 1} }}}
	if err := s.reload(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return s, nil
}

func (s *ACLs) reload() error {
	d, err := s.f.get()
	if err != nil {
		return err
	}
	acls := slices.Clone(d.ACLs)
	s.snap.Store(&acls)
	return nil
}

// All returns the current ACLs (a snapshot the caller must not change).
func (s *ACLs) All() []ACL { return *s.snap.Load() }

// Len returns the number of ACLs.
func (s *ACLs) Len() int { return len(*s.snap.Load()) }

// Create adds acls durably (an ACL already present is not added twice).
// Each must Validate.
func (s *ACLs) Create(acls []ACL) error {
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	err := s.f.update(func(d *aclsDoc) error {
		for _, a := range acls {
			if !slices.Contains(d.ACLs, a) {
				d.ACLs = append(d.ACLs, a)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.reload()
}

// Describe returns the ACLs f selects.
func (s *ACLs) Describe(f Filter) []ACL {
	var out []ACL
	for _, a := range s.All() {
		if f.Matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// Delete removes, durably, the ACLs each filter selects and returns them
// per filter.
func (s *ACLs) Delete(filters []Filter) ([][]ACL, error) {
	out := make([][]ACL, len(filters))
	err := s.f.update(func(d *aclsDoc) error {
		keep := d.ACLs[:0:0]
		for _, a := range d.ACLs {
			hit := false
			for i, f := range filters {
				if f.Matches(a) {
					out[i] = append(out[i], a)
					hit = true
				}
			}
			if !hit {
				keep = append(keep, a)
			}
		}
		d.ACLs = keep
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, s.reload()
}
