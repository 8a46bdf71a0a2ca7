// Command kfakeserver runs franz-go's in-memory Kafka fake (kfake) as a
// stand-alone single-node broker process, so the broker benchmark can measure
// it exactly like freshmart-broker: over TCP, in its own process, with its own
// RSS and CPU time.
//
// Persistence is on: the cluster writes its state under -data-dir and, with
// -sync (the default), fsyncs every produced batch before answering, which is
// the durability freshmart-broker offers by default.
//
// When clients can connect it logs one line with msg=listening and the
// bound address (addr=host:port) to stderr, as freshmart-broker does. SIGINT or SIGTERM closes the cluster (which persists
// its state) and exits 0.
//
// Usage:
//
//	kfakeserver -listen 127.0.0.1:0 -data-dir /tmp/kfake -topics bench:6
//	kfakeserver -topics freshmart
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/freshmart/platform/broker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicDef is one topic to create at start.
type topicDef struct {
	name       string
	partitions int32
	configs    map[string]*string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
}

func run() error {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	listen := flag.String("listen", "127.0.0.1:9092", "address to listen on (port 0 picks a free port)")
	dataDir := flag.String("data-dir", "", "directory kfake persists its state in (required)")
	syncWrites := flag.Bool("sync", true, "fsync every produced batch before acknowledging (kfake SyncWrites)")
	topics := flag.String("topics", "", `topics to create at start: "freshmart" for the seven FreshMart topics, or a comma separated list of name:partitions`)
	flag.Parse()
	if *dataDir == "" {
		return errors.New("-data-dir is required")
	}
	defs, err := parseTopics(*topics)
	if err != nil {
		return err
	}

	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", *listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("-listen %q: port: %w", *listen, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DataDir(*dataDir),
		kfake.ClusterID("kfake-bench"),
		// kfake always binds 127.0.0.1; swap in the requested host.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	if err := createTopics(addr, defs); err != nil {
		return err
	}
	slog.Info("listening", "addr", addr, "data_dir", *dataDir, "sync_writes", *syncWrites)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	slog.Info("kfake stopping", "signal", s.String())
	return nil
}

// parseTopics reads the -topics flag.
func parseTopics(spec string) ([]topicDef, error) {
	if spec == "" {
		return nil, nil
	}
	if spec == "freshmart" {
		return freshmartTopics()
	}
	var defs []topicDef
	for _, item := range strings.Split(spec, ",") {
		name, parts, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("-topics: %q is not name:partitions", item)
		}
		n, err := strconv.ParseInt(parts, 10, 32)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-topics: %q: partitions must be a positive integer", item)
		}
		defs = append(defs, topicDef{name: name, partitions: int32(n)})
	}
	return defs, nil
}

// freshmartTopics returns the FreshMart topics as freshmart-broker creates
// them on first start (its embedded topics.json).
func freshmartTopics() ([]topicDef, error) {
	defs, err := broker.DefaultTopics()
	if err != nil {
		return nil, fmt.Errorf("FreshMart topics: %w", err)
	}
	out := make([]topicDef, 0, len(defs))
	for _, d := range defs {
		configs := make(map[string]*string, len(d.Configs))
		for k, v := range d.Configs {
			configs[k] = &v
		}
		out = append(out, topicDef{name: d.Name, partitions: d.Partitions, configs: configs})
	}
	return out, nil
}

// createTopics creates the topics that do not exist yet (a restart over the
// same data dir finds them already there).
func createTopics(addr string, defs []topicDef) error {
	if len(defs) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, d := range defs {
		resp, err := adm.CreateTopic(ctx, d.partitions, 1, d.configs, d.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", d.name, err)
		}
	}
	return nil
}
