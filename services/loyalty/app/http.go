package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/freshmart/platform/internal/events"
	"github.com/freshmart/platform/internal/httpx"
	"github.com/freshmart/platform/internal/kit"
	"github.com/freshmart/platform/internal/stream"
	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/loyalty"
)

// MaxBody is the largest request body accepted (16 KiB); larger bodies get 413.
const MaxBody = 16 << 10

// LedgerRows is how many ledger rows GET /v1/members answers, newest first.
const LedgerRows = 20

// MaxRedeem is the most points one redemption may take.
const MaxRedeem = 10_000_000

// loyaltyIDPattern is what a card id in a path may be (sale.completed allows 1 to 64
// characters; the cards the registers scan are letters, digits and dashes).
var loyaltyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (a *App) routes(s *kit.Service) {
	r := s.Router
	r.Get("/v1/members/{loyalty_id}", a.getMember)
	r.Post("/v1/members/{loyalty_id}/redeem", a.redeem)
	r.Get("/v1/rules", a.listRules)
	r.Post("/v1/rules", a.postRule)
	r.Get("/v1/stores/{store_id}/points", a.storePoints)
}

// LedgerRow is one ledger row as GET /v1/members answers it.
type LedgerRow struct {
	EntryID      int64     `json:"entry_id"`
	Kind         string    `json:"kind"`
	Points       int64     `json:"points"`
	At           time.Time `json:"at"`
	SaleID       string    `json:"sale_id,omitempty"`
	RuleID       string    `json:"rule_id,omitempty"`
	Lines        []int     `json:"lines,omitempty"`
	StoreID      string    `json:"store_id,omitempty"`
	RedemptionID string    `json:"redemption_id,omitempty"`
}

// Member is the answer of GET /v1/members/{loyalty_id}.
type Member struct {
	LoyaltyID     string      `json:"loyalty_id"`
	PointsBalance int64       `json:"points_balance"`
	Tier          string      `json:"tier"`
	Points12m     int64       `json:"points_12m"`
	Ledger        []LedgerRow `json:"ledger"`
}

// querier is what the reads need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func badID(id string) error {
	if !loyaltyIDPattern.MatchString(id) {
		var fe httpx.FieldErrors
		fe.Add("loyalty_id", "must be 1 to 64 letters, digits, dots, dashes or underscores")
		return fe.Err()
	}
	return nil
}

// getMember answers the member's balance, tier, 12-month points and last LedgerRows rows; a
// card never seen is a member with nothing yet (200, zero points, the lowest tier).
func (a *App) getMember(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "loyalty_id")
	if err := badID(id); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	m, err := readMember(r.Context(), a.pool, Schema, id, LedgerRows)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Loyalty database unavailable", "the member", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, m)
}

func readMember(ctx context.Context, q querier, schema, id string, limit int) (Member, error) {
	sch := pgx.Identifier{schema}.Sanitize()
	m := Member{LoyaltyID: id, Ledger: []LedgerRow{}}
	err := q.QueryRow(ctx, `SELECT balance, points_12m, tier FROM `+sch+`.members WHERE loyalty_id = $1`, id).
		Scan(&m.PointsBalance, &m.Points12m, &m.Tier)
	if errors.Is(err, pgx.ErrNoRows) {
		tiers, err := loadTiers(ctx, q)
		if err != nil {
			return m, err
		}
		m.Tier = loyalty.TierFor(0, tiers)
		return m, nil
	}
	if err != nil {
		return m, err
	}
	rows, err := q.Query(ctx, `SELECT entry_id, kind, points, at, coalesce(sale_id::text, ''), coalesce(rule_id, ''), lines,
			coalesce(store_id, ''), coalesce(redemption_id::text, '')
		FROM `+sch+`.ledger WHERE loyalty_id = $1 ORDER BY entry_id DESC LIMIT $2`, id, limit)
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var l LedgerRow
		var lines []int32
		if err := rows.Scan(&l.EntryID, &l.Kind, &l.Points, &l.At, &l.SaleID, &l.RuleID, &lines, &l.StoreID, &l.RedemptionID); err != nil {
			return m, err
		}
		l.Lines, l.At = fromInt32(lines), l.At.UTC()
		m.Ledger = append(m.Ledger, l)
	}
	return m, rows.Err()
}

// redeemRequest is the body of POST /v1/members/{loyalty_id}/redeem.
type redeemRequest struct {
	Points       int64  `json:"points"`
	RedemptionID string `json:"redemption_id"`
}

// errShort and errReused are the 409 answers of a redemption.
var (
	errShort  = errors.New("balance too short")
	errReused = errors.New("redemption id reused")
)

// redeem takes points off the member's balance once per redemption_id: see the package doc.
func (a *App) redeem(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "loyalty_id")
	var bad httpx.FieldErrors
	if !loyaltyIDPattern.MatchString(id) {
		bad.Add("loyalty_id", "must be 1 to 64 letters, digits, dots, dashes or underscores")
	}
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var req redeemRequest
	if err := httpx.Decode(body, &req); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields)
	switch _, ok := fields["points"]; {
	case !ok:
		bad.Add("points", "is required")
	case req.Points < 1 || req.Points > MaxRedeem:
		bad.Add("points", "must be a whole number from 1 to %d", MaxRedeem)
	}
	if u, err := uuid.Parse(req.RedemptionID); err != nil || len(req.RedemptionID) != 36 {
		bad.Add("redemption_id", "must be a UUID, chosen by the caller and sent again on a retry")
	} else {
		req.RedemptionID = u.String()
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	res, err := a.doRedeem(r.Context(), id, req)
	switch {
	case errors.Is(err, errShort):
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusConflict, Title: "Balance too short", Detail: err.Error()})
	case errors.Is(err, errReused):
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusConflict, Title: "Redemption id already used", Detail: err.Error()})
	case err != nil:
		httpx.Unavailable(w, r, a.log, "Loyalty database unavailable", "the member's balance", err)
	default:
		httpx.WriteJSON(w, http.StatusOK, res)
	}
}

// doRedeem is the redemption's transaction.
func (a *App) doRedeem(ctx context.Context, id string, req redeemRequest) (schemas.LoyaltyRedeemed, error) {
	var res schemas.LoyaltyRedeemed
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO loyalty.members (loyalty_id) VALUES ($1) ON CONFLICT DO NOTHING`, id); err != nil {
			return err
		}
		var balance int64
		if err := tx.QueryRow(ctx, `SELECT balance FROM loyalty.members WHERE loyalty_id = $1 FOR UPDATE`, id).Scan(&balance); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT loyalty_id, points, balance_after, redeemed_at FROM loyalty.redemptions WHERE redemption_id = $1`,
			req.RedemptionID).Scan(&res.LoyaltyID, &res.Points, &res.BalanceAfter, &res.RedeemedAt)
		if err == nil {
			res.RedemptionID, res.RedeemedAt = req.RedemptionID, res.RedeemedAt.UTC()
			if res.LoyaltyID != id || res.Points != req.Points {
				return fmt.Errorf("%w: redemption %s took %d points from %s; use a new redemption_id for another redemption",
					errReused, req.RedemptionID, res.Points, res.LoyaltyID)
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if balance < req.Points {
			return fmt.Errorf("%w: %s has %d points, %d asked; nothing was taken", errShort, id, balance, req.Points)
		}
		res = schemas.LoyaltyRedeemed{RedemptionID: req.RedemptionID, LoyaltyID: id, Points: req.Points,
			BalanceAfter: balance - req.Points, RedeemedAt: a.cfg.Clock.Now().UTC().Truncate(time.Microsecond)}
		if err := recordRedemption(ctx, tx, Schema, res); err != nil {
			return err
		}
		if err := appendOutbox(ctx, tx, a.source, res); err != nil {
			return err
		}
		return refreshOne(ctx, tx, a.folder, id, a.cfg.Clock.Now())
	})
	if err == nil && res.RedeemedAt.Equal(a.cfg.Clock.Now().UTC().Truncate(time.Microsecond)) {
		a.m.points.WithLabelValues("redeemed").Add(float64(res.Points))
	}
	return res, err
}

// recordRedemption writes a redemption's ledger row and row and takes its points off the
// balance: the live service's redemption and the rebuild's replay of loyalty.redeemed.
func recordRedemption(ctx context.Context, tx pgx.Tx, schema string, res schemas.LoyaltyRedeemed) error {
	sch := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `INSERT INTO `+sch+`.ledger (loyalty_id, kind, redemption_id, points, at, counts_at)
		VALUES ($1, 'redeem', $2, $3, $4, $4)`, res.LoyaltyID, res.RedemptionID, -res.Points, res.RedeemedAt); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+sch+`.redemptions (redemption_id, loyalty_id, points, balance_after, redeemed_at)
		VALUES ($1, $2, $3, $4, $5)`, res.RedemptionID, res.LoyaltyID, res.Points, res.BalanceAfter, res.RedeemedAt); err != nil {
		return fmt.Errorf("redemption: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+sch+`.members (loyalty_id, balance) VALUES ($1, $2)
		ON CONFLICT (loyalty_id) DO UPDATE SET balance = `+sch+`.members.balance + EXCLUDED.balance`, res.LoyaltyID, -res.Points); err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	return nil
}

// appendOutbox queues the loyalty.redeemed event (its id the redemption's) in the outbox, in
// the redemption's transaction, and wakes the relay.
func appendOutbox(ctx context.Context, tx pgx.Tx, source string, res schemas.LoyaltyRedeemed) error {
	value, err := json.Marshal(res)
	if err != nil {
		return err
	}
	env := events.Envelope{ID: res.RedemptionID, Type: schemas.TypeLoyaltyRedeemed, Source: source, Time: res.RedeemedAt}
	if err := events.Check(env, value); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	headers := map[string]string{}
	for _, h := range env.Headers() {
		headers[h.Key] = string(h.Value)
	}
	hj, err := json.Marshal(headers)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO loyalty.outbox (topic, key, headers, value) VALUES ($1, $2, $3, $4)`,
		schemas.TopicLoyalty, []byte(res.LoyaltyID), hj, value); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, stream.NotifyChannel(Schema)); err != nil {
		return fmt.Errorf("outbox: notify: %w", err)
	}
	return nil
}

func refreshOne(ctx context.Context, tx pgx.Tx, f *folder, id string, now time.Time) error {
	return f.refresh(ctx, tx, []string{id}, now)
}

// RuleJSON is a rule as the rules API reads and writes it.
type RuleJSON struct {
	RuleID          string   `json:"rule_id"`
	Kind            string   `json:"kind"`
	Name            string   `json:"name,omitempty"`
	PointsPerDollar int64    `json:"points_per_dollar,omitempty"`
	MultiplierPct   int64    `json:"multiplier_pct,omitempty"`
	Department      string   `json:"department,omitempty"`
	PromoID         string   `json:"promo_id,omitempty"`
	SKUs            []string `json:"skus,omitempty"`
	Stores          []string `json:"stores,omitempty"`
	EffectiveFrom   string   `json:"effective_from"`
	EffectiveUntil  string   `json:"effective_until,omitempty"`
}

func (j RuleJSON) rule() loyalty.Rule {
	return loyalty.Rule{ID: j.RuleID, Kind: j.Kind, Name: j.Name, PointsPerDollar: j.PointsPerDollar, MultiplierPct: j.MultiplierPct,
		Department: j.Department, PromoID: j.PromoID, SKUs: j.SKUs, Stores: j.Stores, From: j.EffectiveFrom, Until: j.EffectiveUntil}
}

func ruleJSON(r loyalty.Rule) RuleJSON {
	return RuleJSON{RuleID: r.ID, Kind: r.Kind, Name: r.Name, PointsPerDollar: r.PointsPerDollar, MultiplierPct: r.MultiplierPct,
		Department: r.Department, PromoID: r.PromoID, SKUs: r.SKUs, Stores: r.Stores, EffectiveFrom: r.From, EffectiveUntil: r.Until}
}

// listRules answers every rule, by id.
func (a *App) listRules(w http.ResponseWriter, r *http.Request) {
	rules, err := loadRules(r.Context(), a.pool)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Loyalty database unavailable", "the rules", err)
		return
	}
	out := make([]RuleJSON, len(rules))
	for i, ru := range rules {
		out[i] = ruleJSON(ru)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"rules": out})
}

// latestDay is the latest local date of now among the stores: a new rule must start after it.
func (a *App) latestDay(now time.Time) string {
	latest := now.UTC().Format(time.DateOnly)
	for _, st := range a.cfg.Catalog.Stores() {
		if d := a.folder.day(st.StoreID, now); d > latest {
			latest = d
		}
	}
	return latest
}

// postRule adds a rule (201 with the rule); 409 when its id exists.
func (a *App) postRule(w http.ResponseWriter, r *http.Request) {
	body, err := httpx.ReadBody(w, r, MaxBody)
	if err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var j RuleJSON
	if err := httpx.Decode(body, &j); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	ru := j.rule()
	var bad httpx.FieldErrors
	for _, fe := range ru.Validate() {
		bad.Add(fe.Field, "%s", fe.Message)
	}
	cat := a.cfg.Catalog
	if ru.Department != "" {
		if _, err := cat.Department(ru.Department); err != nil {
			bad.Add("department", "unknown department %q", ru.Department)
		}
	}
	for i, sku := range ru.SKUs {
		if _, err := cat.Product(sku); err != nil {
			bad.Add(fmt.Sprintf("skus[%d]", i), "unknown SKU %q", sku)
		}
	}
	for i, st := range ru.Stores {
		if _, err := cat.Store(st); err != nil {
			bad.Add(fmt.Sprintf("stores[%d]", i), "unknown store %q", st)
		}
	}
	if today := a.latestDay(a.cfg.Clock.Now()); ru.From != "" && ru.From <= today {
		bad.Add("effective_from", "must be after %s (today in the stores' zones): a rule cannot change points of days already sold", today)
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	var until any
	if ru.Until != "" {
		until = ru.Until
	}
	_, err = a.pool.Exec(r.Context(), `INSERT INTO loyalty.rules (rule_id, kind, name, points_per_dollar, multiplier_pct, department,
			promo_id, skus, stores, effective_from, effective_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::date, $11::date)`,
		ru.ID, ru.Kind, ru.Name, ru.PointsPerDollar, ru.MultiplierPct, nullText(ru.Department), nullText(ru.PromoID),
		nonNil(ru.SKUs), nonNil(ru.Stores), ru.From, until)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23505":
		httpx.WriteProblem(w, httpx.Problem{Status: http.StatusConflict, Title: "Rule exists",
			Detail: fmt.Sprintf("rule_id %q is taken; rules are never changed, add a new one", ru.ID)})
	case err != nil:
		httpx.Unavailable(w, r, a.log, "Loyalty database unavailable", "the rules", err)
	default:
		httpx.WriteJSON(w, http.StatusCreated, ruleJSON(ru))
	}
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// StorePoints is the answer of GET /v1/stores/{store_id}/points.
type StorePoints struct {
	StoreID string `json:"store_id"`
	Date    string `json:"date"`
	// Issued is the points earned by the store's sales of that day; Reversed the points taken
	// back by voids made that day (positive); Net their difference.
	Issued   int64 `json:"points_issued"`
	Reversed int64 `json:"points_reversed"`
	Net      int64 `json:"points_net"`
	// Sales is the number of sales with a loyalty id that earned points that day.
	Sales int64 `json:"sales"`
}

// storePoints answers the points issued and reversed on a day of the store (?date=YYYY-MM-DD,
// default today in the store's zone).
func (a *App) storePoints(w http.ResponseWriter, r *http.Request) {
	store := chi.URLParam(r, "store_id")
	var bad httpx.FieldErrors
	if _, err := a.cfg.Catalog.Store(store); err != nil {
		bad.Add("store_id", "unknown store %q", store)
	}
	date := r.URL.Query().Get("date")
	if date == "" {
		date = a.folder.day(store, a.cfg.Clock.Now())
	} else if _, err := time.Parse(time.DateOnly, date); err != nil {
		bad.Add("date", "want a date YYYY-MM-DD")
	}
	if err := bad.Err(); err != nil {
		httpx.Error(w, r, a.log, err)
		return
	}
	sp := StorePoints{StoreID: store, Date: date}
	err := a.pool.QueryRow(r.Context(), `SELECT coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0),
			coalesce(-sum(points) FILTER (WHERE kind = 'reverse'), 0), count(DISTINCT sale_id) FILTER (WHERE kind = 'earn')
		FROM loyalty.ledger WHERE store_id = $1 AND day = $2::date`, store, date).Scan(&sp.Issued, &sp.Reversed, &sp.Sales)
	if err != nil {
		httpx.Unavailable(w, r, a.log, "Loyalty database unavailable", "the store's points", err)
		return
	}
	sp.Net = sp.Issued - sp.Reversed
	httpx.WriteJSON(w, http.StatusOK, sp)
}
