package schemas

// Event types (the ce_type header). Each has a schema file <type>.json in this package and a
// payload type in types.go; TestContract checks that the three agree.
const (
	TypeSaleCompleted               = "sale.completed"
	TypeSaleVoided                  = "sale.voided"
	TypeDeliveryReceived            = "delivery.received"
	TypeStockCounted                = "stock.counted"
	TypeStockAdjusted               = "stock.adjusted"
	TypeStockLevel                  = "stock.level"
	TypeAlertLowStock               = "alert.low_stock"
	TypeAlertRestocked              = "alert.restocked"
	TypeAlertComplaintSpike         = "alert.complaint_spike"
	TypeAlertComplaintSpikeUpdated  = "alert.complaint_spike_updated"
	TypeAlertComplaintSpikeResolved = "alert.complaint_spike_resolved"
	TypeAlertComplaintChainSpike    = "alert.complaint_chain_spike"
	TypeAlertDeliveryMismatch       = "alert.delivery_mismatch"
	TypeStockBadge                  = "stock.badge"
	TypePriceChanged                = "price.changed"
	TypePromoStarted                = "promo.started"
	TypePromoEnded                  = "promo.ended"
	TypeComplaintFiled              = "complaint.filed"
	TypeReportDailySales            = "report.daily_sales"
	TypePOCancelled                 = "po.cancelled"
	TypeInvoiceReceived             = "invoice.received"
	TypeLoyaltyRedeemed             = "loyalty.redeemed"
)

// Topics. Their partition counts and retention are defined once, in broker/topics.json (the
// broker creates them from it on first start); TestContract checks that every name here is
// defined there and the other way round.
const (
	TopicPOSSales           = "pos-sales"
	TopicInventoryUpdates   = "inventory-updates"
	TopicCustomerComplaints = "customer-complaints"
	TopicVendorDeliveries   = "vendor-deliveries"
	TopicDisplayUpdates     = "display-updates"
	TopicDailySalesReport   = "daily-sales-report"
	TopicStoreAlerts        = "store-alerts"
	TopicPurchasing         = "purchasing"
	TopicLoyalty            = "loyalty"
)

// Topics returns every topic name above.
func Topics() []string {
	return []string{TopicPOSSales, TopicInventoryUpdates, TopicCustomerComplaints, TopicVendorDeliveries,
		TopicDisplayUpdates, TopicDailySalesReport, TopicStoreAlerts, TopicPurchasing, TopicLoyalty}
}

// Payloads maps every event type to a new, empty value of its payload type (a pointer), for
// decoders and tests that work over all types.
func Payloads() map[string]func() any {
	return map[string]func() any{
		TypeSaleCompleted:               func() any { return new(SaleCompleted) },
		TypeSaleVoided:                  func() any { return new(SaleVoided) },
		TypeDeliveryReceived:            func() any { return new(DeliveryReceived) },
		TypeStockCounted:                func() any { return new(StockCounted) },
		TypeStockAdjusted:               func() any { return new(StockAdjusted) },
		TypeStockLevel:                  func() any { return new(StockLevel) },
		TypeAlertLowStock:               func() any { return new(StockAlert) },
		TypeAlertRestocked:              func() any { return new(StockAlert) },
		TypeAlertComplaintSpike:         func() any { return new(ComplaintSpike) },
		TypeAlertComplaintSpikeUpdated:  func() any { return new(ComplaintSpike) },
		TypeAlertComplaintSpikeResolved: func() any { return new(ComplaintSpike) },
		TypeAlertComplaintChainSpike:    func() any { return new(ComplaintChainSpike) },
		TypeAlertDeliveryMismatch:       func() any { return new(DeliveryMismatchAlert) },
		TypeStockBadge:                  func() any { return new(StockBadge) },
		TypePriceChanged:                func() any { return new(PriceChanged) },
		TypePromoStarted:                func() any { return new(PromoStarted) },
		TypePromoEnded:                  func() any { return new(PromoEnded) },
		TypeComplaintFiled:              func() any { return new(ComplaintFiled) },
		TypeReportDailySales:            func() any { return new(DailySalesReport) },
		TypePOCancelled:                 func() any { return new(POCancelled) },
		TypeInvoiceReceived:             func() any { return new(InvoiceReceived) },
		TypeLoyaltyRedeemed:             func() any { return new(LoyaltyRedeemed) },
	}
}
