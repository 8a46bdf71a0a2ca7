package signsapp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/services/catalog"
)

// Token errors.
var (
	// ErrUnknownToken: no sign was ever issued this token (401).
	ErrUnknownToken = errors.New("unknown sign token")
	// ErrRevokedToken: the token was revoked, or replaced by a newer one for its sign (401).
	ErrRevokedToken = errors.New("revoked sign token")
)

// tokenPrefix starts every token, so one found in a log or a URL is recognisable.
const tokenPrefix = "sgn_"

var signNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Tokens issues, checks and revokes sign tokens (table signs.tokens). A token is tokenPrefix
// and 32 random bytes in base64url; only its SHA-256 is stored (a token has 256 bits of
// entropy, so a fast hash is enough: nothing can be guessed from it).
type Tokens struct {
	pool *pgxpool.Pool
	cat  *catalog.Catalog
}

// NewTokens returns the token store on pool.
func NewTokens(pool *pgxpool.Pool, cat *catalog.Catalog) *Tokens {
	return &Tokens{pool: pool, cat: cat}
}

// TokenInfo is one issued token, without the token.
type TokenInfo struct {
	StoreID   string     `json:"store_id"`
	Sign      string     `json:"sign"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func (t *Tokens) check(store, sign string) error {
	if _, err := t.cat.Store(store); err != nil {
		return fmt.Errorf("store %q is not in the catalog", store)
	}
	if !signNameRe.MatchString(sign) {
		return fmt.Errorf("sign name %q: use 1-64 letters, digits, '.', '_' or '-'", sign)
	}
	return nil
}

// Issue returns a new token for sign of store, revoking the sign's previous token.
func (t *Tokens) Issue(ctx context.Context, store, sign string) (string, error) {
	if err := t.check(store, sign); err != nil {
		return "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("signs: token: %w", err)
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE signs.tokens SET revoked_at = now() WHERE store_id = $1 AND sign = $2 AND revoked_at IS NULL`, store, sign); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO signs.tokens (token_hash, store_id, sign) VALUES ($1, $2, $3)`, hashToken(tok), store, sign)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("signs: issue token: %w", err)
	}
	return tok, nil
}

// Revoke revokes the live token of sign of store and reports whether there was one.
func (t *Tokens) Revoke(ctx context.Context, store, sign string) (bool, error) {
	if err := t.check(store, sign); err != nil {
		return false, err
	}
	tag, err := t.pool.Exec(ctx, `UPDATE signs.tokens SET revoked_at = now() WHERE store_id = $1 AND sign = $2 AND revoked_at IS NULL`, store, sign)
	if err != nil {
		return false, fmt.Errorf("signs: revoke token: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// List returns the tokens of store ("" for every store), live and revoked, by store and sign.
func (t *Tokens) List(ctx context.Context, store string) ([]TokenInfo, error) {
	rows, err := t.pool.Query(ctx, `SELECT store_id, sign, created_at, revoked_at FROM signs.tokens
		WHERE $1 = '' OR store_id = $1 ORDER BY store_id, sign, created_at`, store)
	if err != nil {
		return nil, fmt.Errorf("signs: list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TokenInfo, error) {
		var i TokenInfo
		err := r.Scan(&i.StoreID, &i.Sign, &i.CreatedAt, &i.RevokedAt)
		return i, err
	})
	if err != nil {
		return nil, fmt.Errorf("signs: list tokens: %w", err)
	}
	return out, nil
}

// Lookup returns the store and sign of a live token, ErrUnknownToken or ErrRevokedToken.
func (t *Tokens) Lookup(ctx context.Context, tok string) (store, sign string, err error) {
	var revoked *time.Time
	err = t.pool.QueryRow(ctx, `SELECT store_id, sign, revoked_at FROM signs.tokens WHERE token_hash = $1`, hashToken(tok)).
		Scan(&store, &sign, &revoked)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", "", ErrUnknownToken
	case err != nil:
		return "", "", fmt.Errorf("signs: look up token: %w", err)
	case revoked != nil:
		return "", "", ErrRevokedToken
	}
	return store, sign, nil
}

// Commands are the sign subcommands of the binary that mounts the hub (bin/pricing):
//
//	sign-token --store S001 --sign NAME           issue a token (printed alone on stdout)
//	sign-token --store S001 --sign NAME --revoke  revoke the sign's token
//	sign-token --list [--store S001]              list the tokens issued
//
// They read DATABASE_URL (required) and exit 0, 1 on a failure (or nothing to revoke) and 2
// on bad arguments.
var Commands = kit.Commands{
	"sign-token": func(args []string) int {
		return SignToken(context.Background(), kit.OS, args, os.Stdout, os.Stderr)
	},
}

// SignToken is the sign-token command, reading its configuration from env.
func SignToken(ctx context.Context, env kit.Env, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sign-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "the sign's store, e.g. S001")
	sign := fs.String("sign", "", "the sign's name, e.g. aisle-3-left")
	revoke := fs.Bool("revoke", false, "revoke the sign's token instead of issuing one")
	list := fs.Bool("list", false, "list the tokens issued (of --store, or every store)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (!*list && (*store == "" || *sign == "")) || (*list && (*revoke || *sign != "")) {
		fmt.Fprintln(stderr, "usage: sign-token --store S001 --sign NAME [--revoke] | sign-token --list [--store S001]")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := kit.New(ctx, kit.Options{Name: "pricing", Database: true, Env: env, LogOutput: stderr})
	if err != nil {
		fmt.Fprintln(stderr, "sign-token:", err)
		return 1
	}
	defer s.Close()
	cat, err := catalog.Load()
	if err != nil {
		fmt.Fprintln(stderr, "sign-token:", err)
		return 1
	}
	t := NewTokens(s.Pool, cat)
	if !*list {
		if err := t.check(*store, *sign); err != nil {
			fmt.Fprintln(stderr, "sign-token:", err)
			return 2
		}
	}
	switch {
	case *list:
		infos, err := t.List(ctx, *store)
		if err != nil {
			fmt.Fprintln(stderr, "sign-token:", err)
			return 1
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "STORE\tSIGN\tISSUED\tREVOKED")
		for _, i := range infos {
			rev := "-"
			if i.RevokedAt != nil {
				rev = i.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", i.StoreID, i.Sign, i.CreatedAt.UTC().Format(time.RFC3339), rev)
		}
		_ = w.Flush()
		return 0
	case *revoke:
		ok, err := t.Revoke(ctx, *store, *sign)
		if err != nil {
			fmt.Fprintln(stderr, "sign-token:", err)
			return 1
		}
		if !ok {
			fmt.Fprintf(stderr, "sign-token: %s/%s has no live token\n", *store, *sign)
			return 1
		}
		fmt.Fprintf(stderr, "revoked the token of %s/%s\n", *store, *sign)
		return 0
	}
	tok, err := t.Issue(ctx, *store, *sign)
	if err != nil {
		fmt.Fprintln(stderr, "sign-token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
