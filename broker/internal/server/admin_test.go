package server

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminTopics(t *testing.T) {
	b := startBroker(t, "")
	adm := b.admin()
	ctx := testCtx(t)

	created, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kmsg.StringPtr("-1")}, "a", "b")
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		r := created[name]
		if r.Err != nil || r.NumPartitions != 3 || r.ID == (kadm.TopicID{}) {
			t.Fatalf("create %s: %+v", name, r)
		}
	}

	errCases := []struct {
		name   string
		parts  int32
		rf     int16
		cfg    map[string]*string
		topic  string
		expect error
	}{
		{"exists", 1, 1, nil, "a", kerr.TopicAlreadyExists},
		{"bad name", 1, 1, nil, "bad/name", kerr.InvalidTopicException},
		{"replication factor 3", 1, 3, nil, "c", kerr.InvalidReplicationFactor},
		{"zero partitions", 0, 1, nil, "c", kerr.InvalidPartitions},
		{"unknown config", 1, 1, map[string]*string{"no.such": kmsg.StringPtr("1")}, "c", kerr.InvalidConfig},
		{"bad config value", 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("soon")}, "c", kerr.InvalidConfig},
	}
	for _, tc := range errCases {
		t.Run("create "+tc.name, func(t *testing.T) {
			r, err := adm.CreateTopic(ctx, tc.parts, tc.rf, tc.cfg, tc.topic)
			if err == nil {
				err = r.Err
			}
			if !errors.Is(err, tc.expect) {
				t.Fatalf("got %v, want %v", err, tc.expect)
			}
		})
	}
	if _, ok := b.store.Topic("c"); ok {
		t.Fatal("a failed CreateTopics created topic c")
	}

	v, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "validated")
	if err != nil || v["validated"].Err != nil {
		t.Fatalf("validate-only create: %v %v", err, v["validated"].Err)
	}
	if _, ok := b.store.Topic("validated"); ok {
		t.Fatal("validate-only CreateTopics created the topic")
	}

	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(md.Brokers) != 1 || md.Controller != md.Brokers[0].NodeID || md.Cluster == "" {
		t.Fatalf("metadata brokers %+v controller %d cluster %q", md.Brokers, md.Controller, md.Cluster)
	}
	if td := md.Topics["a"]; len(td.Partitions) != 3 || td.ID != created["a"].ID {
		t.Fatalf("metadata for a: %+v", td)
	}

	cp, err := adm.CreatePartitions(ctx, 2, "a")
	if err != nil || cp["a"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cp["a"].Err)
	}
	if info, _ := b.store.Topic("a"); info.Partitions != 5 {
		t.Fatalf("a has %d partitions after adding 2, want 5", info.Partitions)
	}
	up, err := adm.UpdatePartitions(ctx, 4, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(up["a"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking partitions: %v, want INVALID_PARTITIONS", up["a"].Err)
	}
	up, err = adm.UpdatePartitions(ctx, 4, "missing")
	if err == nil {
		err = up["missing"].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("partitions of a missing topic: %v", err)
	}

	del, err := adm.DeleteTopics(ctx, "b")
	if err != nil || del["b"].Err != nil {
		t.Fatalf("delete b: %v %v", err, del["b"].Err)
	}
	if _, ok := b.store.Topic("b"); ok {
		t.Fatal("b still exists after DeleteTopics")
	}
	del, err = adm.DeleteTopics(ctx, "b")
	if err == nil {
		err = del["b"].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("deleting a deleted topic: %v", err)
	}

	// DeleteTopics v6 by topic id.
	req := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = created["a"].ID
	req.Topics = append(req.Topics, dt)
	resp, err := req.RequestWith(ctx, b.client())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version >= 6 && (resp.Topics[0].ErrorCode != 0 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "a") {
		t.Fatalf("delete by id: %+v", resp.Topics[0])
	}
}

func TestAdminConfigs(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("cfg", 1, map[string]string{"retention.ms": "1000"})
	adm := b.admin()
	ctx := testCtx(t)

	value := func(name string) (string, kmsg.ConfigSource) {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatalf("describe: %v", err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe cfg: %v %v", err, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c.MaybeValue(), c.Source
			}
		}
		t.Fatalf("config %s not described", name)
		return "", 0
	}
	if v, src := value("retention.ms"); v != "1000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %q from %v", v, src)
	}
	if v, src := value("max.message.bytes"); v != "1048588" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("max.message.bytes = %q from %v", v, src)
	}

	// Incremental: set one, keep the other.
	r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kmsg.StringPtr("5000")}}, "cfg")
	if err != nil || r[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, r)
	}
	if v, _ := value("retention.bytes"); v != "5000" {
		t.Fatalf("retention.bytes = %q after incremental set", v)
	}
	if v, _ := value("retention.ms"); v != "1000" {
		t.Fatalf("retention.ms = %q after an incremental change of another config", v)
	}
	r, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}}, "cfg")
	if err != nil || r[0].Err != nil {
		t.Fatalf("append cleanup.policy: %v %+v", err, r)
	}
	if v, _ := value("cleanup.policy"); v != "delete,compact" {
		t.Fatalf("cleanup.policy = %q after append", v)
	}
	r, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, "cfg")
	if err != nil || r[0].Err != nil {
		t.Fatalf("incremental delete: %v %+v", err, r)
	}
	if v, src := value("retention.ms"); v != "604800000" || src == kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms = %q from %v after delete", v, src)
	}

	// Non-incremental: the request's set replaces everything.
	r, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("1048576")}}, "cfg")
	if err != nil || r[0].Err != nil {
		t.Fatalf("alter configs: %v %+v", err, r)
	}
	if v, _ := value("segment.bytes"); v != "1048576" {
		t.Fatalf("segment.bytes = %q", v)
	}
	if v, src := value("retention.bytes"); v != "-1" || src == kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.bytes = %q from %v after a non-incremental alter without it", v, src)
	}

	bad := []struct {
		name string
		cfg  kadm.AlterConfig
		want error
	}{
		{"unknown name", kadm.AlterConfig{Name: "no.such", Value: kmsg.StringPtr("1")}, kerr.InvalidConfig},
		{"bad value", kadm.AlterConfig{Name: "max.message.bytes", Value: kmsg.StringPtr("big")}, kerr.InvalidConfig},
		{"append to a non-list", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: kmsg.StringPtr("1")}, kerr.InvalidConfig},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.cfg}, "cfg")
			if err == nil {
				err = r[0].Err
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	r, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}}, "missing")
	if err == nil {
		err = r[0].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("alter a missing topic: %v", err)
	}

	brokers, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatalf("describe broker configs: %v", err)
	}
	if len(brokers) != 1 || brokers[0].Err != nil || len(brokers[0].Configs) == 0 {
		t.Fatalf("broker configs: %+v", brokers)
	}
}

func TestAdminOffsets(t *testing.T) {
	b := startBroker(t, "")
	b.createTopic("ts", 1, nil)
	adm := b.admin()
	ctx := testCtx(t)
	cl := b.client(kgo.DefaultProduceTopic("ts"))
	stamps := []int64{1000, 2000, 9000, 3000, 4000}
	for _, ms := range stamps {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v"), Timestamp: time.UnixMilli(ms)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, lo kadm.ListedOffsets, err error, wantOffset, wantTS int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, ok := lo.Lookup("ts", 0)
		if !ok || o.Err != nil || o.Offset != wantOffset || (wantTS != 0 && o.Timestamp != wantTS) {
			t.Fatalf("%s: %+v, want offset %d timestamp %d", name, o, wantOffset, wantTS)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, "ts")
	check("earliest", lo, err, 0, 0)
	lo, err = adm.ListEndOffsets(ctx, "ts")
	check("latest", lo, err, 5, 0)
	lo, err = adm.ListOffsetsAfterMilli(ctx, 2500, "ts")
	check("by timestamp", lo, err, 2, 9000)
	lo, err = adm.ListOffsetsAfterMilli(ctx, 3500, "ts")
	check("by timestamp after max", lo, err, 2, 9000)
	lo, err = adm.ListMaxTimestampOffsets(ctx, "ts")
	check("max timestamp", lo, err, 2, 9000)

	var req kadm.OffsetForLeaderEpochRequest
	req.Add("ts", 0, 0)
	ep, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e := ep["ts"][0]; e.Err != nil || e.LeaderEpoch != 0 || e.EndOffset != 5 {
		t.Fatalf("offset for leader epoch: %+v", e)
	}

	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "ts", Partition: 0, At: 3})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("ts", 0); r.Err != nil || r.LowWatermark != 3 {
		t.Fatalf("delete records: %+v", r)
	}
	lo, err = adm.ListStartOffsets(ctx, "ts")
	check("earliest after delete records", lo, err, 3, 0)
	cons := b.client(kgo.ConsumeTopics("ts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 3 {
		t.Fatalf("first record after delete records: %+v", recs)
	}

	os = nil
	os.Add(kadm.Offset{Topic: "ts", Partition: 0, At: 99})
	dr, err = adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("ts", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete records past the end: %+v", r)
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dcr, err := dc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if dcr.ErrorCode != 0 || len(dcr.Brokers) != 1 || dcr.ClusterID == "" || dcr.Brokers[0].Port == 0 {
		t.Fatalf("describe cluster: %+v", dcr)
	}
}

func TestAutoCreateTopics(t *testing.T) {
	b := startBroker(t, "", withAutoCreate())
	cl := b.client(kgo.DefaultProduceTopic("fresh"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to an auto-created topic: %v", err)
	}
	if info, ok := b.store.Topic("fresh"); !ok || info.Partitions != 1 {
		t.Fatalf("fresh: %+v %v", info, ok)
	}
}
