package events

import "time"

// Event types (ce_type values); each has a schema in package schemas.
const (
	TypeSaleCompleted         = "sale.completed"
	TypeSaleVoided            = "sale.voided"
	TypeDeliveryReceived      = "delivery.received"
	TypeStockCounted          = "stock.counted"
	TypeStockAdjusted         = "stock.adjusted"
	TypeStockLevel            = "stock.level"
	TypeAlertLowStock         = "alert.low_stock"
	TypeAlertRestocked        = "alert.restocked"
	TypeAlertComplaintSpike   = "alert.complaint_spike"
	TypeAlertDeliveryMismatch = "alert.delivery_mismatch"
	TypeStockBadge            = "stock.badge"
	TypePriceChanged          = "price.changed"
	TypePromoStarted          = "promo.started"
	TypePromoEnded            = "promo.ended"
	TypeComplaintFiled        = "complaint.filed"
	TypeReportDailySales      = "report.daily_sales"
)

// Topics (DESIGN.md "Topics").
const (
	TopicPOSSales           = "pos-sales"
	TopicInventoryUpdates   = "inventory-updates"
	TopicCustomerComplaints = "customer-complaints"
	TopicVendorDeliveries   = "vendor-deliveries"
	TopicDisplayUpdates     = "display-updates"
	TopicDailySalesReport   = "daily-sales-report"
	TopicStoreAlerts        = "store-alerts"
)

// SaleLine is one line of a basket.
type SaleLine struct {
	SKU            string `json:"sku"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// Payment is how a sale was paid.
type Payment struct {
	Method      string `json:"method"` // card, cash or mobile
	AmountCents int64  `json:"amount_cents"`
}

// SaleCompleted is the payload of sale.completed.
type SaleCompleted struct {
	SaleID     string     `json:"sale_id"`
	StoreID    string     `json:"store_id"`
	Register   string     `json:"register"`
	OccurredAt time.Time  `json:"occurred_at"`
	Lines      []SaleLine `json:"lines"`
	TotalCents int64      `json:"total_cents"`
	LoyaltyID  string     `json:"loyalty_id,omitempty"`
	Payment    Payment    `json:"payment"`
}

// SaleVoided is the payload of sale.voided.
type SaleVoided struct {
	SaleID   string    `json:"sale_id"`
	StoreID  string    `json:"store_id"`
	VoidedAt time.Time `json:"voided_at"`
	Reason   string    `json:"reason"`
}

// QtyLine is a SKU and a quantity (deliveries and counts).
type QtyLine struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// DeliveryReceived is the payload of delivery.received.
type DeliveryReceived struct {
	DeliveryID string    `json:"delivery_id"`
	StoreID    string    `json:"store_id"`
	VendorID   string    `json:"vendor_id"`
	PONumber   string    `json:"po_number,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Lines      []QtyLine `json:"lines"`
}

// StockCounted is the payload of stock.counted: absolute on-hand quantities.
type StockCounted struct {
	CountID   string    `json:"count_id"`
	StoreID   string    `json:"store_id"`
	CountedAt time.Time `json:"counted_at"`
	Lines     []QtyLine `json:"lines"`
}

// StockAdjusted is the payload of stock.adjusted.
type StockAdjusted struct {
	AdjustmentID string    `json:"adjustment_id"`
	StoreID      string    `json:"store_id"`
	SKU          string    `json:"sku"`
	Delta        int64     `json:"delta"`
	Reason       string    `json:"reason"`
	At           time.Time `json:"at"`
}

// Cause names the event that changed a stock level.
type Cause struct {
	Type string `json:"type"` // sale, void, delivery, count or adjustment
	ID   string `json:"id"`
}

// StockLevel is the payload of stock.level.
type StockLevel struct {
	StoreID   string    `json:"store_id"`
	SKU       string    `json:"sku"`
	OnHand    int64     `json:"on_hand"`
	Threshold int64     `json:"threshold"`
	Cause     Cause     `json:"cause"`
	At        time.Time `json:"at"`
}

// StockAlert is the payload of alert.low_stock and alert.restocked.
type StockAlert struct {
	AlertID   string    `json:"alert_id"`
	StoreID   string    `json:"store_id"`
	SKU       string    `json:"sku"`
	OnHand    int64     `json:"on_hand"`
	Threshold int64     `json:"threshold"`
	At        time.Time `json:"at"`
}

// StockBadge is the payload of stock.badge.
type StockBadge struct {
	StoreID string    `json:"store_id"`
	SKU     string    `json:"sku"`
	Badge   string    `json:"badge"` // in_stock, low or out
	OnHand  int64     `json:"on_hand"`
	At      time.Time `json:"at"`
}

// ComplaintFiled is the payload of complaint.filed.
type ComplaintFiled struct {
	ComplaintID string    `json:"complaint_id"`
	StoreID     string    `json:"store_id"`
	FiledAt     time.Time `json:"filed_at"`
	Channel     string    `json:"channel"`
	Category    string    `json:"category"`
	Severity    int       `json:"severity,omitempty"`
	SKU         string    `json:"sku,omitempty"`
	LoyaltyID   string    `json:"loyalty_id,omitempty"`
	Text        string    `json:"text"`
}

// PriceChanged is the payload of price.changed.
type PriceChanged struct {
	ChangeID      string    `json:"change_id"`
	StoreID       string    `json:"store_id"`
	SKU           string    `json:"sku"`
	OldPriceCents int64     `json:"old_price_cents,omitempty"`
	PriceCents    int64     `json:"price_cents"`
	Reason        string    `json:"reason,omitempty"`
	EffectiveAt   time.Time `json:"effective_at"`
}
