package server

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/group"
	"github.com/freshmart/platform/broker/internal/storage"
	"github.com/freshmart/platform/broker/internal/txn"
)

// txnServer is a Server with groups and transactions over a temp dir, for
// calling handlers directly (no listener is served).
func txnServer(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := storage.Open(storage.Options{Dir: dir, Sync: storage.SyncNever, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTopic("t", 2, nil); err != nil {
		t.Fatal(err)
	}
	gc, err := OpenGroups(st, group.Config{Dir: filepath.Join(dir, "groups"), NoSync: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := OpenTxns(st, gc, txn.Config{Dir: filepath.Join(dir, "transactions"), NoSync: true, Logger: log, CheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Addr: "127.0.0.1:0", Store: st, Groups: gc, Txns: tc, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		st.Close()
	})
	return srv
}

// fuzzHandlers decodes b as a request body of one of keys (chosen by the
// first byte, the version by the second) and runs its handler: bodies that
// decode must be handled without a panic and answered with a response that
// encodes.
func fuzzHandlers(f *testing.F, keys []int16, seeds []kmsg.Request) {
	for _, s := range seeds {
		ki := 0
		for i, k := range keys {
			if k == s.Key() {
				ki = i
			}
		}
		f.Add(append([]byte{byte(ki), byte(s.GetVersion())}, s.AppendTo(nil)...))
	}
	srv := txnServer(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 || longUvarint(b) {
			t.Skip()
		}
		key := keys[int(b[0])%len(keys)]
		h := handlers[key]
		version := h.min + int16(b[1])%(h.max-h.min+1)
		body := kmsg.RequestForKey(key)
		body.SetVersion(version)
		if err := body.ReadFrom(b[2:]); err != nil {
			return
		}
		reply, err := h.fn(srv, &Request{Key: key, Version: version, Body: body})
		if err != nil {
			return // a closed connection (acks=0 produce)
		}
		resp := reply.Resp
		if reply.Later != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp = reply.Later(ctx)
			cancel()
		}
		if reply.Done != nil {
			defer reply.Done()
		}
		if resp != nil {
			resp.SetVersion(version)
			resp.AppendTo(nil)
		}
	})
}

// FuzzTxnCoordinatorRequests: InitProducerId, AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DescribeTransactions and
// ListTransactions with arbitrary bodies.
func FuzzTxnCoordinatorRequests(f *testing.F) {
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	init.TransactionalID = kmsg.StringPtr("fz")
	init.TransactionTimeoutMillis = 1000
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID = "fz"
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "t", []int32{0, 1, 7}
	add.Topics = append(add.Topics, at)
	offs := kmsg.NewPtrAddOffsetsToTxnRequest()
	offs.Version, offs.TransactionalID, offs.Group = 3, "fz", "g"
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.Commit = 3, "fz", true
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.Version, toc.TransactionalID, toc.Group, toc.Generation = 3, "fz", "g", -1
	tt := kmsg.NewTxnOffsetCommitRequestTopic()
	tt.Topic = "t"
	tt.Partitions = append(tt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
	toc.Topics = append(toc.Topics, tt)
	desc := kmsg.NewPtrDescribeTransactionsRequest()
	desc.TransactionalIDs = []string{"fz", "nope"}
	list := kmsg.NewPtrListTransactionsRequest()
	list.Version = 1
	list.StateFilters = []string{"Ongoing"}
	fuzzHandlers(f, []int16{
		kmsg.InitProducerID.Int16(), kmsg.AddPartitionsToTxn.Int16(), kmsg.AddOffsetsToTxn.Int16(),
		kmsg.EndTxn.Int16(), kmsg.TxnOffsetCommit.Int16(), kmsg.DescribeTransactions.Int16(), kmsg.ListTransactions.Int16(),
	}, []kmsg.Request{init, add, offs, end, toc, desc, list})
}

// FuzzTxnDataRequests: Produce (transactional batches), read_committed
// Fetch and ListOffsets with arbitrary bodies.
func FuzzTxnDataRequests(f *testing.F) {
	batch := makeBatch(0, 0, 0, 2, 5)
	batch[22] |= 0x10 // transactional (attributes low byte)
	prod := produceReq(9, -1, "t", 0, batch)
	prod.TransactionID = kmsg.StringPtr("fz")
	fr := kmsg.NewPtrFetchRequest()
	fr.Version, fr.IsolationLevel, fr.MaxBytes = 12, 1, 1<<20
	frt := kmsg.NewFetchRequestTopic()
	frt.Topic = "t"
	frt.Partitions = append(frt.Partitions, kmsg.NewFetchRequestTopicPartition())
	fr.Topics = append(fr.Topics, frt)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version, lo.IsolationLevel = 5, 1
	lot := kmsg.NewListOffsetsRequestTopic()
	lot.Topic = "__consumer_offsets"
	lot.Partitions = append(lot.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
	lo.Topics = append(lo.Topics, lot)
	fuzzHandlers(f, []int16{kmsg.Produce.Int16(), kmsg.Fetch.Int16(), kmsg.ListOffsets.Int16()}, []kmsg.Request{prod, fr, lo})
}

// longUvarint reports whether b holds a uvarint of 2^21 or more: as a
// tagged field count it costs kmsg that many loop turns (unsupported.go)
// and trips the fuzzer's hang detector on the handlers' slower path.
func longUvarint(b []byte) bool { return continuationRun(b, 3) }
