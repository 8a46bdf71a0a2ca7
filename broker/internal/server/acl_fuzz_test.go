package server

import (
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// FuzzACLRequests decodes arbitrary bodies as CreateAcls, DescribeAcls,
// DeleteAcls and AlterUserScramCredentials requests and runs their
// handlers: no panic, one result per entry, and whatever CreateAcls stored
// is valid and found again by DescribeAcls.
func FuzzACLRequests(f *testing.F) {
	dir := f.TempDir()
	acls, err := auth.OpenACLs(dir)
	if err != nil {
		f.Fatal(err)
	}
	users, err := auth.OpenUsers(dir)
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{cfg: Config{Security: &Security{ACLs: acls, Users: users}}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	c := kmsg.NewPtrCreateACLsRequest()
	c.Version = 3
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
	cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:a", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	c.Creations = append(c.Creations, cr)
	f.Add(int16(30), int16(3), c.AppendTo(nil))
	d := kmsg.NewPtrDeleteACLsRequest()
	d.Version = 1
	d.Filters = append(d.Filters, kmsg.NewDeleteACLsRequestFilter())
	f.Add(int16(31), int16(1), d.AppendTo(nil))
	ds := kmsg.NewPtrDescribeACLsRequest()
	ds.Version = 2
	f.Add(int16(29), int16(2), ds.AppendTo(nil))
	al := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "u", 1, 4096, []byte("s"), []byte("p")
	al.Upsertions = append(al.Upsertions, up)
	f.Add(int16(51), int16(0), al.AppendTo(nil))

	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		if hugeUvarint(body) {
			t.Skip() // kmsg's tagged-field loop, see FuzzRequest
		}
		var fn HandlerFunc
		switch key {
		case 29:
			fn = handleDescribeAcls
		case 30:
			fn = handleCreateAcls
		case 31:
			fn = handleDeleteAcls
		case 51:
			fn = handleAlterUserScramCredentials
		default:
			return
		}
		req := kmsg.RequestForKey(key)
		if version < 0 || version > req.MaxVersion() || (key == 51 && version != 0) {
			return
		}
		req.SetVersion(version)
		if err := req.ReadFrom(body); err != nil {
			return
		}
		reply, err := fn(s, &Request{Key: key, Version: version, Body: req})
		if err != nil || reply.Resp == nil {
			t.Fatalf("reply %+v, err %v", reply, err)
		}
		switch resp := reply.Resp.(type) {
		case *kmsg.CreateACLsResponse:
			creq := req.(*kmsg.CreateACLsRequest)
			if len(resp.Results) != len(creq.Creations) {
				t.Fatalf("%d results for %d creations", len(resp.Results), len(creq.Creations))
			}
			for i, r := range resp.Results {
				if r.ErrorCode != 0 {
					continue
				}
				c := creq.Creations[i]
				name, p, h := c.ResourceName, c.Principal, c.Host
				pt := c.ResourcePatternType
				if version == 0 {
					pt = kmsg.ACLResourcePatternTypeLiteral
				}
				got := acls.Describe(auth.Filter{ResourceType: c.ResourceType, ResourceName: &name, PatternType: pt,
					Principal: &p, Host: &h, Operation: c.Operation, Permission: c.PermissionType})
				if len(got) == 0 {
					t.Fatalf("created %+v not described", c)
				}
			}
		case *kmsg.DeleteACLsResponse:
			if len(resp.Results) != len(req.(*kmsg.DeleteACLsRequest).Filters) {
				t.Fatal("one result per filter")
			}
		}
		for _, a := range acls.All() {
			if err := a.Validate(); err != nil {
				t.Fatalf("stored invalid ACL %+v: %v", a, err)
			}
		}
	})
}
