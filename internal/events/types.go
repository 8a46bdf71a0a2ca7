package events

import "github.com/freshmart/platform/schemas"

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

// Payload types: aliases of the shared definitions in package schemas, so every module (the web
// module too) decodes and encodes the same Go types.
type (
	// SaleLine is one line of a basket.
	SaleLine = schemas.SaleLine
	// Payment is how a sale was paid.
	Payment = schemas.Payment
	// SaleCompleted is the payload of sale.completed.
	SaleCompleted = schemas.SaleCompleted
	// SaleVoided is the payload of sale.voided.
	SaleVoided = schemas.SaleVoided
	// QtyLine is a SKU and a quantity (deliveries and counts).
	QtyLine = schemas.QtyLine
	// DeliveryReceived is the payload of delivery.received.
	DeliveryReceived = schemas.DeliveryReceived
	// StockCounted is the payload of stock.counted: absolute on-hand quantities.
	StockCounted = schemas.StockCounted
	// StockAdjusted is the payload of stock.adjusted.
	StockAdjusted = schemas.StockAdjusted
	// Cause names the event that changed a stock level.
	Cause = schemas.Cause
	// StockLevel is the payload of stock.level.
	StockLevel = schemas.StockLevel
	// StockAlert is the payload of alert.low_stock and alert.restocked.
	StockAlert = schemas.StockAlert
	// StockBadge is the payload of stock.badge.
	StockBadge = schemas.StockBadge
	// ComplaintFiled is the payload of complaint.filed.
	ComplaintFiled = schemas.ComplaintFiled
	// ComplaintSpikeAlert is the payload of alert.complaint_spike.
	ComplaintSpikeAlert = schemas.ComplaintSpikeAlert
	// DeliveryMismatchAlert is the payload of alert.delivery_mismatch.
	DeliveryMismatchAlert = schemas.DeliveryMismatchAlert
	// PriceChanged is the payload of price.changed.
	PriceChanged = schemas.PriceChanged
	// PromoStarted is the payload of promo.started.
	PromoStarted = schemas.PromoStarted
	// PromoEnded is the payload of promo.ended.
	PromoEnded = schemas.PromoEnded
	// DailySalesReport is the payload of report.daily_sales.
	DailySalesReport = schemas.DailySalesReport
)
