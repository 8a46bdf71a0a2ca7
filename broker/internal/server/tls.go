package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// TLSFiles serves TLS from PEM files that can be reloaded (on SIGHUP, by
// the binary) without a restart: connections accepted after Reload get the
// new certificate (and client CA); open connections keep theirs.
type TLSFiles struct {
	// CertFile and KeyFile are the server's certificate chain and key.
	CertFile, KeyFile string
	// ClientCAFile, if set, holds the CAs client certificates are verified
	// against; ClientAuth says whether one is required
	// (tls.RequireAndVerifyClientCert) or optional (the default,
	// tls.VerifyClientCertIfGiven).
	ClientCAFile string
	ClientAuth   tls.ClientAuthType

	cur atomic.Pointer[tls.Config]
}

// Load reads the files; call it once before serving and again to reload. A
// failed reload keeps the previous certificate.
func (f *TLSFiles) Load() error {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", f.CertFile, f.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCAFile != "" {
		pem, err := os.ReadFile(f.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: client CA %s: no PEM certificates", f.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = f.ClientAuth
		if cfg.ClientAuth == tls.NoClientCert {
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	} else if f.ClientAuth == tls.RequireAndVerifyClientCert {
		return errors.New("tls: client certificates required but no client CA file given")
	}
	f.cur.Store(cfg)
	return nil
}

// Config returns a tls.Config that hands each new connection the most
// recently loaded certificate and client CA.
func (f *TLSFiles) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := f.cur.Load()
			if c == nil {
				return nil, errors.New("tls: no certificate loaded")
			}
			return c, nil
		},
	}
}
