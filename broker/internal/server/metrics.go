package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/freshmart/platform/broker/internal/storage"
)

// Metrics holds the broker's Prometheus metrics in its own registry (no
// global state, so tests can run several servers in one process).
type Metrics struct {
	// Registry holds every metric below plus the Go runtime and process
	// collectors; serve it with Handler.
	Registry *prometheus.Registry

	connections      prometheus.Gauge
	inFlight         prometheus.Gauge
	connectionsTotal prometheus.Counter
	badFrames        prometheus.Counter
	requests         *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	bytesIn          prometheus.Counter
	bytesOut         prometheus.Counter
	records          *prometheus.CounterVec
	appendBytes      *prometheus.CounterVec
	syncLatency      prometheus.Histogram
	produceErrors    *prometheus.CounterVec

	storeOnce sync.Once
}

// NewMetrics creates the metrics and their registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_connections", Help: "Open client connections.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "broker_requests_in_flight", Help: "Requests read whose responses are not written yet (long polls and fsync waits included).",
		}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_connections_accepted_total", Help: "Client connections accepted.",
		}),
		badFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_bad_frames_total", Help: "Connections closed for an oversized, negative or undecodable frame.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_requests_total", Help: "Requests answered, by API, version and outcome (ok, no_response, unsupported_version).",
		}, []string{"api", "version", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "broker_request_duration_seconds",
			Help:    "Time from reading a request to its response being ready, by API (includes fsync waits and long polls).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_network_received_bytes_total", Help: "Request bytes read, frame headers included.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "broker_network_sent_bytes_total", Help: "Response bytes written, frame headers included.",
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_records_appended_total", Help: "Records appended, by topic.",
		}, []string{"topic"}),
		appendBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_appended_bytes_total", Help: "Record batch bytes appended, by topic.",
		}, []string{"topic"}),
		syncLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "broker_produce_sync_duration_seconds",
			Help:    "Time an acks=all produce waits for its data to be durable (the group-commit fsync in fsync mode).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 14),
		}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broker_produce_partition_errors_total", Help: "Produce partition answers with an error, by Kafka error name.",
		}, []string{"error"}),
	}
	m.Registry.MustRegister(
		m.connections, m.inFlight, m.connectionsTotal, m.badFrames, m.requests, m.latency, m.bytesIn, m.bytesOut,
		m.records, m.appendBytes, m.syncLatency, m.produceErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

func (m *Metrics) observeRequest(api string, version int16, outcome string, d time.Duration) {
	m.requests.WithLabelValues(api, strconv.Itoa(int(version)), outcome).Inc()
	m.latency.WithLabelValues(api).Observe(d.Seconds())
}

// watchStore registers the store-derived gauges (once per Metrics).
func (m *Metrics) watchStore(st *storage.Store) {
	m.storeOnce.Do(func() { m.Registry.MustRegister(&storeCollector{st: st}) })
}

// storeCollector reports per-partition offsets and disk usage at scrape time.
type storeCollector struct{ st *storage.Store }

var (
	descHWM = prometheus.NewDesc("broker_partition_high_watermark",
		"Offset after the last record consumers can read.", []string{"topic", "partition"}, nil)
	descLSO = prometheus.NewDesc("broker_partition_log_start_offset",
		"First offset still in the log.", []string{"topic", "partition"}, nil)
	descDisk = prometheus.NewDesc("broker_data_dir_bytes",
		"Bytes used on disk by the data directory.", nil, nil)
	descTopics = prometheus.NewDesc("broker_topics", "Topics in the store.", nil, nil)
	descFsyncs = prometheus.NewDesc("broker_store_fsyncs_total",
		"Segment fsyncs done by group-commit rounds.", nil, nil)
	descDirty = prometheus.NewDesc("broker_partition_dirty_ratio",
		"Compacted topics: share of the partition's cleanable bytes not yet compacted.", []string{"topic", "partition"}, nil)
	descCleaned = prometheus.NewDesc("broker_compaction_cleaned_bytes_total",
		"Bytes of segments the log cleaner read and rewrote.", nil, nil)
	descCleanRemoved = prometheus.NewDesc("broker_compaction_removed_bytes_total",
		"Bytes the log cleaner removed from compacted logs.", nil, nil)
	descCleanPasses = prometheus.NewDesc("broker_compaction_passes_total",
		"Partition compaction passes.", nil, nil)
	descRounds = prometheus.NewDesc("broker_store_sync_rounds_total",
		"Partition group-commit rounds; acks=all produces per round = rate(broker_produce_sync_duration_seconds_count) / rate(this).", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHWM
	ch <- descLSO
	ch <- descDisk
	ch <- descTopics
	ch <- descFsyncs
	ch <- descRounds
	ch <- descDirty
	ch <- descCleaned
	ch <- descCleanRemoved
	ch <- descCleanPasses
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	topics := c.st.Topics()
	ch <- prometheus.MustNewConstMetric(descTopics, prometheus.GaugeValue, float64(len(topics)))
	for _, t := range topics {
		for i := int32(0); i < t.Partitions; i++ {
			p, err := c.st.Partition(t.Name, i)
			if err != nil {
				continue
			}
			ps := strconv.Itoa(int(i))
			ch <- prometheus.MustNewConstMetric(descHWM, prometheus.GaugeValue, float64(p.HighWatermark()), t.Name, ps)
			ch <- prometheus.MustNewConstMetric(descLSO, prometheus.GaugeValue, float64(p.LogStartOffset()), t.Name, ps)
			if r, ok := p.DirtyRatio(); ok {
				ch <- prometheus.MustNewConstMetric(descDirty, prometheus.GaugeValue, r, t.Name, ps)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(c.st.DataDirUsage()))
	st := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(descFsyncs, prometheus.CounterValue, float64(st.Fsyncs))
	ch <- prometheus.MustNewConstMetric(descRounds, prometheus.CounterValue, float64(st.SyncRounds))
	cs := c.st.CompactionStats()
	ch <- prometheus.MustNewConstMetric(descCleaned, prometheus.CounterValue, float64(cs.CleanedBytes))
	ch <- prometheus.MustNewConstMetric(descCleanRemoved, prometheus.CounterValue, float64(cs.RemovedBytes))
	ch <- prometheus.MustNewConstMetric(descCleanPasses, prometheus.CounterValue, float64(cs.Passes))
}
