package group

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descLag = prometheus.NewDesc("broker_group_lag",
		"Records between a partition's high watermark and the group's committed offset.",
		[]string{"group", "topic", "partition"}, nil)
	descCommitted = prometheus.NewDesc("broker_group_committed_offset",
		"The group's committed offset of a partition.",
		[]string{"group", "topic", "partition"}, nil)
	descMembers = prometheus.NewDesc("broker_group_members",
		"Members of a group.", []string{"group"}, nil)
	descState = prometheus.NewDesc("broker_group_state",
		"1 for the group's current state.", []string{"group", "state"}, nil)
	descGeneration = prometheus.NewDesc("broker_group_generation",
		"The group's generation.", []string{"group"}, nil)
)

// Collector returns a prometheus.Collector exporting, per group, its state,
// generation and member count, and per committed partition the committed
// offset and the lag (high watermark minus committed offset, at least 0; only
// when Config.HighWatermark is set). Register it with the broker's registry.
func (c *Coordinator) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Coordinator }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLag
	ch <- descCommitted
	ch <- descMembers
	ch <- descState
	ch <- descGeneration
}

func (col collector) Collect(ch chan<- prometheus.Metric) {
	c := col.c
	type row struct {
		k tp
		o int64
	}
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		if g.dead {
			g.mu.Unlock()
			continue
		}
		state, gen, members := g.state, g.generation, len(g.members)
		rows := make([]row, 0, len(g.offsets))
		for k, o := range g.offsets {
			rows = append(rows, row{k, o.Offset})
		}
		g.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(members), g.id)
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, g.id, string(state))
		ch <- prometheus.MustNewConstMetric(descGeneration, prometheus.GaugeValue, float64(gen), g.id)
		for _, r := range rows {
			if _, ok := c.topicPartitionExists(r.k.topic, r.k.partition); !ok {
				continue
			}
			part := strconv.Itoa(int(r.k.partition))
			ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(r.o), g.id, r.k.topic, part)
			if c.cfg.HighWatermark == nil {
				continue
			}
			hwm, ok := c.cfg.HighWatermark(r.k.topic, r.k.partition)
			if !ok {
				continue
			}
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(max(hwm-r.o, 0)), g.id, r.k.topic, part)
		}
	}
}
