package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SASL mechanism names as clients send them in SaslHandshake.
const (
	MechPlain = "PLAIN"
)

// SupportedMechanisms lists the SASL mechanisms the broker offers.
var SupportedMechanisms = []string{MechPlain, string(ScramSHA256), string(ScramSHA512)}

// ErrAuthFailed is returned by a Conversation when the client's
// credentials are wrong (or malformed); the message wrapped with it is safe
// to send to the client (it never says whether the user exists).
var ErrAuthFailed = errors.New("authentication failed")

// Conversation is one SASL exchange on a connection: the server's side of
// a mechanism, fed the client's messages in order.
type Conversation interface {
	// Step consumes the client's next message and returns the server's
	// answer; done is true once the client is authenticated. An error
	// (wrapping ErrAuthFailed for bad credentials) ends the exchange.
	Step(msg []byte) (resp []byte, done bool, err error)
	// User is the authenticated user name once done.
	User() string
}

// NewConversation starts mechanism mech (one of SupportedMechanisms,
// case-sensitive as Kafka's) against users.
func NewConversation(mech string, users *Users) (Conversation, error) {
	switch mech {
	case MechPlain:
		return &plainConv{users: users}, nil
	case string(ScramSHA256), string(ScramSHA512):
		return &scramConv{users: users, mech: Mechanism(mech)}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrBadMechanism, mech)
}

// ParsePlain splits a PLAIN message (RFC 4616: authzid NUL authcid NUL
// passwd). An authzid, if given, must equal the user (no impersonation).
func ParsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN message has %d fields, want 3", ErrAuthFailed, len(parts))
	}
	authz, authc, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authc == "" || pass == "" {
		return "", "", fmt.Errorf("%w: PLAIN: empty user name or password", ErrAuthFailed)
	}
	if authz != "" && authz != authc {
		return "", "", fmt.Errorf("%w: PLAIN: authorization id %q differs from user %q", ErrAuthFailed, authz, authc)
	}
	return authc, pass, nil
}

type plainConv struct {
	users *Users
	user  string
}

func (p *plainConv) Step(msg []byte) ([]byte, bool, error) {
	if p.user != "" {
		return nil, false, fmt.Errorf("%w: PLAIN takes one message", ErrAuthFailed)
	}
	user, pass, err := ParsePlain(msg)
	if err != nil {
		return nil, false, err
	}
	ok, err := p.users.CheckPlain(user, pass)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, fmt.Errorf("%w: invalid user name or password", ErrAuthFailed)
	}
	p.user = user
	return nil, true, nil
}

func (p *plainConv) User() string { return p.user }

// ClientFirst is a parsed SCRAM client-first message (RFC 5802 section 7).
type ClientFirst struct {
	GS2Header string // "n,," or "y,," plus the authzid, verbatim
	Bare      string // client-first-message-bare, verbatim
	User      string // unescaped
	Nonce     string
}

// ParseClientFirst parses a client-first message. Channel binding ("p=")
// is refused; extensions after the nonce (Kafka's tokenauth) are refused
// too, since delegation tokens are not supported.
func ParseClientFirst(msg string) (ClientFirst, error) {
	var cf ClientFirst
	bad := func(why string) (ClientFirst, error) {
		return ClientFirst{}, fmt.Errorf("%w: SCRAM client-first: %s", ErrAuthFailed, why)
	}
	if len(msg) < 3 {
		return bad("too short")
	}
	switch msg[0] {
	case 'n', 'y':
		if msg[1] != ',' {
			return bad("bad gs2 header")
		}
	case 'p':
		return bad("channel binding is not supported")
	default:
		return bad("bad gs2 header")
	}
	i := strings.IndexByte(msg[2:], ',')
	if i < 0 {
		return bad("bad gs2 header")
	}
	authz := msg[2 : 2+i]
	cf.GS2Header = msg[:2+i+1]
	cf.Bare = msg[2+i+1:]
	if authz != "" {
		if !strings.HasPrefix(authz, "a=") {
			return bad("bad authzid")
		}
	}
	attrs := strings.Split(cf.Bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return bad("want n=<user>,r=<nonce>")
	}
	if len(attrs) > 2 {
		return bad("extensions are not supported")
	}
	user, err := unescapeName(attrs[0][2:])
	if err != nil {
		return bad(err.Error())
	}
	if authz != "" {
		az, err := unescapeName(authz[2:])
		if err != nil || az != user {
			return bad("authorization id differs from user")
		}
	}
	cf.User, cf.Nonce = user, attrs[1][2:]
	if user == "" || cf.Nonce == "" || !printable(cf.Nonce) {
		return bad("empty user or bad nonce")
	}
	return cf, nil
}

// ClientFinal is a parsed SCRAM client-final message.
type ClientFinal struct {
	ChannelBinding string // base64 of the gs2 header
	Nonce          string
	Proof          []byte
	WithoutProof   string // client-final-message-without-proof, verbatim
}

// ParseClientFinal parses a client-final message.
func ParseClientFinal(msg string) (ClientFinal, error) {
	bad := func(why string) (ClientFinal, error) {
		return ClientFinal{}, fmt.Errorf("%w: SCRAM client-final: %s", ErrAuthFailed, why)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return bad("no proof")
	}
	var cf ClientFinal
	cf.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return bad("bad proof encoding")
	}
	cf.Proof = proof
	attrs := strings.Split(cf.WithoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return bad("want c=<binding>,r=<nonce>,p=<proof>")
	}
	if len(attrs) > 2 {
		return bad("extensions are not supported")
	}
	cf.ChannelBinding, cf.Nonce = attrs[0][2:], attrs[1][2:]
	return cf, nil
}

func unescapeName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape in user name")
		}
		i += 2
	}
	return b.String(), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

type scramConv struct {
	users *Users
	mech  Mechanism
	step  int

	first       ClientFirst
	cred        Credential
	known       bool
	serverFirst string
	nonce       string
	user        string
}

func (s *scramConv) Step(msg []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step++
		cf, err := ParseClientFirst(string(msg))
		if err != nil {
			return nil, false, err
		}
		s.first = cf
		cred, ok, err := s.users.Lookup(cf.User, s.mech)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			// Go on with a made-up credential so that an unknown user fails
			// at the same step, with the same message, as a wrong password.
			cred = Credential{Salt: make([]byte, 32), Iterations: MinIterations}
			rand.Read(cred.Salt)
		}
		s.cred, s.known = cred, ok
		var raw [24]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return nil, false, fmt.Errorf("auth: nonce: %w", err)
		}
		s.nonce = cf.Nonce + base64.RawStdEncoding.EncodeToString(raw[:])
		s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
		return []byte(s.serverFirst), false, nil
	case 1:
		s.step++
		fin, err := ParseClientFinal(string(msg))
		if err != nil {
			return nil, false, err
		}
		if fin.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.first.GS2Header)) {
			return nil, false, fmt.Errorf("%w: SCRAM: channel binding does not match the gs2 header", ErrAuthFailed)
		}
		// Kafka accepts a final nonce that ends with the server's (librdkafka
		// 2.0 sends its own nonce again in front); the proof covers it anyway.
		if !strings.HasSuffix(fin.Nonce, s.nonce) {
			return nil, false, fmt.Errorf("%w: SCRAM: nonce mismatch", ErrAuthFailed)
		}
		authMsg := []byte(s.first.Bare + "," + s.serverFirst + "," + fin.WithoutProof)
		sig := hmacSum(s.mech, s.cred.StoredKey, authMsg)
		if !s.known || len(fin.Proof) != len(sig) {
			return nil, false, fmt.Errorf("%w: invalid user name or password", ErrAuthFailed)
		}
		clientKey := make([]byte, len(sig))
		for i := range sig {
			clientKey[i] = fin.Proof[i] ^ sig[i]
		}
		h := s.mech.hash()()
		h.Write(clientKey)
		if subtle.ConstantTimeCompare(h.Sum(nil), s.cred.StoredKey) != 1 {
			return nil, false, fmt.Errorf("%w: invalid user name or password", ErrAuthFailed)
		}
		serverSig := hmac.New(s.mech.hash(), s.cred.ServerKey)
		serverSig.Write(authMsg)
		s.user = s.first.User
		return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig.Sum(nil))), true, nil
	}
	return nil, false, fmt.Errorf("%w: SCRAM exchange already finished", ErrAuthFailed)
}

func (s *scramConv) User() string { return s.user }
