package txn

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is a transaction's state, named as Kafka's DescribeTransactions
// reports it.
type State string

// Transaction states.
const (
	Empty          State = "Empty"
	Ongoing        State = "Ongoing"
	PrepareCommit  State = "PrepareCommit"
	PrepareAbort   State = "PrepareAbort"
	CompleteCommit State = "CompleteCommit"
	CompleteAbort  State = "CompleteAbort"
)

// Offset is a consumer offset committed inside a transaction.
type Offset struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
}

// Log is what the coordinator needs of the partitions: markers, partition
// existence and producer ids.
type Log interface {
	// WriteMarker ends the producer's transaction in the partition with a
	// commit or abort marker at epoch and returns once it is durable
	// (nothing is written if the producer has no open transaction there).
	WriteMarker(topic string, partition int32, producerID int64, epoch int16, commit bool) error
	// PartitionExists reports whether the partition exists.
	PartitionExists(topic string, partition int32) bool
	// NextProducerID returns a producer id unique across restarts.
	NextProducerID() (int64, error)
}

// Groups is what the coordinator needs of the group coordinator.
type Groups interface {
	// CommitTxnOffsets durably commits offsets of a committed transaction.
	CommitTxnOffsets(group string, offsets []Offset) error
}

// Config configures a Coordinator. Zero values take the stated defaults.
type Config struct {
	// Dir holds state.log, normally <data-dir>/transactions. Required.
	Dir string
	// NoSync skips fsync of state changes (default false).
	NoSync bool
	// Log and Groups are the partitions and the group coordinator. Required.
	Log    Log
	Groups Groups
	// Logger receives coordinator events; default slog.Default().
	Logger *slog.Logger
	// MaxTimeout bounds a producer's transaction timeout
	// (transaction.max.timeout.ms); default 15m. Larger ones get
	// INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// CheckInterval is how often timed-out transactions are aborted and
	// expired ids forgotten (transaction.abort.timed.out.transaction.cleanup.interval.ms);
	// default 1s.
	CheckInterval time.Duration
	// IDExpiration is how long a transactional id without an open
	// transaction is kept after its last use (transactional.id.expiration.ms);
	// default 7 days.
	IDExpiration time.Duration
	// CompactBytes is the state log size beyond which it is compacted;
	// default 4 MiB.
	CompactBytes int64
	// Now is the clock; default time.Now. Tests pass a controllable one.
	Now func() time.Time
}

// Coordinator is the transaction coordinator of a single-node broker. Its
// methods are safe for concurrent use.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu    sync.RWMutex // guards txns and each txn's fields; held while a state change is persisted
	txns  map[string]*txnState
	store *stateLog

	stop chan struct{}
	done chan struct{}
}

// txnState is one transactional id's state.
type txnState struct {
	record
	busy bool // markers are being written (a Prepare state is being completed)
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("transaction coordinator closed")

// Open loads the state log from cfg.Dir, completes transactions left in a
// Prepare state and starts the timeout and expiry loop.
func Open(cfg Config) (*Coordinator, error) {
	if cfg.Dir == "" || cfg.Log == nil || cfg.Groups == nil {
		return nil, errors.New("transaction coordinator: Dir, Log and Groups are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	if cfg.CompactBytes <= 0 {
		cfg.CompactBytes = 4 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, recs, err := openStateLog(cfg.Dir, cfg.NoSync, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, store: st, txns: make(map[string]*txnState), stop: make(chan struct{}), done: make(chan struct{})}
	for _, r := range recs {
		c.txns[r.ID] = &txnState{record: r}
	}
	// Finish what a crash interrupted between Prepare and Complete.
	for _, t := range c.sorted() {
		if t.State == PrepareCommit || t.State == PrepareAbort {
			c.mu.Lock()
			t.busy = true
			c.mu.Unlock()
			if err := c.complete(t); err != nil {
				c.log.Warn("cannot complete a transaction found prepared on start; retrying later", "transactional_id", t.ID, "err", err)
			}
		}
	}
	go c.loop()
	return c, nil
}

// Close stops the background loop and closes the state log.
func (c *Coordinator) Close() error {
	select {
	case <-c.stop:
		return ErrClosed
	default:
	}
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store.close()
}

func (c *Coordinator) sorted() []*txnState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*txnState, 0, len(c.txns))
	for _, t := range c.txns {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// persistLocked appends t's state (or its deletion) and, if sync, waits for
// it to be durable. The caller holds c.mu.
func (c *Coordinator) persistLocked(r record, sync bool) error {
	if err := c.store.append(r, sync); err != nil {
		return err
	}
	if c.store.size > c.cfg.CompactBytes {
		recs := make([]record, 0, len(c.txns))
		for _, t := range c.txns {
			recs = append(recs, t.record)
		}
		if err := c.store.compact(recs); err != nil {
			c.log.Warn("cannot compact the transaction state log", "err", err)
		}
	}
	return nil
}

// InitProducerID registers or re-initialises transactional id: a new id gets
// a fresh producer id at epoch 0; a known one has its open transaction (if
// any) aborted and its epoch bumped, fencing the previous producer. A v3+
// request naming its current producer id and epoch (KIP-360) must match.
func (c *Coordinator) InitProducerID(id string, timeoutMs int32, reqPID int64, reqEpoch int16) (int64, int16, *kerr.Error) {
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		t := c.txns[id]
		if t == nil {
			pid, err := c.cfg.Log.NextProducerID()
			if err != nil {
				c.mu.Unlock()
				c.log.Error("allocate producer id", "err", err)
				return -1, -1, kerr.CoordinatorNotAvailable
			}
			now := c.cfg.Now().UnixMilli()
			t = &txnState{record: record{ID: id, ProducerID: pid, Epoch: 0, TimeoutMs: timeoutMs, State: Empty, UpdateMs: now}}
			if err := c.persistLocked(t.record, true); err != nil {
				c.mu.Unlock()
				c.log.Error("persist transaction state", "transactional_id", id, "err", err)
				return -1, -1, kerr.CoordinatorNotAvailable
			}
			c.txns[id] = t
			c.mu.Unlock()
			return pid, 0, nil
		}
		if reqPID >= 0 && (reqPID != t.ProducerID || reqEpoch > t.Epoch) {
			c.mu.Unlock()
			if reqPID != t.ProducerID {
				return -1, -1, kerr.InvalidProducerIDMapping
			}
			return -1, -1, kerr.ProducerFenced
		}
		if t.busy || t.State == PrepareCommit || t.State == PrepareAbort {
			c.mu.Unlock()
			return -1, -1, kerr.ConcurrentTransactions
		}
		if t.State == Ongoing {
			// Abort the previous producer's transaction first, fencing it.
			if attempt > 0 {
				c.mu.Unlock()
				return -1, -1, kerr.ConcurrentTransactions
			}
			err := c.beginEndLocked(t, false, true)
			c.mu.Unlock()
			if err != nil {
				return -1, -1, err
			}
			if err := c.complete(t); err != nil {
				c.log.Warn("abort before re-init failed", "transactional_id", id, "err", err)
				return -1, -1, kerr.ConcurrentTransactions
			}
			continue
		}
		r := t.record
		r.Epoch++
		if r.Epoch >= math.MaxInt16-1 {
			pid, err := c.cfg.Log.NextProducerID()
			if err != nil {
				c.mu.Unlock()
				return -1, -1, kerr.CoordinatorNotAvailable
			}
			r.ProducerID, r.Epoch = pid, 0
		}
		r.TimeoutMs, r.State, r.UpdateMs = timeoutMs, Empty, c.cfg.Now().UnixMilli()
		r.Partitions, r.Groups = nil, nil
		if err := c.persistLocked(r, true); err != nil {
			c.mu.Unlock()
			c.log.Error("persist transaction state", "transactional_id", id, "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		t.record = r
		c.mu.Unlock()
		return r.ProducerID, r.Epoch, nil
	}
}

// checkLocked validates a request's producer id and epoch for t.
func checkLocked(t *txnState, pid int64, epoch int16) *kerr.Error {
	switch {
	case t == nil || t.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch != t.Epoch:
		return kerr.ProducerFenced
	case t.busy || t.State == PrepareCommit || t.State == PrepareAbort:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// startLocked moves t to Ongoing (returns the record to persist).
func (c *Coordinator) startLocked(t *txnState) record {
	r := t.record
	now := c.cfg.Now().UnixMilli()
	if r.State != Ongoing {
		r.State, r.StartMs, r.Partitions, r.Groups = Ongoing, now, nil, nil
	}
	r.UpdateMs = now
	return r
}

// TopicPartitions is a transaction's partitions by topic.
type TopicPartitions map[string][]int32

// AddPartitions adds partitions to id's transaction (starting it). Unknown
// partitions get UNKNOWN_TOPIC_OR_PARTITION and the others
// OPERATION_NOT_ATTEMPTED; a wrong producer id or epoch fails them all.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts TopicPartitions) (all *kerr.Error, each map[string]map[int32]*kerr.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if err := checkLocked(t, pid, epoch); err != nil {
		return err, nil
	}
	for topic, ps := range parts {
		for _, p := range ps {
			if !c.cfg.Log.PartitionExists(topic, p) {
				if each == nil {
					each = make(map[string]map[int32]*kerr.Error)
				}
				if each[topic] == nil {
					each[topic] = make(map[int32]*kerr.Error)
				}
				each[topic][p] = kerr.UnknownTopicOrPartition
			}
		}
	}
	if each != nil {
		return kerr.OperationNotAttempted, each
	}
	r := c.startLocked(t)
	changed := r.State != t.State
	ps := make(map[string][]int32, len(r.Partitions)+len(parts))
	for topic, have := range r.Partitions {
		ps[topic] = have
	}
	for topic, add := range parts {
		for _, p := range add {
			if !containsPartition(ps[topic], p) {
				ps[topic] = append(append([]int32(nil), ps[topic]...), p)
				changed = true
			}
		}
	}
	r.Partitions = ps
	if !changed {
		t.UpdateMs = r.UpdateMs
		return nil, nil
	}
	if err := c.persistLocked(r, true); err != nil {
		c.log.Error("persist transaction state", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable, nil
	}
	t.record = r
	return nil, nil
}

func containsPartition(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// InTxn reports whether producer pid at epoch may write transactional
// records to the partition now: id's transaction is Ongoing with that
// partition added. It returns INVALID_PRODUCER_EPOCH for an old epoch and
// INVALID_TXN_STATE otherwise. The read lock it returns must be released
// once the records are appended (call it with release), so that no marker
// can be written between the check and the append.
func (c *Coordinator) InTxn(id string, pid int64, epoch int16, topic string, partition int32) (release func(), err *kerr.Error) {
	c.mu.RLock()
	t := c.txns[id]
	switch {
	case t == nil || t.ProducerID != pid:
		err = kerr.InvalidProducerIDMapping
	case epoch < t.Epoch:
		err = kerr.InvalidProducerEpoch
	case epoch > t.Epoch, t.busy, t.State != Ongoing, !containsPartition(t.Partitions[topic], partition):
		err = kerr.InvalidTxnState
	}
	if err != nil {
		c.mu.RUnlock()
		return func() {}, err
	}
	return c.mu.RUnlock, nil
}

// AddOffsets adds a consumer group to id's transaction.
func (c *Coordinator) AddOffsets(id string, pid int64, epoch int16, group string) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if err := checkLocked(t, pid, epoch); err != nil {
		return err
	}
	r := c.startLocked(t)
	if _, ok := r.Groups[group]; ok && r.State == t.State {
		t.UpdateMs = r.UpdateMs
		return nil
	}
	gs := make(map[string][]Offset, len(r.Groups)+1)
	for g, o := range r.Groups {
		gs[g] = o
	}
	if _, ok := gs[group]; !ok {
		gs[group] = []Offset{}
	}
	r.Groups = gs
	if err := c.persistLocked(r, true); err != nil {
		c.log.Error("persist transaction state", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	t.record = r
	return nil
}

// CommitOffsets records offsets as pending in id's transaction: they are
// committed to the group only if the transaction commits. The group must
// have been added with AddOffsets.
func (c *Coordinator) CommitOffsets(id string, pid int64, epoch int16, group string, offsets []Offset) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.txns[id]
	if err := checkLocked(t, pid, epoch); err != nil {
		return err
	}
	if t.State != Ongoing {
		return kerr.InvalidTxnState
	}
	pending, ok := t.Groups[group]
	if !ok {
		return kerr.InvalidTxnState
	}
	merged := append([]Offset(nil), pending...)
	for _, o := range offsets {
		replaced := false
		for i := range merged {
			if merged[i].Topic == o.Topic && merged[i].Partition == o.Partition {
				merged[i], replaced = o, true
			}
		}
		if !replaced {
			merged = append(merged, o)
		}
	}
	r := t.record
	gs := make(map[string][]Offset, len(r.Groups))
	for g, o := range r.Groups {
		gs[g] = o
	}
	gs[group] = merged
	r.Groups, r.UpdateMs = gs, c.cfg.Now().UnixMilli()
	if err := c.persistLocked(r, true); err != nil {
		c.log.Error("persist transaction state", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	t.record = r
	return nil
}

// HasPendingOffsets reports whether an open transaction holds uncommitted
// offsets of group for the partition (OffsetFetch's require_stable).
func (c *Coordinator) HasPendingOffsets(group, topic string, partition int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, t := range c.txns {
		if t.State == Empty || t.State == CompleteCommit || t.State == CompleteAbort {
			continue
		}
		for _, o := range t.Groups[group] {
			if o.Topic == topic && o.Partition == partition {
				return true
			}
		}
	}
	return false
}

// EndTxn commits or aborts id's transaction: markers in every partition,
// pending offsets committed or dropped. A retry of an EndTxn that already
// completed the same way succeeds; the opposite outcome or a transaction
// that never started is INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool) *kerr.Error {
	c.mu.Lock()
	t := c.txns[id]
	if t != nil && t.ProducerID == pid && t.Epoch == epoch && !t.busy {
		switch {
		case t.State == CompleteCommit && commit, t.State == CompleteAbort && !commit:
			c.mu.Unlock()
			return nil
		case t.State == PrepareCommit && commit, t.State == PrepareAbort && !commit:
			t.busy = true // an earlier attempt failed half way: finish it
			c.mu.Unlock()
			if err := c.complete(t); err != nil {
				return kerr.CoordinatorNotAvailable
			}
			return nil
		}
	}
	if err := checkLocked(t, pid, epoch); err != nil {
		c.mu.Unlock()
		return err
	}
	if t.State != Ongoing {
		c.mu.Unlock()
		return kerr.InvalidTxnState
	}
	if err := c.beginEndLocked(t, commit, false); err != nil {
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	if err := c.complete(t); err != nil {
		c.log.Warn("transaction not completed yet; retried in the background", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// beginEndLocked makes t's Prepare state durable (bumping the epoch when
// fence is set, for timeouts and re-inits) and marks t busy; complete
// finishes it.
func (c *Coordinator) beginEndLocked(t *txnState, commit, fence bool) *kerr.Error {
	r := t.record
	r.State = PrepareAbort
	if commit {
		r.State = PrepareCommit
	}
	if fence && r.Epoch < math.MaxInt16-1 {
		r.Epoch++
	}
	r.UpdateMs = c.cfg.Now().UnixMilli()
	if err := c.persistLocked(r, true); err != nil {
		c.log.Error("persist transaction state", "transactional_id", t.ID, "err", err)
		return kerr.CoordinatorNotAvailable
	}
	t.record, t.busy = r, true
	return nil
}

// complete writes t's markers and offsets for its Prepare state and records
// the Complete state. t is busy (no other change runs meanwhile).
func (c *Coordinator) complete(t *txnState) error {
	c.mu.RLock()
	r := t.record
	c.mu.RUnlock()
	commit := r.State == PrepareCommit
	var err error
	topics := make([]string, 0, len(r.Partitions))
	for topic := range r.Partitions {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	for _, topic := range topics {
		for _, p := range r.Partitions[topic] {
			if !c.cfg.Log.PartitionExists(topic, p) {
				continue // deleted meanwhile: nowhere to write
			}
			if e := c.cfg.Log.WriteMarker(topic, p, r.ProducerID, r.Epoch, commit); e != nil {
				err = errors.Join(err, fmt.Errorf("marker %s-%d: %w", topic, p, e))
			}
		}
	}
	if err == nil && commit {
		groups := make([]string, 0, len(r.Groups))
		for g := range r.Groups {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		for _, g := range groups {
			if len(r.Groups[g]) == 0 {
				continue
			}
			if e := c.cfg.Groups.CommitTxnOffsets(g, r.Groups[g]); e != nil {
				err = errors.Join(err, fmt.Errorf("offsets of group %s: %w", g, e))
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		t.busy = false // stays Prepare: retried by EndTxn or the loop
		return err
	}
	done := r
	done.State = CompleteAbort
	if commit {
		done.State = CompleteCommit
	}
	done.Partitions, done.Groups, done.UpdateMs = nil, nil, c.cfg.Now().UnixMilli()
	// Not fsynced: if lost, the Prepare state is completed again on start.
	if e := c.persistLocked(done, false); e != nil {
		t.busy = false
		return e
	}
	t.record, t.busy = done, false
	return nil
}

func (c *Coordinator) loop() {
	defer close(c.done)
	tk := time.NewTicker(c.cfg.CheckInterval)
	defer tk.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tk.C:
			c.Check()
		}
	}
}

// Check aborts transactions past their timeout (fencing their producer),
// retries unfinished Prepare states and forgets ids unused for
// IDExpiration, all as of Config.Now. The background loop calls it every
// CheckInterval; tests call it after moving their clock.
func (c *Coordinator) Check() {
	now := c.cfg.Now().UnixMilli()
	var finish []*txnState
	c.mu.Lock()
	for _, t := range c.txns {
		if t.busy {
			continue
		}
		switch t.State {
		case Ongoing:
			if now-t.StartMs > int64(t.TimeoutMs) {
				c.log.Info("aborting a transaction past its timeout", "transactional_id", t.ID, "producer_id", t.ProducerID, "timeout_ms", t.TimeoutMs)
				if c.beginEndLocked(t, false, true) == nil {
					finish = append(finish, t)
				}
			}
		case PrepareCommit, PrepareAbort:
			t.busy = true
			finish = append(finish, t)
		case Empty, CompleteCommit, CompleteAbort:
			if now-t.UpdateMs > c.cfg.IDExpiration.Milliseconds() {
				if err := c.persistLocked(record{ID: t.ID, Deleted: true}, true); err == nil {
					delete(c.txns, t.ID)
					c.log.Info("transactional id expired", "transactional_id", t.ID)
				}
			}
		}
	}
	c.mu.Unlock()
	for _, t := range finish {
		if err := c.complete(t); err != nil {
			c.log.Warn("cannot complete transaction; retrying", "transactional_id", t.ID, "err", err)
		}
	}
}

// Txn is a snapshot of one transaction for DescribeTransactions and
// ListTransactions.
type Txn struct {
	ID         string
	ProducerID int64
	Epoch      int16
	TimeoutMs  int32
	State      State
	StartMs    int64 // -1 unless a transaction is open
	Partitions TopicPartitions
}

// Describe returns id's transaction, false if the id is unknown.
func (c *Coordinator) Describe(id string) (Txn, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t := c.txns[id]
	if t == nil {
		return Txn{}, false
	}
	return t.snapshot(), true
}

func (t *txnState) snapshot() Txn {
	out := Txn{ID: t.ID, ProducerID: t.ProducerID, Epoch: t.Epoch, TimeoutMs: t.TimeoutMs, State: t.State, StartMs: -1, Partitions: TopicPartitions{}}
	if t.State == Ongoing || t.State == PrepareCommit || t.State == PrepareAbort {
		out.StartMs = t.StartMs
	}
	for topic, ps := range t.Partitions {
		out.Partitions[topic] = append([]int32(nil), ps...)
	}
	return out
}

// List returns every transaction, by id.
func (c *Coordinator) List() []Txn {
	ts := c.sorted()
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Txn, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.snapshot())
	}
	return out
}
