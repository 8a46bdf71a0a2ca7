package dashboard

// Message is what the server pushes to browsers over the websocket, as a JSON text frame.
type Message struct {
	Type    string       `json:"type"` // snapshot, sale, revenue, stock, alert
	StoreID string       `json:"store_id,omitempty"`
	Sale    *TickerSale  `json:"sale,omitempty"`
	Revenue *Revenue     `json:"revenue,omitempty"` // the store's revenue after the sale
	Chain   *Revenue     `json:"chain,omitempty"`   // the chain's revenue after the sale
	Ticker  []TickerSale `json:"ticker,omitempty"`  // snapshot only
	Stock   *StockRow    `json:"stock,omitempty"`
	Alert   *AlertRow    `json:"alert,omitempty"`
}
