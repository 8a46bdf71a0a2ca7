package kit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KafkaSecurity returns the franz-go options that connect to a secured cluster, read from
// the environment: KAFKA_TLS=true (TLS with KAFKA_TLS_CA's PEM roots, or the system roots),
// KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) with KAFKA_SASL_USERNAME and
// KAFKA_SASL_PASSWORD. With none of them set it returns no options (PLAINTEXT, the bundled
// broker's default). Every Kafka client of the platform takes these (Service.KafkaOpts does),
// so the same binaries run against our broker, Apache Kafka, Redpanda or a cloud cluster.
func (e Env) KafkaSecurity() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	useTLS := false
	if v := e("KAFKA_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS=%q: want true or false", v)
		}
		useTLS = b
	}
	if ca := e("KAFKA_TLS_CA"); ca != "" && !useTLS {
		return nil, fmt.Errorf("KAFKA_TLS_CA is set but KAFKA_TLS is not true")
	}
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := e("KAFKA_TLS_CA"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("KAFKA_TLS_CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("KAFKA_TLS_CA %s: no PEM certificates in it", ca)
			}
			cfg.RootCAs = pool
		}
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}).DialContext))
	}
	mech := e("KAFKA_SASL_MECHANISM")
	user, pass := e("KAFKA_SASL_USERNAME"), e("KAFKA_SASL_PASSWORD")
	if mech == "" {
		if user != "" || pass != "" {
			return nil, fmt.Errorf("KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD set without KAFKA_SASL_MECHANISM")
		}
		return opts, nil
	}
	if user == "" || pass == "" {
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM=%s needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD", mech)
	}
	var m sasl.Mechanism
	switch strings.ToUpper(mech) {
	case "PLAIN":
		m = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
	}
	return append(opts, kgo.SASL(m)), nil
}
