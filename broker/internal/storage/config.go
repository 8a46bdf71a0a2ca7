package storage

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Config sources as Kafka's DescribeConfigs reports them (kmsg.ConfigSource).
const (
	SourceTopic         int8 = 1 // DYNAMIC_TOPIC_CONFIG: set on the topic
	SourceStaticBroker  int8 = 4 // STATIC_BROKER_CONFIG: a broker-wide default from Options.Defaults
	SourceDefaultConfig int8 = 5 // DEFAULT_CONFIG: the built-in default
)

// configSpec describes one known topic config.
type configSpec struct {
	name     string
	def      string
	typ      string // kmsg config type name: LONG, INT, STRING, LIST, BOOLEAN, DOUBLE
	validate func(string) error
	// applied reports whether the store acts on the value; the others are
	// accepted and stored so that clients setting them do not fail.
	applied bool
}

func intRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is outside [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, ok := range vals {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
}

func isBool(v string) error { return oneOf("true", "false")(v) }

// ratio accepts a number in [0, 1] (min.cleanable.dirty.ratio).
func ratio(v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	if !(f >= 0 && f <= 1) {
		return fmt.Errorf("%v is outside [0, 1]", f)
	}
	return nil
}

func cleanupPolicy(v string) error {
	seen := 0
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "delete", "compact":
			seen++
		default:
			return fmt.Errorf("%q is not a list of delete and compact", v)
		}
	}
	if seen == 0 {
		return fmt.Errorf("empty cleanup.policy")
	}
	return nil
}

func anyString(string) error { return nil }

// Built-in topic config defaults.
const (
	DefaultRetentionMs     = 604800000  // retention.ms: 7 days
	DefaultRetentionBytes  = -1         // retention.bytes: unlimited
	DefaultSegmentBytes    = 1073741824 // segment.bytes: 1 GiB
	DefaultSegmentMs       = 604800000  // segment.ms: 7 days
	DefaultMaxMessageBytes = 1048588    // max.message.bytes: one produced batch

	DefaultDeleteRetentionMs      = 86400000 // delete.retention.ms: 1 day
	DefaultMinCleanableDirtyRatio = 0.5      // min.cleanable.dirty.ratio
)

// configSpecs lists the topic configs the store knows, sorted by name.
// cleanup.policy=compact is performed by the cleaner (compact.go); a topic
// whose policy lacks "delete" has no time or size retention.
var configSpecs = []configSpec{
	{"cleanup.policy", "delete", "LIST", cleanupPolicy, true},
	{"compression.type", "producer", "STRING", oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"), false},
	{"delete.retention.ms", strconv.Itoa(DefaultDeleteRetentionMs), "LONG", intRange(0, math.MaxInt64), true},
	{"file.delete.delay.ms", "60000", "LONG", intRange(0, math.MaxInt64), false},
	{"flush.messages", "9223372036854775807", "LONG", intRange(1, math.MaxInt64), false},
	{"flush.ms", "9223372036854775807", "LONG", intRange(0, math.MaxInt64), false},
	{"index.interval.bytes", "4096", "INT", intRange(0, math.MaxInt32), false},
	{"max.compaction.lag.ms", "9223372036854775807", "LONG", intRange(1, math.MaxInt64), false},
	{"max.message.bytes", strconv.Itoa(DefaultMaxMessageBytes), "INT", intRange(0, math.MaxInt32), true},
	{"message.timestamp.difference.max.ms", "9223372036854775807", "LONG", intRange(0, math.MaxInt64), false},
	{"message.timestamp.type", "CreateTime", "STRING", oneOf("CreateTime", "LogAppendTime"), true},
	{"min.cleanable.dirty.ratio", "0.5", "DOUBLE", ratio, true},
	{"min.compaction.lag.ms", "0", "LONG", intRange(0, math.MaxInt64), true},
	{"min.insync.replicas", "1", "INT", intRange(1, math.MaxInt32), false},
	{"preallocate", "false", "BOOLEAN", isBool, false},
	{"retention.bytes", strconv.Itoa(DefaultRetentionBytes), "LONG", intRange(-1, math.MaxInt64), true},
	{"retention.ms", strconv.Itoa(DefaultRetentionMs), "LONG", intRange(-1, math.MaxInt64), true},
	{"segment.bytes", strconv.Itoa(DefaultSegmentBytes), "INT", intRange(14, math.MaxInt32), true},
	{"segment.index.bytes", "10485760", "INT", intRange(4, math.MaxInt32), false},
	{"segment.jitter.ms", "0", "LONG", intRange(0, math.MaxInt64), false},
	{"segment.ms", strconv.Itoa(DefaultSegmentMs), "LONG", intRange(1, math.MaxInt64), true},
	{"unclean.leader.election.enable", "false", "BOOLEAN", isBool, false},
	{"message.downconversion.enable", "true", "BOOLEAN", isBool, false},
	{"follower.replication.throttled.replicas", "", "LIST", anyString, false},
	{"leader.replication.throttled.replicas", "", "LIST", anyString, false},
}

var specByName = func() map[string]*configSpec {
	m := make(map[string]*configSpec, len(configSpecs))
	sort.Slice(configSpecs, func(i, j int) bool { return configSpecs[i].name < configSpecs[j].name })
	for i := range configSpecs {
		m[configSpecs[i].name] = &configSpecs[i]
	}
	return m
}()

// KnownConfigs returns the names of every topic config the store accepts,
// sorted. Of these, cleanup.policy, delete.retention.ms, max.message.bytes,
// message.timestamp.type, min.cleanable.dirty.ratio, min.compaction.lag.ms,
// retention.bytes, retention.ms, segment.bytes and segment.ms take effect;
// the others are stored and reported only.
func KnownConfigs() []string {
	names := make([]string, len(configSpecs))
	for i, c := range configSpecs {
		names[i] = c.name
	}
	return names
}

// ValidateConfig checks one topic config name and value; errors wrap
// ErrInvalidConfig.
func ValidateConfig(name, value string) error {
	spec, ok := specByName[name]
	if !ok {
		return fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, name)
	}
	if err := spec.validate(value); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidConfig, name, err)
	}
	return nil
}

func validateConfigs(configs map[string]string) error {
	for k, v := range configs {
		if err := ValidateConfig(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Config returns the resolved configuration: the topic's explicit value,
// else the broker-wide default (Options.Defaults), else the built-in default.
func (t TopicInfo) Config() TopicConfig {
	get := func(name string) string {
		v, _ := t.resolve(name)
		return v
	}
	geti := func(name string, def int64) int64 {
		n, err := strconv.ParseInt(strings.TrimSpace(get(name)), 10, 64)
		if err != nil {
			return def
		}
		return n
	}
	getf := func(name string, def float64) float64 {
		f, err := strconv.ParseFloat(strings.TrimSpace(get(name)), 64)
		if err != nil {
			return def
		}
		return f
	}
	return TopicConfig{
		RetentionMs:     geti("retention.ms", DefaultRetentionMs),
		RetentionBytes:  geti("retention.bytes", DefaultRetentionBytes),
		SegmentBytes:    geti("segment.bytes", DefaultSegmentBytes),
		SegmentMs:       geti("segment.ms", DefaultSegmentMs),
		MaxMessageBytes: int32(geti("max.message.bytes", DefaultMaxMessageBytes)),
		CleanupPolicy:   get("cleanup.policy"),
		TimestampType:   get("message.timestamp.type"),

		DeleteRetentionMs:      geti("delete.retention.ms", DefaultDeleteRetentionMs),
		MinCleanableDirtyRatio: getf("min.cleanable.dirty.ratio", DefaultMinCleanableDirtyRatio),
		MinCompactionLagMs:     geti("min.compaction.lag.ms", 0),
	}
}

// compacts reports whether the cleanup policy includes "compact".
func (c *TopicConfig) compacts() bool {
	for _, p := range strings.Split(c.CleanupPolicy, ",") {
		if strings.TrimSpace(p) == "compact" {
			return true
		}
	}
	return false
}

// deletes reports whether the cleanup policy includes "delete", that is
// whether retention.ms and retention.bytes apply.
func (c *TopicConfig) deletes() bool {
	for _, p := range strings.Split(c.CleanupPolicy, ",") {
		if strings.TrimSpace(p) == "delete" {
			return true
		}
	}
	return false
}

// resolve returns a config's effective value and its source.
func (t TopicInfo) resolve(name string) (string, int8) {
	if v, ok := t.Configs[name]; ok {
		return v, SourceTopic
	}
	if v, ok := t.defaults[name]; ok {
		return v, SourceStaticBroker
	}
	if spec, ok := specByName[name]; ok {
		return spec.def, SourceDefaultConfig
	}
	return "", SourceDefaultConfig
}

// DescribeTopicConfig lists every known topic config of t, sorted by name,
// with its effective value and where that value comes from (Source:
// SourceTopic, SourceStaticBroker or SourceDefaultConfig). Type is the Kafka
// config type name (LONG, INT, STRING, LIST, BOOLEAN, DOUBLE), which
// kmsg.ParseConfigType accepts. No topic config is read-only or sensitive.
func DescribeTopicConfig(t TopicInfo) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(configSpecs))
	for _, spec := range configSpecs {
		v, src := t.resolve(spec.name)
		out = append(out, ConfigEntry{
			Name:      spec.name,
			Value:     v,
			IsDefault: src != SourceTopic,
			Source:    src,
			Type:      spec.typ,
		})
	}
	return out
}
