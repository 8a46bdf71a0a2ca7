package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/freshmart/platform/internal/kit/kittest"
)

// loyaltyServer is a dashboard with the loyalty API at api (the rest down).
func loyaltyServer(t *testing.T, api string) string {
	t.Helper()
	down := closedAddr(t)
	svc := kittest.Build(t, Options, map[string]string{"KAFKA_BROKERS": down, "INVENTORY_URL": "http://" + down,
		"POS_URL": "http://" + down, "BROKER_HTTP_URL": "http://" + down, "COMPLAINTS_URL": "http://" + down,
		"ANALYTICS_URL": "http://" + down, "LOYALTY_URL": api})
	if _, err := New(svc); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Router)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestLoyaltyPage: the page shows the store's points today and a member's balance, tier and
// ledger as the loyalty API answers them, asks for the card escaped, and says so clearly when
// the loyalty service is down.
func TestLoyaltyPage(t *testing.T) {
	var asked []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/stores/S002/points":
			json.NewEncoder(w).Encode(map[string]any{"store_id": "S002", "date": "2026-03-02", "points_issued": 1234,
				"points_reversed": 34, "points_net": 1200, "sales": 17})
		case "/v1/members/CARD-7":
			json.NewEncoder(w).Encode(map[string]any{"loyalty_id": "CARD-7", "points_balance": 1500, "tier": "Silver", "points_12m": 2500,
				"ledger": []map[string]any{{"kind": "redeem", "points": -1000, "at": "2026-03-02T10:00:00Z", "redemption_id": "6a0b7c1e-2f4d-4e8a-9b1c-3d5e7f9a1b2c"},
					{"kind": "earn", "points": 2500, "at": "2026-03-01T10:00:00Z", "sale_id": "s-1", "rule_id": "base", "store_id": "S002"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	base := loyaltyServer(t, api.URL)
	p := getPage(t, base+"/loyalty?store=S002&card=CARD-7")
	for _, want := range []string{`class="active">Loyalty</a>`, `id="points-issued">1,234<`, `id="points-reversed">34<`, `id="points-sales">17<`,
		`id="member-tier">Silver<`, `id="member-balance">1,500<`, `id="member-12m">2,500<`, `<td class="num">-1000</td>`, "2026-03-01 10:00"} {
		if !strings.Contains(p, want) {
			t.Errorf("page lacks %s:\n%s", want, p)
		}
	}
	if strings.Join(asked, " ") != "/v1/stores/S002/points /v1/members/CARD-7" {
		t.Errorf("asked %v", asked)
	}
	for _, u := range []string{"/loyalty?store=S999", "/loyalty?card=a%20b"} {
		if code := status(t, base+u); code != 400 {
			t.Errorf("GET %s: %d", u, code)
		}
	}
	downBase := loyaltyServer(t, "http://"+closedAddr(t))
	p = getPage(t, downBase+"/loyalty?card=CARD-7")
	if !strings.Contains(p, `id="loyalty-unavailable">The loyalty service is unavailable`) || !strings.Contains(p, `id="member-unavailable">The loyalty service is unavailable`) {
		t.Errorf("down page:\n%s", p)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
