package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"path/filepath"
	"sort"
	"strings"
)

// Mechanism is a SCRAM mechanism a credential is kept for.
type Mechanism string

// The SCRAM mechanisms (RFC 7677 and its SHA-512 sibling). Their Kafka
// wire numbers (DescribeUserScramCredentials) are 1 and 2.
const (
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	ScramSHA512 Mechanism = "SCRAM-SHA-512"
)

// Mechanisms lists the SCRAM mechanisms in Kafka's wire order.
var Mechanisms = []Mechanism{ScramSHA256, ScramSHA512}

// MinIterations is the smallest SCRAM iteration count accepted (Kafka's
// minimum); DefaultIterations is what `users add` uses.
const (
	MinIterations     = 4096
	MaxIterations     = 16384 // Kafka's maximum
	DefaultIterations = 8192
)

// Errors returned by the user store.
var (
	// ErrNoUser: the user (or its credential for a mechanism) does not exist.
	ErrNoUser = errors.New("no such user")
	// ErrBadMechanism: a mechanism other than SCRAM-SHA-256/512.
	ErrBadMechanism = errors.New("unsupported SCRAM mechanism")
	// ErrBadIterations: an iteration count outside MinIterations..MaxIterations.
	ErrBadIterations = errors.New("SCRAM iterations out of range")
	// ErrBadName: an empty user name, or one with characters SASL cannot carry.
	ErrBadName = errors.New("bad user name")
)

// ParseMechanism returns the mechanism named s (case-insensitive).
func ParseMechanism(s string) (Mechanism, error) {
	for _, m := range Mechanisms {
		if strings.EqualFold(s, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrBadMechanism, s)
}

func (m Mechanism) hash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

// Credential is one user's SCRAM credential for one mechanism.
type Credential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// NewCredential salts password with a fresh random salt.
func NewCredential(m Mechanism, password string, iterations int) (Credential, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return Credential{}, fmt.Errorf("auth: salt: %w", err)
	}
	salted, err := SaltPassword(m, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return CredentialFromSalted(m, salt, salted, iterations)
}

// SaltPassword computes SCRAM's SaltedPassword, Hi(password, salt, i).
func SaltPassword(m Mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return nil, fmt.Errorf("%w: %d (want %d..%d)", ErrBadIterations, iterations, MinIterations, MaxIterations)
	}
	return pbkdf2.Key(m.hash(), password, salt, iterations, m.hash()().Size())
}

// CredentialFromSalted derives the stored credential from a salted password
// (what AlterUserScramCredentials carries).
func CredentialFromSalted(m Mechanism, salt, salted []byte, iterations int) (Credential, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return Credential{}, fmt.Errorf("%w: %d (want %d..%d)", ErrBadIterations, iterations, MinIterations, MaxIterations)
	}
	if len(salt) == 0 || len(salted) == 0 {
		return Credential{}, errors.New("auth: empty salt or salted password")
	}
	clientKey := hmacSum(m, salted, []byte("Client Key"))
	h := m.hash()()
	h.Write(clientKey)
	return Credential{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  h.Sum(nil),
		ServerKey:  hmacSum(m, salted, []byte("Server Key")),
	}, nil
}

func hmacSum(m Mechanism, key, msg []byte) []byte {
	mac := hmac.New(m.hash(), key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// checkPassword reports whether password matches c.
func (c Credential) checkPassword(m Mechanism, password string) bool {
	salted, err := SaltPassword(m, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	d, err := CredentialFromSalted(m, c.Salt, salted, c.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(d.StoredKey, c.StoredKey) == 1
}

type usersDoc struct {
	Version int                                 `json:"version"`
	Users   map[string]map[Mechanism]Credential `json:"users"`
}

// Users is the user store, users.json in the broker's data directory. It is
// safe for concurrent use, and for use by several processes (see the
// package doc).
type Users struct {
	f *jsonFile[usersDoc]
}

// UsersFile is the name of the users file in the data directory.
const UsersFile = "users.json"

// OpenUsers returns the user store of data directory dir (the file need not
// exist yet) and checks that an existing file is readable.
func OpenUsers(dir string) (*Users, error) {
	u := &Users{f: &jsonFile[usersDoc]{path: filepath.Join(dir, UsersFile), empty: func() usersDoc {
		return usersDoc{Version: 1, Users: map[string]map[Mechanism]Credential{}}
	}}}
	if _, err := u.f.get(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return u, nil
}

// ValidName checks a user name: non-empty, at most 255 bytes, no control
// characters, and no ',' or '=' (SCRAM would have to escape them; Kafka
// clients differ in whether they do).
func ValidName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, ",=") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}

// Set stores (adding or replacing) name's credential for m.
func (u *Users) Set(name string, m Mechanism, c Credential) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if _, err := ParseMechanism(string(m)); err != nil {
		return err
	}
	return u.f.update(func(d *usersDoc) error {
		if d.Users == nil {
			d.Users = map[string]map[Mechanism]Credential{}
		}
		if d.Users[name] == nil {
			d.Users[name] = map[Mechanism]Credential{}
		}
		d.Users[name][m] = c
		return nil
	})
}

// SetPassword stores credentials for every mechanism from password.
func (u *Users) SetPassword(name, password string, iterations int) error {
	if err := ValidName(name); err != nil {
		return err
	}
	creds := map[Mechanism]Credential{}
	for _, m := range Mechanisms {
		c, err := NewCredential(m, password, iterations)
		if err != nil {
			return err
		}
		creds[m] = c
	}
	return u.f.update(func(d *usersDoc) error {
		if d.Users == nil {
			d.Users = map[string]map[Mechanism]Credential{}
		}
		d.Users[name] = creds
		return nil
	})
}

// Delete removes name's credential for m, or (m empty) the whole user.
// ErrNoUser if there is none.
func (u *Users) Delete(name string, m Mechanism) error {
	return u.f.update(func(d *usersDoc) error {
		creds, ok := d.Users[name]
		if !ok {
			return fmt.Errorf("%w: %q", ErrNoUser, name)
		}
		if m == "" {
			delete(d.Users, name)
			return nil
		}
		if _, ok := creds[m]; !ok {
			return fmt.Errorf("%w: %q has no %s credential", ErrNoUser, name, m)
		}
		delete(creds, m)
		if len(creds) == 0 {
			delete(d.Users, name)
		}
		return nil
	})
}

// Lookup returns name's credential for m.
func (u *Users) Lookup(name string, m Mechanism) (Credential, bool, error) {
	d, err := u.f.get()
	if err != nil {
		return Credential{}, false, err
	}
	c, ok := d.Users[name][m]
	return c, ok, nil
}

// UserInfo is one user as List reports it.
type UserInfo struct {
	Name string
	// Iterations per mechanism the user has a credential for.
	Mechanisms map[Mechanism]int
}

// List returns every user, sorted by name.
func (u *Users) List() ([]UserInfo, error) {
	d, err := u.f.get()
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, 0, len(d.Users))
	for name, creds := range d.Users {
		ui := UserInfo{Name: name, Mechanisms: map[Mechanism]int{}}
		for m, c := range creds {
			ui.Mechanisms[m] = c.Iterations
		}
		out = append(out, ui)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CheckPlain reports whether password is name's password (against either
// SCRAM credential; SHA-512 first).
func (u *Users) CheckPlain(name, password string) (bool, error) {
	d, err := u.f.get()
	if err != nil {
		return false, err
	}
	creds := d.Users[name]
	for _, m := range []Mechanism{ScramSHA512, ScramSHA256} {
		if c, ok := creds[m]; ok {
			return c.checkPassword(m, password), nil
		}
	}
	return false, nil
}
