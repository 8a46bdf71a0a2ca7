package main

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/freshmart/platform/broker/internal/auth"
	"github.com/freshmart/platform/broker/internal/server"
)

// securityConfig opens the users and ACLs of the data dir, loads the TLS
// files and lists the secured listeners the flags ask for.
func securityConfig(cfg config) (*server.Security, *server.TLSFiles, []server.ListenerConfig, error) {
	users, err := auth.OpenUsers(cfg.dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	acls, err := auth.OpenACLs(cfg.dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	supers := map[string]bool{}
	for _, p := range strings.Split(cfg.superUsers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasPrefix(p, "User:") {
				return nil, nil, nil, fmt.Errorf("--super-users: %q is not a principal (User:<name>)", p)
			}
			supers[p] = true
		}
	}
	sec := &server.Security{
		Users: users,
		ACLs:  acls,
		Authorizer: &auth.Authorizer{ACLs: acls, SuperUsers: supers,
			AllowEveryoneIfNoACL: cfg.allowEveryoneIfNoACL},
		MaxReauth: cfg.saslMaxReauth,
	}
	var listeners []server.ListenerConfig
	for _, l := range []struct {
		addr, adv string
		p         server.Protocol
	}{{cfg.listenSASL, cfg.advSASL, server.SaslPlaintext}, {cfg.listenSSL, cfg.advSSL, server.SSL}, {cfg.listenSASLSSL, cfg.advSASLSSL, server.SaslSSL}} {
		if l.addr != "" {
			listeners = append(listeners, server.ListenerConfig{Addr: l.addr, AdvertisedAddr: l.adv, Protocol: l.p})
		}
	}
	if cfg.tlsCert == "" {
		return sec, nil, listeners, nil
	}
	tf := &server.TLSFiles{CertFile: cfg.tlsCert, KeyFile: cfg.tlsKey, ClientCAFile: cfg.tlsClientCA, ClientAuth: tls.VerifyClientCertIfGiven}
	if cfg.tlsClientAuth == "required" {
		tf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if err := tf.Load(); err != nil {
		return nil, nil, nil, err
	}
	sec.TLS = tf
	return sec, tf, listeners, nil
}
