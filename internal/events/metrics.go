package events

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// KafkaMetrics returns the option that records franz-go client metrics (kprom: connections,
// bytes and records produced and fetched, request latencies) as freshmart_kafka_* with the
// label client=role ("producer", "consumer", "relay"...), registered with reg
// (prometheus.DefaultRegisterer when nil). Use one per client role: a client's metrics are
// unregistered when it closes, so sequential clients of one role (consumer sessions) may share
// it, concurrent ones may not.
func KafkaMetrics(role string, reg prometheus.Registerer) kgo.Opt {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m := kprom.NewMetrics("freshmart_kafka",
		kprom.Registerer(reg),
		kprom.WithStaticLabel(prometheus.Labels{"client": role}),
	)
	return kgo.WithHooks(m)
}
