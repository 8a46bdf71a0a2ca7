package run

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/broker"
	"github.com/freshmart/platform/internal/kit"
)

// EnsureTopics creates the FreshMart topics (broker.DefaultTopics: names, partition counts,
// retention) on the Kafka cluster at brokers (comma-separated), leaving existing topics as they
// are; a topic that exists with another partition count is reported, not changed. The bundled
// broker creates them itself; this is for a real Kafka or Redpanda cluster. Replication is the
// cluster's default.
func EnsureTopics(ctx context.Context, brokers string, out *Output) error {
	defs, err := broker.DefaultTopics()
	if err != nil {
		return fmt.Errorf("topic definitions: %w", err)
	}
	sec, err := kit.OS.KafkaSecurity()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(sec, kgo.SeedBrokers(strings.Split(brokers, ",")...))...)
	if err != nil {
		return fmt.Errorf("kafka client for %s: %w", brokers, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	existing, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics on %s: %w", brokers, err)
	}
	var errs []error
	for _, d := range defs {
		if td, ok := existing[d.Name]; ok {
			if n := int32(len(td.Partitions)); n != d.Partitions {
				out.Printf("run", "topic %s exists with %d partitions (FreshMart expects %d); left as it is", d.Name, n, d.Partitions)
			}
			continue
		}
		configs := map[string]*string{}
		for k, v := range d.Configs {
			configs[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, d.Partitions, -1, configs, d.Name)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil:
			out.Printf("run", "created topic %s (%d partitions)", d.Name, d.Partitions)
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("create topic %s: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}
