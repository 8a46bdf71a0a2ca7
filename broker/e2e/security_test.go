package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// pki is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type pki struct {
	dir                       string
	caFile, certFile, keyFile string
	clientCert, clientKey     string
	ca                        *x509.Certificate
	caKey                     *ecdsa.PrivateKey
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "freshmart test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	p.certFile, p.keyFile = filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server.key")
	p.issue(t, 100, "broker", true, p.certFile, p.keyFile)
	p.clientCert, p.clientKey = filepath.Join(p.dir, "client.pem"), filepath.Join(p.dir, "client.key")
	p.issue(t, 200, "certuser", false, p.clientCert, p.clientKey)
	return p
}

// issue writes a certificate signed by the CA (serial, common name) and its key.
func (p *pki) issue(t *testing.T, serial int64, cn string, server bool, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	writePEM(t, certFile, "CERTIFICATE", der)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// secureBroker is a broker with SASL_PLAINTEXT, SSL and SASL_SSL listeners,
// users admin (super user) and alice.
type secureBroker struct {
	*broker
	pki                *pki
	sasl, ssl, saslSSL string
}

var listenerRE = regexp.MustCompile(`msg="?listener"? protocol=(\S+) addr=(\S+)`)

const (
	adminPass = "admin-secret"
	alicePass = "alice-secret"
)

func usersCmd(t *testing.T, dataDir string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(brokerBin, append([]string{"users", args[0], "--data-dir", dataDir}, args[1:]...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("freshmart-broker users %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func startSecure(t *testing.T, dataDir string, p *pki, extra ...string) *secureBroker {
	t.Helper()
	args := append([]string{
		"--listen-sasl", "127.0.0.1:0", "--listen-ssl", "127.0.0.1:0", "--listen-sasl-ssl", "127.0.0.1:0",
		"--tls-cert", p.certFile, "--tls-key", p.keyFile, "--tls-client-ca", p.caFile,
		"--super-users", "User:admin",
	}, extra...)
	b := startBroker(t, dataDir, args...)
	sb := &secureBroker{broker: b, pki: p}
	deadline := time.Now().Add(30 * time.Second)
	for sb.sasl == "" || sb.ssl == "" || sb.saslSSL == "" {
		for _, m := range listenerRE.FindAllStringSubmatch(b.logTail(), -1) {
			switch m[1] {
			case "SASL_PLAINTEXT":
				sb.sasl = m[2]
			case "SSL":
				sb.ssl = m[2]
			case "SASL_SSL":
				sb.saslSSL = m[2]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener lines missing from the broker log:\n%s", b.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return sb
}

func (sb *secureBroker) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: sb.pki.pool, MinVersion: tls.VersionTLS12}
}

// saslClient returns a client of addr authenticating with m (over TLS if tlsOn).
func (sb *secureBroker) saslClient(t *testing.T, addr string, tlsOn bool, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.SASL(m), kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second)}
	if tlsOn {
		base = append(base, kgo.DialTLSConfig(sb.tlsConfig()))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func roundTrip(t *testing.T, cl *kgo.Client, topic, tag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "%s-%d", tag, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", tag, err)
		}
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: {0}})
	got := 0
	for got < 3 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%s: consumed %d of 3: %v", tag, got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("%s: fetch: %v", tag, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if strings.HasPrefix(string(r.Value), tag+"-") {
				got++
			}
		})
	}
}

func scram256(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
}
func scram512(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}

// TestSecuritySASLFranzGo: franz-go produces and consumes with PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 on SASL_PLAINTEXT and SASL_SSL; a wrong
// password gets SASL_AUTHENTICATION_FAILED; users added and removed with the
// command while the broker runs take effect; AlterUserScramCredentials
// creates a user who can then log in; users survive a restart.
func TestSecuritySASLFranzGo(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	usersCmd(t, dir, adminPass+"\n", "add", "admin")
	usersCmd(t, dir, "", "add", "--password", alicePass, "alice")
	sb := startSecure(t, dir, p)
	sb.createTopic("sec-rt", 1, nil)

	for _, tc := range []struct {
		name string
		mech sasl.Mechanism
	}{
		{"PLAIN", plain.Auth{User: "alice", Pass: alicePass}.AsMechanism()},
		{"SCRAM-SHA-256", scram256("alice", alicePass)},
		{"SCRAM-SHA-512", scram512("alice", alicePass)},
	} {
		t.Run(tc.name+"/SASL_PLAINTEXT", func(t *testing.T) {
			roundTrip(t, sb.saslClient(t, sb.sasl, false, tc.mech), "sec-rt", "pt-"+tc.name)
		})
		t.Run(tc.name+"/SASL_SSL", func(t *testing.T) {
			roundTrip(t, sb.saslClient(t, sb.saslSSL, true, tc.mech), "sec-rt", "ssl-"+tc.name)
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		for _, m := range []sasl.Mechanism{scram256("alice", "nope"), scram512("alice", "nope"),
			plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(), scram256("nobody", "x")} {
			cl := sb.saslClient(t, sb.saslSSL, true, m)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := cl.Ping(ctx)
			cancel()
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("%s: ping error %v, want SASL_AUTHENTICATION_FAILED", m.Name(), err)
			}
		}
	})

	t.Run("users command while running", func(t *testing.T) {
		usersCmd(t, dir, "bob-secret\n", "add", "bob")
		out := usersCmd(t, dir, "", "list")
		for _, want := range []string{"admin\t", "alice\t", "bob\tSCRAM-SHA-256(8192) SCRAM-SHA-512(8192)"} {
			if !strings.Contains(out, want) {
				t.Fatalf("users list %q lacks %q", out, want)
			}
		}
		bob := sb.saslClient(t, sb.sasl, false, scram512("bob", "bob-secret"))
		if err := bob.Ping(context.Background()); err != nil {
			t.Fatalf("bob added while running: %v", err)
		}
		usersCmd(t, dir, "", "remove", "bob")
		bob2 := sb.saslClient(t, sb.sasl, false, scram512("bob", "bob-secret"))
		if err := bob2.Ping(context.Background()); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("bob removed while running: ping %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})

	t.Run("AlterUserScramCredentials then login", func(t *testing.T) {
		adm := kadm.NewClient(sb.saslClient(t, sb.sasl, false, scram256("admin", adminPass)))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-pw"}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("alter scram: %v", err)
		}
		desc, err := adm.DescribeUserSCRAMs(ctx, "carol")
		if err != nil || desc["carol"].Err != nil || len(desc["carol"].CredInfos) != 1 || desc["carol"].CredInfos[0].Iterations != 4096 {
			t.Fatalf("describe scram: %+v %v", desc, err)
		}
		roundTrip(t, sb.saslClient(t, sb.saslSSL, true, scram512("carol", "carol-pw")), "sec-rt", "carol")
		// alice is no super user and there is a cluster ACL-less broker: allowed by
		// allow-everyone-if-no-acl; with a DENY on the cluster she is refused.
	})

	t.Run("durable across restart", func(t *testing.T) {
		sb.stop()
		sb2 := startSecure(t, dir, p)
		roundTrip(t, sb2.saslClient(t, sb2.saslSSL, true, scram512("carol", "carol-pw")), "sec-rt", "carol2")
		roundTrip(t, sb2.saslClient(t, sb2.sasl, false, scram256("alice", alicePass)), "sec-rt", "alice2")
	})
}

// rawConn speaks the Kafka framing directly, to see what the broker does
// to the connection (closed or not).
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) send(req kmsg.Request) {
	r.t.Helper()
	r.corr++
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.corr))
	buf = binary.BigEndian.AppendUint16(buf, 1)
	buf = append(buf, 'e')
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if _, err := r.c.Write(buf); err != nil {
		r.t.Fatal(err)
	}
}

// recv reads one response into resp; false means the connection closed.
func (r *rawConn) recv(resp kmsg.Response) bool {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return false
		}
		r.t.Fatalf("read: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		r.t.Fatalf("read: %v", err)
	}
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %T: %v", resp, err)
	}
	return true
}

// TestSecurityConnectionRules: on a SASL listener a request before
// authentication closes the connection, and a failed SaslAuthenticate is
// answered SASL_AUTHENTICATION_FAILED and then the connection is closed.
func TestSecurityConnectionRules(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	usersCmd(t, dir, alicePass+"\n", "add", "alice")
	sb := startSecure(t, dir, p)

	t.Run("metadata before authentication", func(t *testing.T) {
		rc := dialRaw(t, sb.sasl)
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		av.ClientSoftwareName, av.ClientSoftwareVersion = "e2e", "1"
		rc.send(av)
		avr := kmsg.NewPtrApiVersionsResponse()
		avr.Version = 3
		if !rc.recv(avr) {
			t.Fatal("ApiVersions before authentication was not answered")
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 4
		rc.send(md)
		mr := kmsg.NewPtrMetadataResponse()
		mr.Version = 4
		if rc.recv(mr) {
			t.Fatal("Metadata before authentication was answered, want the connection closed")
		}
	})
	t.Run("wrong password closes", func(t *testing.T) {
		rc := dialRaw(t, sb.sasl)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		rc.send(hs)
		hr := kmsg.NewPtrSASLHandshakeResponse()
		hr.Version = 1
		if !rc.recv(hr) || hr.ErrorCode != 0 {
			t.Fatalf("handshake: %+v", hr)
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, []byte("\x00alice\x00wrong")
		rc.send(au)
		ar := kmsg.NewPtrSASLAuthenticateResponse()
		ar.Version = 1
		if !rc.recv(ar) || ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("authenticate: %+v, want SASL_AUTHENTICATION_FAILED", ar)
		}
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 4
		rc.send(md)
		if rc.recv(kmsg.NewPtrMetadataResponse()) {
			t.Fatal("connection still open after a failed authentication")
		}
	})
	t.Run("session lifetime", func(t *testing.T) {
		sb.stop()
		sb2 := startSecure(t, dir, p, "--sasl-max-reauth", "2s")
		rc := dialRaw(t, sb2.sasl)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "PLAIN"
		rc.send(hs)
		if !rc.recv(kmsg.NewPtrSASLHandshakeResponse()) {
			t.Fatal("handshake not answered")
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, []byte("\x00alice\x00"+alicePass)
		rc.send(au)
		ar := kmsg.NewPtrSASLAuthenticateResponse()
		ar.Version = 1
		if !rc.recv(ar) || ar.ErrorCode != 0 || ar.SessionLifetimeMillis != 2000 {
			t.Fatalf("authenticate: %+v, want success with a 2000 ms session", ar)
		}
		// franz-go re-authenticates before the lifetime ends and keeps working.
		cl := sb2.saslClient(t, sb2.sasl, false, scram256("alice", alicePass))
		for i := range 3 {
			if err := cl.Ping(context.Background()); err != nil {
				t.Fatalf("ping %d across re-authentication: %v", i, err)
			}
			time.Sleep(1500 * time.Millisecond)
		}
		// The raw connection did not re-authenticate: its next request closes it.
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 4
		rc.send(md)
		if rc.recv(kmsg.NewPtrMetadataResponse()) {
			t.Fatal("request after the session expired was answered, want the connection closed")
		}
	})
}

// TestSecurityACLs: with --allow-everyone-if-no-acl=false, alice is
// refused what no ACL allows, with the per-resource codes Kafka clients
// expect; the super user is allowed everything; DENY beats ALLOW; the ACLs
// survive a restart; an SSL client certificate's CN is the principal.
func TestSecurityACLs(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	usersCmd(t, dir, adminPass+"\n", "add", "admin")
	usersCmd(t, dir, alicePass+"\n", "add", "alice")
	sb := startSecure(t, dir, p, "--allow-everyone-if-no-acl=false")
	admCl := sb.saslClient(t, sb.sasl, false, scram256("admin", adminPass))
	adm := kadm.NewClient(admCl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, topic := range []string{"acl-open", "acl-secret", "acl-deny"} {
		if r, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("super user create %s: %v %v", topic, err, r.Err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").AllowHosts().
		Topics("acl-open").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead, kadm.OpWrite)
	prefixed := kadm.NewACLs().Allow("User:alice").AllowHosts().
		Topics("acl-d").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll)
	deny := kadm.NewACLs().Deny("User:alice").DenyHosts().
		Topics("acl-deny").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite)
	grp := kadm.NewACLs().Allow("User:alice").AllowHosts().
		Groups("alice-group").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead)
	certUser := kadm.NewACLs().Allow("User:certuser").AllowHosts().
		Topics("acl-secret").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpDescribe)
	for _, b := range []*kadm.ACLBuilder{acls, prefixed, deny, grp, certUser} {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create acl %+v: %v", r, r.Err)
			}
		}
	}

	alice := sb.saslClient(t, sb.saslSSL, true, scram512("alice", alicePass))
	aliceAdm := kadm.NewClient(alice)
	t.Run("allowed topic", func(t *testing.T) { roundTrip(t, alice, "acl-open", "alice") })
	t.Run("topic write denied", func(t *testing.T) {
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "acl-secret", Partition: 0, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce to acl-secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("deny wins over a prefixed allow", func(t *testing.T) {
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "acl-deny", Partition: 0, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce to acl-deny: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("topic read denied", func(t *testing.T) {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxWaitMillis, req.MaxBytes = 11, 10, 1<<20
		ids, err := adm.ListTopics(ctx, "acl-secret")
		if err != nil {
			t.Fatal(err)
		}
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = "acl-secret", ids["acl-secret"].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("fetch acl-secret: %+v, want TOPIC_AUTHORIZATION_FAILED", resp.Topics)
		}
	})
	t.Run("metadata hides topics", func(t *testing.T) {
		fresh := sb.saslClient(t, sb.saslSSL, true, scram512("alice", alicePass))
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, fresh) // null topics: all
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, mt := range resp.Topics {
			names = append(names, *mt.Topic)
			if mt.ErrorCode != 0 {
				t.Fatalf("all-topics metadata has an error for %s: %d", *mt.Topic, mt.ErrorCode)
			}
		}
		if slices.Contains(names, "acl-secret") || !slices.Contains(names, "acl-open") || !slices.Contains(names, "acl-deny") {
			t.Fatalf("alice sees %v, want acl-open and acl-deny, not acl-secret", names)
		}
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("acl-secret")
		req.Topics = append(req.Topics, rt)
		named, err := req.RequestWith(ctx, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if len(named.Topics) != 1 || named.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(named.Topics[0].Partitions) != 0 {
			t.Fatalf("metadata for acl-secret: %+v, want TOPIC_AUTHORIZATION_FAILED", named.Topics)
		}
	})
	t.Run("group read denied", func(t *testing.T) {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "other-group", "consumer", 10000, 10000
		req.MemberID = ""
		pr := kmsg.NewJoinGroupRequestProtocol()
		pr.Name = "range"
		req.Protocols = append(req.Protocols, pr)
		// franz-go first asks FindCoordinator (DESCRIBE on the group), refused the same way.
		resp, err := req.RequestWith(ctx, alice)
		if err == nil && resp.ErrorCode != 0 {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("join other-group: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		oc, err := aliceAdm.CommitOffsets(ctx, "other-group", kadm.OffsetsFromRecords(kgo.Record{Topic: "acl-open", Partition: 0, Offset: 0}))
		if err == nil {
			err = oc.Error()
		}
		if !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("commit for other-group: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
	})
	t.Run("group allowed", func(t *testing.T) {
		oc, err := aliceAdm.CommitOffsets(ctx, "alice-group", kadm.OffsetsFromRecords(kgo.Record{Topic: "acl-open", Partition: 0, Offset: 1}))
		if err == nil {
			err = oc.Error()
		}
		if err != nil {
			t.Fatalf("commit for alice-group: %v", err)
		}
	})
	t.Run("create topics needs cluster create", func(t *testing.T) {
		r, err := aliceAdm.CreateTopic(ctx, 1, 1, nil, "alice-new")
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("create topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		res, err := aliceAdm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("x").
			ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll))
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("create acls as alice: %+v, want CLUSTER_AUTHORIZATION_FAILED", res)
		}
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "admin-new"); err != nil {
			t.Fatalf("super user create topic: %v", err)
		}
	})
	t.Run("idempotent producer on an allowed topic only", func(t *testing.T) {
		// alice has WRITE on some topic, so InitProducerId is allowed (Kafka 3.0+).
		// The PLAINTEXT listener's anonymous user has none.
		anon := sb.client()
		err := anon.ProduceSync(ctx, &kgo.Record{Topic: "acl-open", Partition: 0, Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("anonymous produce: %v, want an authorization error", err)
		}
	})
	t.Run("ssl client certificate principal", func(t *testing.T) {
		cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg := sb.tlsConfig()
		cfg.Certificates = []tls.Certificate{cert}
		withCert, err := kgo.NewClient(kgo.SeedBrokers(sb.ssl), kgo.DialTLSConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer withCert.Close()
		td, err := kadm.NewClient(withCert).ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := td["acl-secret"]; !ok || len(td) != 1 {
			t.Fatalf("User:certuser sees %v, want only acl-secret", td.Names())
		}
		noCert, err := kgo.NewClient(kgo.SeedBrokers(sb.ssl), kgo.DialTLSConfig(sb.tlsConfig()))
		if err != nil {
			t.Fatal(err)
		}
		defer noCert.Close()
		td, err = kadm.NewClient(noCert).ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(td) != 0 {
			t.Fatalf("User:ANONYMOUS over SSL sees %v, want nothing", td.Names())
		}
	})
	t.Run("describe and delete with filters, durable", func(t *testing.T) {
		desc, err := adm.DescribeACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("acl-dx").
			ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny))
		if err != nil {
			t.Fatal(err)
		}
		if len(desc) != 1 || len(desc[0].Described) != 1 || desc[0].Described[0].Name != "acl-d" {
			t.Fatalf("describe MATCH acl-dx: %+v, want the prefixed acl-d entry", desc)
		}
		sb.stop()
		sb2 := startSecure(t, dir, p, "--allow-everyone-if-no-acl=false")
		adm2 := kadm.NewClient(sb2.saslClient(t, sb2.sasl, false, scram256("admin", adminPass)))
		all, err := adm2.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range all {
			n += len(d.Described)
		}
		if n != 6 { // READ+WRITE on acl-open, ALL on acl-d*, DENY WRITE, group READ, certuser DESCRIBE
			t.Fatalf("after restart %d ACLs, want 6: %+v", n, all)
		}
		del, err := adm2.DeleteACLs(ctx, kadm.NewACLs().Deny("User:alice").DenyHosts().Topics("acl-deny").
			ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAny))
		if err != nil {
			t.Fatal(err)
		}
		if len(del) != 1 || len(del[0].Deleted) != 1 {
			t.Fatalf("delete the DENY: %+v", del)
		}
		alice2 := sb2.saslClient(t, sb2.sasl, false, scram256("alice", alicePass))
		if err := alice2.ProduceSync(ctx, &kgo.Record{Topic: "acl-deny", Partition: 0, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce to acl-deny once the DENY is gone (prefixed ALLOW): %v", err)
		}
	})
}

// TestSecurityTLSReload: SIGHUP reloads the certificate files; new
// connections get the new certificate.
func TestSecurityTLSReload(t *testing.T) {
	p := newPKI(t)
	sb := startSecure(t, t.TempDir(), p)
	serial := func() int64 {
		c, err := tls.Dial("tcp", sb.ssl, sb.tlsConfig())
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 100 {
		t.Fatalf("serial %d, want 100", s)
	}
	p.issue(t, 101, "broker", true, p.certFile, p.keyFile)
	if err := sb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(sb.logTail(), "tls certificate reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged:\n%s", sb.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := serial(); s != 101 {
		t.Fatalf("serial %d after SIGHUP, want 101", s)
	}
}

// TestSecurityStockClients: kcat (librdkafka) and kafka-python produce and
// consume with SCRAM-SHA-256 and SCRAM-SHA-512 over SASL_SSL.
func TestSecurityStockClients(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	usersCmd(t, dir, alicePass+"\n", "add", "alice")
	sb := startSecure(t, dir, p)
	sb.createTopic("sec-stock", 1, nil)
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run("kcat/"+mech, func(t *testing.T) {
			kcat, err := exec.LookPath("kcat")
			if err != nil {
				t.Skip("kcat is not installed (apt-get install kcat; CI installs it via .ci/run)")
			}
			common := []string{"-b", sb.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
				"-X", "sasl.username=alice", "-X", "sasl.password=" + alicePass, "-X", "ssl.ca.location=" + p.caFile, "-t", "sec-stock"}
			var in bytes.Buffer
			for i := range 5 {
				fmt.Fprintf(&in, "kcat-%s-%d\n", mech, i)
			}
			prod := exec.Command(kcat, append(common, "-P", "-p", "0")...)
			prod.Stdin = &in
			if out, err := prod.CombinedOutput(); err != nil {
				t.Fatalf("kcat produce: %v\n%s", err, out)
			}
			cons := exec.Command(kcat, append(common, "-C", "-p", "0", "-o", "beginning", "-e", "-q")...)
			out, err := cons.CombinedOutput()
			if err != nil {
				t.Fatalf("kcat consume: %v\n%s", err, out)
			}
			if n := strings.Count(string(out), "kcat-"+mech+"-"); n != 5 {
				t.Fatalf("kcat read %d of 5 records:\n%s", n, out)
			}
			bad := exec.Command(kcat, "-b", sb.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms="+mech,
				"-X", "sasl.username=alice", "-X", "sasl.password=wrong", "-X", "ssl.ca.location="+p.caFile, "-L", "-m", "5")
			if out, err := bad.CombinedOutput(); err == nil {
				t.Fatalf("kcat with a wrong password listed metadata:\n%s", out)
			} else if !strings.Contains(string(out), "uthentication") {
				t.Fatalf("kcat wrong password: %s, want an authentication error", out)
			}
		})
		t.Run("kafka-python/"+mech, func(t *testing.T) {
			py := pythonWithKafkaOrSkip(t)
			script, _ := filepath.Abs("testdata/kafka_python_sasl.py")
			cmd := exec.Command(py, script, sb.saslSSL, "sec-stock", mech, "alice", alicePass, p.caFile, "5")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok 5") {
				t.Fatalf("kafka-python: %v\n%s", err, out)
			}
		})
	}
}

// pythonWithKafkaOrSkip returns a python with kafka-python, skipping the
// test when there is none.
func pythonWithKafkaOrSkip(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import kafka").Run() == nil {
			return path
		}
	}
	t.Skip("python3-kafka is not installed (apt-get install python3-kafka; CI installs it via .ci/run)")
	return ""
}
