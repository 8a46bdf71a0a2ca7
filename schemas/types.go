package schemas

import "time"

// This file holds the Go form of every event payload, the one definition producers and
// consumers in every module share. Field names and JSON names follow the schema files
// (<type>.json); money is integer cents, quantities are integers and times are RFC 3339 in UTC.
// Optional schema fields carry omitempty.

// SaleLine is one line of a basket in sale.completed.
type SaleLine struct {
	// SKU is the product, e.g. "PRD-0001".
	SKU string `json:"sku"`
	// Qty is the number of units (or packs) sold, at least 1.
	Qty int64 `json:"qty"`
	// UnitPriceCents is the price of one unit in cents, at least 0.
	UnitPriceCents int64 `json:"unit_price_cents"`
}

// Payment is how a sale was paid.
type Payment struct {
	// Method is "card", "cash" or "mobile".
	Method string `json:"method"`
	// AmountCents is the amount tendered in cents.
	AmountCents int64 `json:"amount_cents"`
}

// SaleCompleted is the payload of sale.completed (topic pos-sales).
type SaleCompleted struct {
	// SaleID is the sale's UUID, chosen by the register; retries carry the same id.
	SaleID string `json:"sale_id"`
	// StoreID is the store, e.g. "S001"; also the record key.
	StoreID string `json:"store_id"`
	// Register is the checkout lane, e.g. "R01".
	Register string `json:"register"`
	// OccurredAt is when the sale was completed at the register.
	OccurredAt time.Time `json:"occurred_at"`
	// Lines is the basket, at least one line.
	Lines []SaleLine `json:"lines"`
	// TotalCents is the sum of qty × unit price over the lines.
	TotalCents int64 `json:"total_cents"`
	// LoyaltyID is the customer's loyalty card, empty when none was scanned.
	LoyaltyID string `json:"loyalty_id,omitempty"`
	// Payment is how the basket was paid.
	Payment Payment `json:"payment"`
}

// SaleVoided is the payload of sale.voided (topic pos-sales).
type SaleVoided struct {
	// SaleID is the voided sale.
	SaleID string `json:"sale_id"`
	// StoreID is the store of the sale.
	StoreID string `json:"store_id"`
	// VoidedAt is when the sale was voided.
	VoidedAt time.Time `json:"voided_at"`
	// Reason says why, in free text.
	Reason string `json:"reason"`
}

// QtyLine is a SKU and a quantity: a line of delivery.received (qty >= 1) or of stock.counted
// (qty >= 0, absolute on hand).
type QtyLine struct {
	// SKU is the product.
	SKU string `json:"sku"`
	// Qty is the number of units.
	Qty int64 `json:"qty"`
}

// DeliveryReceived is the payload of delivery.received (topic vendor-deliveries).
type DeliveryReceived struct {
	// DeliveryID is the delivery's UUID.
	DeliveryID string `json:"delivery_id"`
	// StoreID is the receiving store.
	StoreID string `json:"store_id"`
	// VendorID is the supplier, e.g. "V001".
	VendorID string `json:"vendor_id"`
	// PONumber is the purchase order, empty when unknown.
	PONumber string `json:"po_number,omitempty"`
	// ReceivedAt is when the delivery was scanned at the dock.
	ReceivedAt time.Time `json:"received_at"`
	// Lines are the units received per SKU.
	Lines []QtyLine `json:"lines"`
}

// StockCounted is the payload of stock.counted (topic inventory-updates): absolute on-hand
// quantities from a warehouse count.
type StockCounted struct {
	// CountID is the count's UUID.
	CountID string `json:"count_id"`
	// StoreID is the counted store.
	StoreID string `json:"store_id"`
	// CountedAt is when the count was taken.
	CountedAt time.Time `json:"counted_at"`
	// Lines are the counted quantities per SKU.
	Lines []QtyLine `json:"lines"`
}

// StockAdjusted is the payload of stock.adjusted (topic inventory-updates): a relative change.
type StockAdjusted struct {
	// AdjustmentID is the adjustment's UUID.
	AdjustmentID string `json:"adjustment_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// Delta is added to the on-hand quantity (negative for shrink).
	Delta int64 `json:"delta"`
	// Reason says why, e.g. "damaged".
	Reason string `json:"reason"`
	// At is when the adjustment was made.
	At time.Time `json:"at"`
}

// Cause names the event that changed a stock level.
type Cause struct {
	// Type is "sale", "void", "delivery", "count" or "adjustment".
	Type string `json:"type"`
	// ID is that event's id (sale_id, delivery_id, count_id...).
	ID string `json:"id"`
}

// StockLevel is the payload of stock.level (topic inventory-updates, emitted by inventory).
type StockLevel struct {
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// OnHand is the new on-hand quantity; negative when sales outran recorded stock.
	OnHand int64 `json:"on_hand"`
	// Threshold is the SKU's low-stock threshold.
	Threshold int64 `json:"threshold"`
	// Cause is the event that changed the level.
	Cause Cause `json:"cause"`
	// At is the time of that event.
	At time.Time `json:"at"`
}

// StockAlert is the payload of alert.low_stock and alert.restocked (topic store-alerts).
type StockAlert struct {
	// AlertID is the alert's UUID.
	AlertID string `json:"alert_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// OnHand is the on-hand quantity that crossed the threshold.
	OnHand int64 `json:"on_hand"`
	// Threshold is the SKU's low-stock threshold.
	Threshold int64 `json:"threshold"`
	// At is when the crossing happened.
	At time.Time `json:"at"`
}

// Alert is another name for StockAlert.
type Alert = StockAlert

// StockBadge is the payload of stock.badge (topic display-updates).
type StockBadge struct {
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// Badge is "in_stock", "low" or "out".
	Badge string `json:"badge"`
	// OnHand is the on-hand quantity behind the badge.
	OnHand int64 `json:"on_hand"`
	// At is when the level changed.
	At time.Time `json:"at"`
}

// ComplaintFiled is the payload of complaint.filed (topic customer-complaints).
type ComplaintFiled struct {
	// ComplaintID is the complaint's UUID.
	ComplaintID string `json:"complaint_id"`
	// StoreID is the store complained about.
	StoreID string `json:"store_id"`
	// FiledAt is when it was filed.
	FiledAt time.Time `json:"filed_at"`
	// Channel is "app", "help_desk", "in_store", "email" or "phone".
	Channel string `json:"channel"`
	// Category is "product_quality", "out_of_stock", "pricing", "cleanliness", "staff",
	// "checkout" or "other".
	Category string `json:"category"`
	// Severity is 1 (minor) and up; 0 when not given.
	Severity int `json:"severity,omitempty"`
	// SKU is the product concerned, empty when none.
	SKU string `json:"sku,omitempty"`
	// LoyaltyID is the customer's loyalty card, empty when unknown.
	LoyaltyID string `json:"loyalty_id,omitempty"`
	// Text is the complaint in the customer's words.
	Text string `json:"text"`
}

// ComplaintSpike is the payload of alert.complaint_spike (an episode opened),
// alert.complaint_spike_updated (complaints joined it) and alert.complaint_spike_resolved (it
// ended), all on topic store-alerts: one store and SKU's episode as it stands.
type ComplaintSpike struct {
	// AlertID is the episode's alert id, the same on every event of the episode.
	AlertID string `json:"alert_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product complained about.
	SKU string `json:"sku"`
	// ComplaintIDs are the episode's complaints, by filed_at.
	ComplaintIDs []string `json:"complaint_ids"`
	// Count is len(ComplaintIDs).
	Count int64 `json:"count"`
	// FirstFiledAt and LastFiledAt are the filed_at of its earliest and newest complaints.
	FirstFiledAt time.Time `json:"first_filed_at"`
	LastFiledAt  time.Time `json:"last_filed_at"`
	// OpenedAt is when the spike first held (event time).
	OpenedAt time.Time `json:"opened_at"`
	// EndsAt is when it closes unless another complaint joins: the window after LastFiledAt.
	EndsAt time.Time `json:"ends_at"`
	// WindowMinutes and Threshold are the rule's settings.
	WindowMinutes int64 `json:"window_minutes"`
	Threshold     int64 `json:"threshold"`
	// At is when the change happened (event time).
	At time.Time `json:"at"`
	// MergedAlertIDs (updates only) are episodes a late complaint merged into this one.
	MergedAlertIDs []string `json:"merged_alert_ids,omitempty"`
	// Reason (resolutions only) is "quiet" (the window passed) or "merged".
	Reason string `json:"reason,omitempty"`
	// MergedInto (resolutions only, reason "merged") is the episode it became part of.
	MergedInto string `json:"merged_into,omitempty"`
}

// ComplaintChainSpike is the payload of alert.complaint_chain_spike (topic store-alerts, key
// the SKU): one SKU spiking in several stores within a day.
type ComplaintChainSpike struct {
	// AlertID is the chain alert's UUID.
	AlertID string `json:"alert_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// VendorID is the SKU's vendor.
	VendorID string `json:"vendor_id"`
	// StoreIDs are the stores whose spikes make it, by when they opened.
	StoreIDs []string `json:"store_ids"`
	// SpikeAlertIDs are those stores' spike alerts, in the same order.
	SpikeAlertIDs []string `json:"spike_alert_ids"`
	// WindowHours is how close together the spikes opened.
	WindowHours int64 `json:"window_hours"`
	// FirstOpenedAt is when the earliest of them opened.
	FirstOpenedAt time.Time `json:"first_opened_at"`
	// At is when the spike that made it chain-wide opened.
	At time.Time `json:"at"`
}

// MismatchLine is one SKU of alert.delivery_mismatch: ordered against received.
type MismatchLine struct {
	// SKU is the product.
	SKU string `json:"sku"`
	// Ordered is the number of units on the purchase order.
	Ordered int64 `json:"ordered"`
	// Received is the number of units delivered.
	Received int64 `json:"received"`
	// Invoiced is the number of units invoiced, when an invoice was matched.
	Invoiced *int64 `json:"invoiced,omitempty"`
	// POUnitCostCents is the unit cost on the purchase order, when prices were compared.
	POUnitCostCents *int64 `json:"po_unit_cost_cents,omitempty"`
	// InvoicedUnitCostCents is the unit cost on the invoice, when prices were compared.
	InvoicedUnitCostCents *int64 `json:"invoiced_unit_cost_cents,omitempty"`
	// Reason is what is wrong with this line (the reasons of DeliveryMismatchAlert.Reason).
	Reason string `json:"reason,omitempty"`
}

// DeliveryMismatchAlert is the payload of alert.delivery_mismatch (topic store-alerts).
type DeliveryMismatchAlert struct {
	// AlertID is the alert's UUID.
	AlertID string `json:"alert_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// DeliveryID is the delivery that did not match its order.
	DeliveryID string `json:"delivery_id"`
	// VendorID is the supplier.
	VendorID string `json:"vendor_id"`
	// PONumber is the purchase order, empty when unknown.
	PONumber string `json:"po_number,omitempty"`
	// InvoiceID is the invoice held because of the mismatch, if one was.
	InvoiceID string `json:"invoice_id,omitempty"`
	// Reason is what is wrong: short_delivery, over_delivery, not_ordered,
	// invoice_above_received, price_mismatch, unknown_po, no_po or po_cancelled (the first
	// line's reason); empty from producers that do not say.
	Reason string `json:"reason,omitempty"`
	// Lines are the SKUs whose received quantity differs from the order.
	Lines []MismatchLine `json:"lines"`
	// At is when the mismatch was found.
	At time.Time `json:"at"`
}

// PriceChanged is the payload of price.changed (topic display-updates).
type PriceChanged struct {
	// ChangeID is the change's UUID.
	ChangeID string `json:"change_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// OldPriceCents is the previous price; 0 when not given.
	OldPriceCents int64 `json:"old_price_cents,omitempty"`
	// PriceCents is the new price.
	PriceCents int64 `json:"price_cents"`
	// Reason says why, empty when not given.
	Reason string `json:"reason,omitempty"`
	// EffectiveAt is when the new price applies.
	EffectiveAt time.Time `json:"effective_at"`
}

// PromoStarted is the payload of promo.started (topic display-updates).
type PromoStarted struct {
	// PromoID is the promotion's UUID.
	PromoID string `json:"promo_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product on promotion.
	SKU string `json:"sku"`
	// Title is the text shown on the sign, e.g. "2 for $5".
	Title string `json:"title"`
	// PromoPriceCents is the promotional price.
	PromoPriceCents int64 `json:"promo_price_cents"`
	// RegularPriceCents is the regular price.
	RegularPriceCents int64 `json:"regular_price_cents"`
	// StartsAt is the start of the promotion.
	StartsAt time.Time `json:"starts_at"`
	// EndsAt is its planned end.
	EndsAt time.Time `json:"ends_at"`
}

// PromoEnded is the payload of promo.ended (topic display-updates).
type PromoEnded struct {
	// PromoID is the promotion.
	PromoID string `json:"promo_id"`
	// StoreID is the store.
	StoreID string `json:"store_id"`
	// SKU is the product.
	SKU string `json:"sku"`
	// EndedAt is when it ended.
	EndedAt time.Time `json:"ended_at"`
}

// SalesFigures are the day's sales figures of one store, one department or the chain in
// report.daily_sales. Voided sales count in SalesCount, VoidedCount, GrossCents and VoidedCents
// and are left out of ItemsSold and NetCents.
type SalesFigures struct {
	// SalesCount is the number of completed sales, voided ones included.
	SalesCount int64 `json:"sales_count"`
	// VoidedCount is the number of those sales that were voided since.
	VoidedCount int64 `json:"voided_count"`
	// ItemsSold is the number of units sold in sales that were not voided.
	ItemsSold int64 `json:"items_sold"`
	// GrossCents is the sum of completed sales, voided ones included.
	GrossCents int64 `json:"gross_cents"`
	// VoidedCents is the sum of voided sales.
	VoidedCents int64 `json:"voided_cents"`
	// NetCents is gross minus voided.
	NetCents int64 `json:"net_cents"`
}

// NetChange compares a row's net sales with the same row of an earlier business day in
// report.daily_sales.
type NetChange struct {
	// Date is the earlier business day, "YYYY-MM-DD".
	Date string `json:"date"`
	// NetCents is the earlier day's net sales.
	NetCents int64 `json:"net_cents"`
	// ChangeCents is this day's net minus the earlier day's.
	ChangeCents int64 `json:"change_cents"`
	// ChangePct is ChangeCents as a percentage of the earlier day's net, rounded to 0.1; nil
	// (null) when the earlier net is zero.
	ChangePct *float64 `json:"change_pct"`
}

// NetChanges are a row's comparisons with earlier days; each is nil (null) when that day has no
// data (the store-day was never loaded).
type NetChanges struct {
	// VsPriorDay compares with the day before.
	VsPriorDay *NetChange `json:"vs_prior_day"`
	// VsPriorWeek compares with the same weekday a week earlier.
	VsPriorWeek *NetChange `json:"vs_prior_week"`
}

// DepartmentSales is one department's row of a store or of the chain in report.daily_sales.
type DepartmentSales struct {
	// Department is the catalog's department id ("produce"), as of the sale.
	Department string `json:"department"`
	SalesFigures
	NetChanges
}

// StoreSales is one store's row of report.daily_sales.
type StoreSales struct {
	// StoreID is the store.
	StoreID string `json:"store_id"`
	SalesFigures
	NetChanges
	// Departments has a row for every department of the catalog, in shelf order.
	Departments []DepartmentSales `json:"departments"`
}

// ChainSales are the chain's figures in report.daily_sales: the sums over its stores.
type ChainSales struct {
	SalesFigures
	NetChanges
	// Departments has a row for every department of the catalog, in shelf order.
	Departments []DepartmentSales `json:"departments"`
}

// TopProduct is one best seller of report.daily_sales.
type TopProduct struct {
	// SKU is the product.
	SKU string `json:"sku"`
	// Qty is the number of units sold (voided sales left out).
	Qty int64 `json:"qty"`
	// RevenueCents is the net revenue from it.
	RevenueCents int64 `json:"revenue_cents"`
}

// DailySalesReport is the payload of report.daily_sales (topic daily-sales-report). A date's
// report is produced again whenever one of its store-days is (re)loaded; readers take the
// highest Version.
type DailySalesReport struct {
	// ReportID is the UUID of this version of the report.
	ReportID string `json:"report_id"`
	// ReportDate is the business day, "YYYY-MM-DD" (each store's in its own time zone).
	ReportDate string `json:"report_date"`
	// Version is the report's version for ReportDate: 1, 2, ...
	Version int64 `json:"version"`
	// Complete is set when every store of the catalog has been loaded for ReportDate.
	Complete bool `json:"complete"`
	// GeneratedAt is when the report was produced.
	GeneratedAt time.Time `json:"generated_at"`
	// Currency of all amounts; always "USD".
	Currency string `json:"currency"`
	// Stores has one row per store loaded so far, by store id.
	Stores []StoreSales `json:"stores"`
	// Totals are the chain's figures over Stores.
	Totals ChainSales `json:"totals"`
	// TopProducts are the chain's best sellers by net revenue; omitted when none.
	TopProducts []TopProduct `json:"top_products,omitempty"`
}

// POCancelled is the payload of po.cancelled (topic purchasing): a purchase order cancelled
// through the reorder API.
type POCancelled struct {
	// PONumber is the purchase order.
	PONumber string `json:"po_number"`
	// StoreID is the ordering store.
	StoreID string `json:"store_id"`
	// VendorID is the supplier.
	VendorID string `json:"vendor_id"`
	// Reason is why, as the user gave it; may be empty.
	Reason string `json:"reason,omitempty"`
	// CancelledAt is when the cancellation was asked for.
	CancelledAt time.Time `json:"cancelled_at"`
}

// InvoiceLine is one line of an invoice: units billed at a unit cost.
type InvoiceLine struct {
	// SKU is the product.
	SKU string `json:"sku"`
	// Qty is the units invoiced.
	Qty int64 `json:"qty"`
	// UnitCostCents is the price per unit, in cents.
	UnitCostCents int64 `json:"unit_cost_cents"`
}

// InvoiceReceived is the payload of invoice.received (topic purchasing): a vendor's invoice
// recorded through the reorder API.
type InvoiceReceived struct {
	// InvoiceID is the vendor's invoice number, unique per invoice.
	InvoiceID string `json:"invoice_id"`
	// VendorID is the supplier.
	VendorID string `json:"vendor_id"`
	// PONumber is the purchase order invoiced.
	PONumber string `json:"po_number"`
	// StoreID is the store of the purchase order.
	StoreID string `json:"store_id"`
	// Lines are the invoiced lines.
	Lines []InvoiceLine `json:"lines"`
	// ReceivedAt is when the invoice was recorded.
	ReceivedAt time.Time `json:"received_at"`
}

// LoyaltyRedeemed is the payload of loyalty.redeemed (topic loyalty, key loyalty_id).
type LoyaltyRedeemed struct {
	// RedemptionID is the redemption's UUID, chosen by the caller; retries carry the same id.
	RedemptionID string `json:"redemption_id"`
	// LoyaltyID is the member's card.
	LoyaltyID string `json:"loyalty_id"`
	// Points is the number of points taken off, at least 1.
	Points int64 `json:"points"`
	// BalanceAfter is the member's balance after the redemption.
	BalanceAfter int64 `json:"balance_after"`
	// RedeemedAt is when the points were redeemed.
	RedeemedAt time.Time `json:"redeemed_at"`
}
