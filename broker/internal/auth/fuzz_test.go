package auth

import (
	"testing"
)

// FuzzParseClientFirst: never panics; an accepted message has a user and a
// nonce and its parts are substrings of the input.
func FuzzParseClientFirst(f *testing.F) {
	f.Add("n,,n=alice,r=abc")
	f.Add("y,a=alice,n=alice,r=abc")
	f.Add("n,,n=a=2Cb=3D,r=x")
	f.Add("p=tls-unique,,n=a,r=b")
	f.Add("n,,n=alice,r=abc,tokenauth=true")
	f.Add("")
	f.Fuzz(func(t *testing.T, msg string) {
		cf, err := ParseClientFirst(msg)
		if err != nil {
			return
		}
		if cf.User == "" || cf.Nonce == "" || cf.GS2Header+cf.Bare != msg {
			t.Fatalf("accepted %q as %+v", msg, cf)
		}
	})
}

// FuzzParseClientFinal: never panics; an accepted message has a proof.
func FuzzParseClientFinal(f *testing.F) {
	f.Add("c=biws,r=abcdef,p=AAAA")
	f.Add("c=biws,r=abc,p=")
	f.Add("c=biws,p=AAAA")
	f.Add(",p=")
	f.Fuzz(func(t *testing.T, msg string) {
		cf, err := ParseClientFinal(msg)
		if err != nil {
			return
		}
		if len(cf.Proof) == 0 || len(cf.WithoutProof) >= len(msg) {
			t.Fatalf("accepted %q as %+v", msg, cf)
		}
	})
}

// FuzzParsePlain: never panics; an accepted message names a user and a
// password.
func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("alice\x00alice\x00pw"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		user, pass, err := ParsePlain(msg)
		if err == nil && (user == "" || pass == "") {
			t.Fatalf("accepted %q", msg)
		}
	})
}

// FuzzScramConversation feeds arbitrary client messages to the server side:
// it never panics and never authenticates (no client knows the password).
func FuzzScramConversation(f *testing.F) {
	users, err := OpenUsers(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	if err := users.SetPassword("alice", "pw", MinIterations); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"), false)
	f.Add([]byte("n,,n=nobody,r=abc"), []byte("c=biws,r=abcxyz,p=AAAA"), true)
	f.Fuzz(func(t *testing.T, first, final []byte, sha512 bool) {
		mech := "SCRAM-SHA-256"
		if sha512 {
			mech = "SCRAM-SHA-512"
		}
		conv, _ := NewConversation(mech, users)
		if _, done, err := conv.Step(first); err != nil || done {
			return
		}
		if _, done, err := conv.Step(final); err == nil || done {
			t.Fatalf("authenticated with %q / %q", first, final)
		}
	})
}
