package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/freshmart/platform/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumer reads the broker and feeds Live and the Hub.
type consumer struct {
	brokers []string
	live    *Live
	hub     *Hub
	log     *slog.Logger
	rows    func(*StockLevel) StockRow
	alert   func(*Alert) AlertRow
	feed    *ComplaintFeed
	reports *ReportFeed
	// clientOpts returns the client id and metrics options of a client role (kit.Service.KafkaOpts).
	clientOpts func(role string) []kgo.Opt
	lag        *prometheus.GaugeVec // records behind the partition's high watermark

	records   atomic.Int64 // records handled
	bad       atomic.Int64 // records that could not be decoded
	connected atomic.Bool  // the last poll reached the broker
}

// run consumes until ctx is done: sales and daily reports from the start of the earliest store's
// day (so that a report produced while the consumer was starting is not missed), stock levels,
// alerts and complaints from the end. franz-go reconnects by itself when the broker restarts.
func (c *consumer) run(ctx context.Context) error {
	start := c.live.DayStart()
	sales, err := kgo.NewClient(append(c.clientOpts("sales"),
		kgo.SeedBrokers(c.brokers...),
		kgo.ConsumeTopics(schemas.TopicPOSSales, schemas.TopicDailySalesReport),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(start.UnixMilli())),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("dashboard: sales consumer: %w", err)
	}
	defer sales.Close()
	rest, err := kgo.NewClient(append(c.clientOpts("updates"),
		kgo.SeedBrokers(c.brokers...),
		kgo.ConsumeTopics(schemas.TopicInventoryUpdates, schemas.TopicStoreAlerts, schemas.TopicCustomerComplaints),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("dashboard: updates consumer: %w", err)
	}
	defer rest.Close()
	c.log.Info("consuming", "brokers", c.brokers, "sales_from", start.UTC().Format(time.RFC3339))
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.poll(ctx, rest)
	}()
	c.poll(ctx, sales)
	<-done
	return nil
}

func (c *consumer) poll(ctx context.Context, cl *kgo.Client) {
	var lastErr time.Time
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		ok := true
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			ok = false
			if time.Since(lastErr) > 30*time.Second {
				lastErr = time.Now()
				c.log.Warn("fetch", "topic", topic, "partition", p, "err", err)
			}
		})
		c.connected.Store(ok)
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				lag := p.HighWatermark - p.Records[n-1].Offset - 1
				c.lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(lag, 0)))
			}
		})
		fs.EachRecord(c.handle)
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c *consumer) handle(r *kgo.Record) {
	c.records.Add(1)
	v, err := decodeEvent(header(r, "ce_type"), r.Value)
	if errors.Is(err, ErrUnknownType) {
		return
	}
	if err != nil {
		c.bad.Add(1)
		c.log.Debug("skip record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	switch e := v.(type) {
	case *SaleEvent:
		row, ok := c.live.ApplySale(e)
		if !ok {
			return
		}
		rev, chain := c.live.Revenue(e.StoreID), c.live.ChainRevenue()
		c.hub.Publish(Message{Type: "sale", StoreID: e.StoreID, Sale: &row, Revenue: &rev, Chain: &chain}, true)
	case *VoidEvent:
		if c.live.ApplyVoid(e) {
			rev, chain := c.live.Revenue(e.StoreID), c.live.ChainRevenue()
			c.hub.Publish(Message{Type: "revenue", StoreID: e.StoreID, Revenue: &rev, Chain: &chain}, true)
		}
	case *StockLevel:
		row := c.rows(e)
		c.hub.Publish(Message{Type: "stock", StoreID: e.StoreID, Stock: &row}, false)
	case *Alert:
		c.live.ApplyAlert(e)
		row := c.alert(e)
		c.hub.Publish(Message{Type: "alert", StoreID: e.StoreID, Alert: &row}, true)
	case *SpikeEvent:
		row := c.feed.ApplySpike(e)
		c.hub.Publish(Message{Type: "spike", StoreID: e.StoreID, Spike: &row}, true)
	case *ChainSpikeEvent:
		row := c.feed.ApplyChainSpike(e)
		c.hub.Publish(Message{Type: "chain_spike", ChainSpike: &row}, true)
	case *ComplaintEvent:
		if row, ok := c.feed.ApplyComplaint(e); ok {
			c.hub.Publish(Message{Type: "complaint", StoreID: e.StoreID, Complaint: &row}, false)
		}
	case *ReportEvent:
		// The finance page and the pages of the report's stores; a copy or an older version
		// tells them nothing.
		if note, ok := c.reports.Apply(e); ok {
			c.hub.PublishTo(Message{Type: "report", Report: &note}, append([]string{financeTopic}, note.StoreIDs...)...)
		}
	}
}
