package stream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type consumerMetrics struct {
	lag           *prometheus.GaugeVec
	records       *prometheus.CounterVec
	skipped       *prometheus.CounterVec
	timersFired   *prometheus.CounterVec
	timerFailures *prometheus.CounterVec
	timersPending *prometheus.GaugeVec
}

type relayMetrics struct {
	sent    *prometheus.CounterVec
	pending *prometheus.GaugeVec
}

// register registers c with reg, or returns the collector already registered under the same
// description, so several consumers of one process share the metric families.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func newConsumerMetrics(reg prometheus.Registerer) *consumerMetrics {
	return &consumerMetrics{
		lag: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freshmart_consumer_lag",
			Help: "Records between the partition's high watermark and the consumer's next offset.",
		}, []string{"group", "topic", "partition"})),
		records: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_consumer_records_total",
			Help: "Consumed records by outcome: applied, duplicate (already applied, dropped), skipped (bad envelope).",
		}, []string{"group", "topic", "outcome"})),
		skipped: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_events_skipped_total",
			Help: "Consumed records that were skipped, by reason: unknown_type (no handler), envelope (bad envelope), payload (undecodable payload).",
		}, []string{"group", "topic", "type", "reason"})),
		timersFired: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_consumer_timers_fired_total",
			Help: "Timers fired (handled and committed) by this member.",
		}, []string{"group"})),
		timerFailures: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_consumer_timer_failures_total",
			Help: "Timer firings that failed and were rolled back (the timer stays and is retried).",
		}, []string{"group"})),
		timersPending: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freshmart_consumer_timers_pending",
			Help: "Timers set and not yet fired on the partitions assigned to this member, as of the timer loop's last pass (sum over the members for the group's total).",
		}, []string{"group"})),
	}
}

func newRelayMetrics(reg prometheus.Registerer) *relayMetrics {
	return &relayMetrics{
		sent: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freshmart_outbox_sent_total",
			Help: "Outbox events produced to the broker (re-sends after a crash included).",
		}, []string{"schema"})),
		pending: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "freshmart_outbox_pending",
			Help: "Outbox events not yet produced, as of the relay's last pass.",
		}, []string{"schema"})),
	}
}
