package dashboard

// Message is what the server pushes to browsers over the websocket, as a JSON text frame.
type Message struct {
	// Type is snapshot, sale, revenue, stock, alert, spike, chain_spike, complaint or report.
	Type       string          `json:"type"`
	StoreID    string          `json:"store_id,omitempty"`
	Sale       *TickerSale     `json:"sale,omitempty"`
	Revenue    *Revenue        `json:"revenue,omitempty"` // the store's revenue after the sale
	Chain      *Revenue        `json:"chain,omitempty"`   // the chain's revenue after the sale
	Ticker     []TickerSale    `json:"ticker,omitempty"`  // snapshot only
	Stock      *StockRow       `json:"stock,omitempty"`
	Alert      *AlertRow       `json:"alert,omitempty"`
	Spike      *SpikeRow       `json:"spike,omitempty"`        // a complaint spike as it now stands
	ChainSpike *ChainSpikeRow  `json:"chain_spike,omitempty"`  // a chain-wide spike
	Complaint  *ComplaintRow   `json:"complaint,omitempty"`    // a new complaint
	Spikes     []SpikeRow      `json:"spikes,omitempty"`       // snapshot only: spikes heard of since start
	Chains     []ChainSpikeRow `json:"chain_spikes,omitempty"` // snapshot only, chain view
	Complaints []ComplaintRow  `json:"complaints,omitempty"`   // snapshot only, store pages
	Report     *ReportNote     `json:"report,omitempty"`       // a new version of a date's daily report
	// Reports are, in a snapshot, the newest report versions heard since start: every date's
	// on the finance page, the newest with a row for the store on a store page.
	Reports []ReportNote `json:"reports,omitempty"`
}
