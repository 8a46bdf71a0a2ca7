package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// LoadStock sets the generator's shelves from the inventory service's GET /v1/stock for each
// simulated store (base is INVENTORY_URL). It returns how many store/SKU figures it took over.
// Call it before Run; a seeded run that must repeat exactly should not call it.
func LoadStock(ctx context.Context, client *http.Client, base string, g *Generator) (int, error) {
	if client == nil {
		client = http.DefaultClient
	}
	n := 0
	for _, st := range g.stores {
		u := strings.TrimRight(base, "/") + "/v1/stock?" + url.Values{"store_id": {st.store.ID}}.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return n, fmt.Errorf("simulator: stock of %s: %w", st.store.ID, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return n, fmt.Errorf("simulator: stock of %s: %w", st.store.ID, err)
		}
		var body struct {
			Items []struct {
				SKU    string `json:"sku"`
				OnHand int    `json:"on_hand"`
			} `json:"items"`
		}
		err = func() error {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
			}
			return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body)
		}()
		if err != nil {
			return n, fmt.Errorf("simulator: stock of %s: %w", st.store.ID, err)
		}
		for _, it := range body.Items {
			if g.SetOnHand(st.store.ID, it.SKU, it.OnHand) {
				n++
			}
		}
	}
	return n, nil
}
