package hub

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	clients   prometheus.Gauge
	published prometheus.Counter
	dropped   prometheus.Counter
	coalesced prometheus.Counter
	slow      prometheus.Counter
	depth     prometheus.Histogram
}

func newMetrics(name string, queueSize int, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"hub": name}
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "freshmart_hub_clients",
			Help: "Clients subscribed to the hub.", ConstLabels: labels}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "freshmart_hub_messages_published_total",
			Help: "Messages published to the hub.", ConstLabels: labels}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "freshmart_hub_messages_dropped_total",
			Help:        "Messages a subscribed client never got: dropped from a full queue, or discarded with a client disconnected for being slow.",
			ConstLabels: labels}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Name: "freshmart_hub_messages_coalesced_total",
			Help: "Queued messages replaced by a newer message with the same key.", ConstLabels: labels}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "freshmart_hub_slow_disconnects_total",
			Help: "Clients disconnected because their queue was full.", ConstLabels: labels}),
		depth: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "freshmart_hub_queue_depth",
			Help:        "A client's queue length after each message queued for it.",
			ConstLabels: labels, Buckets: depthBuckets(queueSize)}),
	}
	if reg == nil {
		return m, nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.clients, m.published, m.dropped, m.coalesced, m.slow, m.depth} {
		if err := reg.Register(c); err != nil {
			for _, d := range done { // leave the registry as it was
				reg.Unregister(d)
			}
			return nil, err
		}
		done = append(done, c)
	}
	return m, nil
}

// depthBuckets are 1, 4, 16... up to the hub's queue size, and the queue size itself (a full
// queue). A client given a larger queue lands in +Inf beyond it.
func depthBuckets(queueSize int) []float64 {
	var b []float64
	for v := 1; v < queueSize; v *= 4 {
		b = append(b, float64(v))
	}
	return append(b, float64(queueSize))
}
