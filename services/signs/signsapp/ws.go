package signsapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/hub"
	"github.com/freshmart/platform/services/signs"
)

// readLimit bounds a sign's frame (an ack is ~30 bytes).
const readLimit = 1024

func bearer(r *http.Request) string {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.TrimSpace(tok) != "" {
		return strings.TrimSpace(tok)
	}
	return r.URL.Query().Get("token")
}

func badParam(w http.ResponseWriter, param, msg string) {
	httpx.WriteProblem(w, httpx.Problem{Status: http.StatusBadRequest, Title: "Bad parameter",
		Detail: param + ": " + msg, Errors: []httpx.FieldError{{Field: param, Message: msg}}})
}

// serveWS is GET /v1/signs/ws: it checks the token and the parameters, then upgrades and
// serves the sign until it goes away.
func (a *App) serveWS(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="signs"`)
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusUnauthorized, Title: "Sign token required",
			Detail: "send the sign's token as Authorization: Bearer <token> or ?token=<token> (bin/pricing sign-token issues one)"})
		return
	}
	tokStore, sign, err := a.tokens.Lookup(r.Context(), tok)
	switch {
	case errors.Is(err, ErrUnknownToken), errors.Is(err, ErrRevokedToken):
		w.Header().Set("WWW-Authenticate", `Bearer realm="signs", error="invalid_token"`)
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusUnauthorized, Title: "Sign token refused",
			Detail: "the token is " + map[bool]string{true: "unknown", false: "revoked"}[errors.Is(err, ErrUnknownToken)]})
		return
	case err != nil:
		httpx.Unavailable(w, r, a.log, "Sign tokens unavailable", "the sign tokens", err)
		return
	}
	q := r.URL.Query()
	store := q.Get("store_id")
	st := a.stores[store]
	switch {
	case store == "":
		badParam(w, "store_id", "is required")
		return
	case st == nil:
		badParam(w, "store_id", fmt.Sprintf("unknown store %.20q", store))
		return
	case store != tokStore:
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusForbidden, Title: "Token of another store",
			Detail: fmt.Sprintf("this token belongs to a sign of store %s, not %s", tokStore, store)})
		return
	}
	skus, err := signs.Select(a.cfg.Catalog, q.Get("skus"), q.Get("aisle"))
	if err != nil {
		var pe *signs.ParamError
		if errors.As(err, &pe) {
			badParam(w, pe.Param, pe.Message)
			return
		}
		httpx.Error(w, r, a.log, err)
		return
	}
	since := int64(-1)
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			badParam(w, "since", "must be a version (a non-negative integer)")
			return
		}
		since = n
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: a.cfg.AllowedOrigins})
	if err != nil {
		return // Accept has answered
	}
	conn.SetReadLimit(readLimit)
	a.serveSign(conn, store, sign, skus, since)
}

// serveSign serves an upgraded sign in the background (the handler returns, so an idle sign
// costs the hub one goroutine, reading its acknowledgements): a snapshot (or the changes
// since), then an update whenever a SKU it shows changes, made from the view itself by
// hub.ServeOptions.Pull.
func (a *App) serveSign(conn *websocket.Conn, store, sign string, skus []string, since int64) {
	topics := make([]string, len(skus))
	for i, sku := range skus {
		topics[i] = topicOf(store, sku)
	}
	if !a.sessions.add() {
		_ = conn.Close(websocket.StatusGoingAway, "the hub is stopping; reconnect")
		return
	}
	// Subscribe before taking the first frame: a change folded after it wakes the sign, one
	// folded before is in it, so the sign misses and repeats nothing.
	client := a.hub.Subscribe(hub.ClientConfig{Topics: topics, Pulled: true})
	st := a.stores[store]
	a.mu.RLock()
	var first []byte
	if since >= 0 {
		first, _ = st.Since(skus, since, a.cfg.SinceWindow)
	} else {
		first = st.Snapshot(skus)
	}
	version := st.Version()
	a.mu.RUnlock()

	// sent is the version of the last frame written: the sign has been sent every change of
	// its SKUs up to it.
	var sent atomic.Int64
	sent.Store(version)
	lag := &unacked{max: a.cfg.MaxUnacked}
	rec := a.signs.connect(store, sign, skus)
	a.m.frames.Inc()
	var badFrame, tooFar atomic.Bool
	client.Go(a.sessions.ctx, conn, hub.ServeOptions{
		First:        [][]byte{first},
		WriteTimeout: a.cfg.WriteTimeout,
		PingInterval: a.cfg.PingInterval,
		Pull: func(dst []byte) ([]byte, error) {
			a.mu.RLock()
			f, v := st.AppendUpdates(dst, skus, sent.Load())
			a.mu.RUnlock()
			if len(f) == 0 {
				return nil, nil
			}
			if !lag.sent(v) {
				tooFar.Store(true)
				return nil, websocket.CloseError{Code: websocket.StatusTryAgainLater,
					Reason: fmt.Sprintf("too far behind: %d frames not acknowledged; reconnect with since", a.cfg.MaxUnacked)}
			}
			sent.Store(v)
			a.m.frames.Inc()
			return f, nil
		},
		OnMessage: func(_ context.Context, typ websocket.MessageType, data []byte) error {
			if typ != websocket.MessageText {
				badFrame.Store(true)
				return websocket.CloseError{Code: websocket.StatusUnsupportedData, Reason: "bad frame: binary; send {\"type\":\"ack\",\"version\":V}"}
			}
			ack, err := signs.ParseAck(data, sent.Load())
			if err != nil {
				badFrame.Store(true)
				return websocket.CloseError{Code: websocket.StatusPolicyViolation, Reason: err.Error()}
			}
			lag.acked(ack.Version)
			a.signs.ack(rec, ack.Version, sent.Load())
			return nil
		},
	}, func(err error) {
		defer a.sessions.done()
		a.signs.disconnect(rec)
		switch {
		case badFrame.Load():
			a.m.drops.WithLabelValues("bad_frame").Inc()
			a.log.Info("signs: closed a sign that sent a bad frame", "store_id", store, "sign", sign, "err", err)
		case tooFar.Load(), isWriteTimeout(err):
			a.m.drops.WithLabelValues("slow").Inc()
			a.log.Info("signs: dropped a slow sign", "store_id", store, "sign", sign, "err", err)
		}
	})
}

// sessions are the signs' websockets, served in the background: when the service stops they
// are closed with status 1001 (going away), and the service waits for them.
type sessions struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	stopping bool
	wg       sync.WaitGroup
}

func newSessions() *sessions {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessions{ctx: ctx, cancel: cancel}
}

// add counts a new session, or reports false when the service is stopping.
func (s *sessions) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *sessions) done() { s.wg.Done() }

// run waits for ctx to end, then closes every session and waits for them.
func (s *sessions) run(ctx context.Context) error {
	<-ctx.Done()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// unacked are the versions of the frames written to a sign after the last one it
// acknowledged: a sign that leaves more than max unacknowledged is too far behind.
type unacked struct {
	mu       sync.Mutex
	max      int
	versions []int64
}

// sent records a frame of version v and reports false when the sign is too far behind.
func (u *unacked) sent(v int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.versions = append(u.versions, v)
	return len(u.versions) <= u.max
}

// acked forgets the frames up to version v.
func (u *unacked) acked(v int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := 0
	for i < len(u.versions) && u.versions[i] <= v {
		i++
	}
	u.versions = append(u.versions[:0], u.versions[i:]...)
}

func isWriteTimeout(err error) bool {
	return errors.Is(err, hub.ErrWriteTimeout)
}

// signVersion is the version a sign showing skus of store must acknowledge to be up to date.
func (a *App) signVersion(store string, skus []string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.stores[store]; st != nil {
		return st.SignVersion(skus)
	}
	return 0
}

// now is the wall clock of acknowledgements and status (last seen, silent).
func now() time.Time { return time.Now().UTC() }
