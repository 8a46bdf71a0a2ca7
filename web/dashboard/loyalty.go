package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"
)

// The loyalty service's API (LOYALTY_URL): a member's balance, tier, 12-month points and last
// ledger rows (GET /v1/members/{loyalty_id}) and a store's points of a day
// (GET /v1/stores/{store_id}/points), for the Loyalty page (/loyalty?card=&store=).

// DefaultLoyaltyURL is where the loyalty service answers unless LOYALTY_URL says otherwise.
const DefaultLoyaltyURL = "http://127.0.0.1:8086"

// loyaltyClient reads the loyalty service's API.
type loyaltyClient struct {
	base   string
	client *http.Client
}

// LoyaltyLedgerRow is one ledger row of a member.
type LoyaltyLedgerRow struct {
	Kind         string    `json:"kind"`
	Points       int64     `json:"points"`
	At           time.Time `json:"at"`
	SaleID       string    `json:"sale_id"`
	RuleID       string    `json:"rule_id"`
	StoreID      string    `json:"store_id"`
	RedemptionID string    `json:"redemption_id"`
}

// LoyaltyMember is GET /v1/members/{loyalty_id}.
type LoyaltyMember struct {
	LoyaltyID     string             `json:"loyalty_id"`
	PointsBalance int64              `json:"points_balance"`
	Tier          string             `json:"tier"`
	Points12m     int64              `json:"points_12m"`
	Ledger        []LoyaltyLedgerRow `json:"ledger"`
}

// LoyaltyStorePoints is GET /v1/stores/{store_id}/points.
type LoyaltyStorePoints struct {
	StoreID  string `json:"store_id"`
	Date     string `json:"date"`
	Issued   int64  `json:"points_issued"`
	Reversed int64  `json:"points_reversed"`
	Net      int64  `json:"points_net"`
	Sales    int64  `json:"sales"`
}

// LoyaltyView is the Loyalty page: the store's points today and the member looked up.
type LoyaltyView struct {
	StoreID, StoreName string
	Points             *LoyaltyStorePoints
	PointsErr          string
	Card               string
	Member             *LoyaltyMember
	MemberErr          string
}

var cardPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// errLoyaltyDown is what the page says when the loyalty service cannot be asked.
var errLoyaltyDown = "The loyalty service is unavailable right now; balances and points cannot be shown. Try again shortly."

func (s *Server) loyaltyRoutes(r chi.Router) { r.Get("/loyalty", s.loyaltyPage) }

func (s *Server) loyaltyPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stores := s.cat.Stores()
	v := LoyaltyView{StoreID: q.Get("store"), Card: q.Get("card")}
	if v.StoreID == "" && len(stores) > 0 {
		v.StoreID = stores[0].StoreID
	}
	st, err := s.cat.Store(v.StoreID)
	if err != nil {
		s.problem(w, http.StatusBadRequest, "Unknown store", "store: no store "+v.StoreID)
		return
	}
	v.StoreName = st.Name
	if v.Card != "" && !cardPattern.MatchString(v.Card) {
		s.problem(w, http.StatusBadRequest, "Bad card", "card: want 1 to 64 letters, digits, dots, dashes or underscores")
		return
	}
	// Today in the store's zone: the loyalty service's default day.
	var pts LoyaltyStorePoints
	if err := getJSON(r.Context(), s.loy.client, "loyalty", s.loy.base, "/v1/stores/"+v.StoreID+"/points", url.Values{}, &pts); err != nil {
		v.PointsErr = loyaltyErr(err)
	} else {
		v.Points = &pts
	}
	if v.Card != "" {
		var m LoyaltyMember
		if err := getJSON(r.Context(), s.loy.client, "loyalty", s.loy.base, "/v1/members/"+url.PathEscape(v.Card), url.Values{}, &m); err != nil {
			v.MemberErr = loyaltyErr(err)
		} else {
			v.Member = &m
		}
	}
	s.render(w, "loyalty", page{Title: "Loyalty", Active: "loyalty", Stores: s.stores(), Loyalty: &v})
}

func loyaltyErr(err error) string {
	var st statusError
	if errors.As(err, &st) && st.code < 500 {
		return st.msg
	}
	if errors.Is(err, context.Canceled) {
		return "the request was cancelled"
	}
	return errLoyaltyDown
}
