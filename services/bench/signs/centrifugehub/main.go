// Command centrifugehub is the peer of the signs hub in `make bench-signs`: a hub built on
// github.com/centrifugal/centrifuge (the library behind Centrifugo, in-memory broker), fed the
// same events the same way: it reads every partition of display-updates from its end without
// a group, folds them with package signs and publishes each change's update frame (the same
// bytes our hub sends) to the channel "<store>/<sku>". A client connects to
// /connection/websocket?store_id=S001&skus=PRD-0001,... and is subscribed server-side to the
// channels of its SKUs; it speaks centrifuge's JSON protocol, and acknowledges what it shows
// with an async message (centrifuge's "send") carrying our ack frame, which the peer parses
// and keeps per client. There is no snapshot, no token and no Postgres: the peer does less
// than our hub, which only makes the comparison harder for ours.
//
// Environment: KAFKA_BROKERS (127.0.0.1:9092), HTTP_ADDR (127.0.0.1:8094), BENCH_PPROF_ADDR
// (serve net/http/pprof there; the bench's -profile).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshmart/platform/schemas"
	"github.com/freshmart/platform/services/bench/signs/benchpprof"
	"github.com/freshmart/platform/services/catalog"
	"github.com/freshmart/platform/services/signs"
	"github.com/freshmart/platform/services/signs/signsapp"
)

type chansKey struct{}

// acks counts the acknowledgements read, reported when the peer stops.
var acks atomic.Int64

func main() {
	benchpprof.Start()
	if err := run(); err != nil {
		log.Fatalf("centrifugehub: %v", err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cat, err := catalog.Load()
	if err != nil {
		return err
	}
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError, ClientQueueMaxSize: 1 << 20})
	if err != nil {
		return err
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		chans, _ := ctx.Value(chansKey{}).([]string)
		subs := make(map[string]centrifuge.SubscribeOptions, len(chans))
		for _, ch := range chans {
			subs[ch] = centrifuge.SubscribeOptions{}
		}
		return centrifuge.ConnectReply{Subscriptions: subs}, nil
	})
	// A sign acknowledges what it shows, as ours do: an async message {"type":"ack","version":V}
	// (centrifuge's "send"), read and kept per client, as our hub keeps the last version
	// acknowledged per sign.
	node.OnConnect(func(c *centrifuge.Client) {
		var acked atomic.Int64
		c.OnMessage(func(e centrifuge.MessageEvent) {
			if ack, err := signs.ParseAck(e.Data, math.MaxInt64); err == nil {
				acked.Store(max(acked.Load(), ack.Version))
				acks.Add(1)
			}
		})
	})
	if err := node.Run(); err != nil {
		return err
	}
	ws := centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{CheckOrigin: func(*http.Request) bool { return true },
		WriteTimeout: 10 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	mux.Handle("/connection/websocket", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		store := r.URL.Query().Get("store_id")
		skus, err := signs.Select(cat, r.URL.Query().Get("skus"), r.URL.Query().Get("aisle"))
		if _, serr := cat.Store(store); err != nil || serr != nil {
			http.Error(w, "bad store_id or skus", http.StatusBadRequest)
			return
		}
		chans := make([]string, len(skus))
		for i, sku := range skus {
			chans[i] = store + "/" + sku
		}
		ctx := centrifuge.SetCredentials(r.Context(), &centrifuge.Credentials{UserID: ""})
		ws.ServeHTTP(w, r.WithContext(context.WithValue(ctx, chansKey{}, chans)))
	}))
	ln, err := net.Listen("tcp", env("HTTP_ADDR", "127.0.0.1:8094"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	defer node.Shutdown(context.Background()) //nolint:errcheck
	defer func() { fmt.Fprintf(os.Stderr, "centrifugehub: %d acknowledgements read\n", acks.Load()) }()
	return follow(ctx, cat, node, strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ","))
}

// follow publishes every change of display-updates from its current end.
func follow(ctx context.Context, cat *catalog.Catalog, node *centrifuge.Node, brokers []string) error {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, schemas.TopicDisplayUpdates)
	adm.Close()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return err
	}
	start := map[int32]kgo.Offset{}
	for p, lo := range ends[schemas.TopicDisplayUpdates] {
		start[p] = kgo.NewOffset().At(lo.Offset)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{schemas.TopicDisplayUpdates: start}))
	if err != nil {
		return err
	}
	defer cl.Close()
	stores := map[string]*signs.Store{}
	for _, st := range cat.Stores() {
		stores[st.StoreID] = signs.NewStore(cat, st.StoreID)
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachRecord(func(r *kgo.Record) {
			typ, p, err := signsapp.Decode(r)
			if err != nil {
				return
			}
			store, sku, _ := signs.Target(p)
			st := stores[store]
			if st == nil {
				return
			}
			if _, ok := st.Apply(sku, signs.Change{Type: typ, Version: r.Offset + 1, Payload: p}); ok {
				if _, err := node.Publish(store+"/"+sku, st.Update(sku)); err != nil && !errors.Is(err, context.Canceled) {
					log.Printf("centrifugehub: publish: %v", err)
				}
			}
		})
	}
}
