package kit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/internal/brokerproc"
	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/schemas"
)

// writeServerCert writes a self-signed CA and a certificate for 127.0.0.1 it signed.
func writeServerCert(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kit test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kder}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// TestServiceOverSASLSSL: a kit.Service whose environment points at our broker's SASL_SSL
// listener (SCRAM-SHA-512, the test CA) produces with its producer and reads the record back
// with a group consumer built from KafkaOpts; a wrong password fails with
// SASL_AUTHENTICATION_FAILED.
func TestServiceOverSASLSSL(t *testing.T) {
	const payload = `{"complaint_id":"3f1c2a7e-5b8d-4c1e-9a2f-0d6e8b7c5a41","store_id":"S004","filed_at":"2026-11-21T14:03:07Z","channel":"app","category":"product_quality","severity":3,"sku":"PRD-0033","text":"The strawberries were mouldy."}`
	dir := t.TempDir()
	caFile, certFile, keyFile := writeServerCert(t, dir)
	b, err := brokerproc.StartArgs(brokerproc.FreshMart, filepath.Join(dir, "broker"),
		"--listen-sasl-ssl", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	addr := b.Listener("SASL_SSL")
	if addr == "" {
		t.Fatalf("no SASL_SSL listener in the broker log:\n%s", b.Log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The user, created over the loopback PLAINTEXT listener (no ACLs yet: allowed).
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	res, err := kadm.NewClient(plain).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "svc", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "svc-pw"}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create user: %v", err)
	}

	env := map[string]string{"KAFKA_BROKERS": addr, "KAFKA_TLS": "true", "KAFKA_TLS_CA": caFile,
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "svc-pw"}
	svc, err := kit.New(ctx, kit.Options{Name: "sectest", Producer: true, Env: kit.Map(env), LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	rec, err := svc.Producer.ProduceEnvelope(ctx, schemas.TopicCustomerComplaints, "store-1",
		events.Envelope{ID: "sec-1", Type: schemas.TypeComplaintFiled, Source: svc.Source, Time: time.Now().UTC()}, []byte(payload))
	if err != nil {
		t.Fatalf("produce over SASL_SSL: %v", err)
	}
	cons, err := kgo.NewClient(append(svc.KafkaOpts("consumer"), kgo.SeedBrokers(svc.Brokers...),
		kgo.ConsumerGroup("sectest"), kgo.ConsumeTopics(schemas.TopicCustomerComplaints),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for found := false; !found; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("record not consumed over SASL_SSL within 60 s")
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			found = found || (r.Partition == rec.Partition && r.Offset == rec.Offset && string(r.Value) == payload)
		})
	}

	env["KAFKA_SASL_PASSWORD"] = "wrong"
	bad, err := kit.New(ctx, kit.Options{Name: "sectest-bad", Producer: true, Env: kit.Map(env), LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Producer.Client().Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}

func TestKafkaSecurityEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		n       int
		wantErr bool
	}{
		{"none", nil, 0, false},
		{"tls with system roots", map[string]string{"KAFKA_TLS": "true"}, 1, false},
		{"scram", map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, 1, false},
		{"plain over tls", map[string]string{"KAFKA_TLS": "1", "KAFKA_SASL_MECHANISM": "plain", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, 2, false},
		{"bad mechanism", map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, 0, true},
		{"no password", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"}, 0, true},
		{"user without mechanism", map[string]string{"KAFKA_SASL_USERNAME": "u"}, 0, true},
		{"bad bool", map[string]string{"KAFKA_TLS": "yes please"}, 0, true},
		{"ca without tls", map[string]string{"KAFKA_TLS_CA": "/x.pem"}, 0, true},
		{"missing ca", map[string]string{"KAFKA_TLS": "true", "KAFKA_TLS_CA": "/nonexistent.pem"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := kit.Map(tc.env).KafkaSecurity()
			if (err != nil) != tc.wantErr || len(opts) != tc.n {
				t.Fatalf("%d options, error %v; want %d, error %v", len(opts), err, tc.n, tc.wantErr)
			}
		})
	}
}
