package events

import (
	"context"
	"sync"
)

// Position is where the broker stored an event.
type Position struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// Accepted remembers, in this process, the events an intake API (the POS, the complaints
// intake) produced under their business ids: the last Max acknowledged ones, so a retry is
// answered with the first position, and the ones still in flight, so a retry joins the flight
// instead of producing a copy. What every instance must share (pos.accepted, say) is the
// service's own table in front of which this sits.
type Accepted struct {
	max     int
	mu      sync.Mutex
	order   []string
	byID    map[string]Position
	flights map[string]*Flight
}

// NewAccepted returns an empty Accepted that remembers up to max positions (oldest forgotten
// first).
func NewAccepted(max int) *Accepted {
	return &Accepted{max: max, byID: map[string]Position{}, flights: map[string]*Flight{}}
}

// Get returns the position remembered for id.
func (a *Accepted) Get(id string) (Position, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.byID[id]
	return p, ok
}

// Put remembers the position of id; an id already known keeps its first position.
func (a *Accepted) Put(id string, p Position) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.putLocked(id, p)
}

func (a *Accepted) putLocked(id string, p Position) {
	if _, ok := a.byID[id]; ok {
		return
	}
	if len(a.order) >= a.max && len(a.order) > 0 {
		delete(a.byID, a.order[0])
		a.order = a.order[1:]
	}
	a.order = append(a.order, id)
	a.byID[id] = p
}

// Start returns the flight of id: the one already under way in this process (joined true),
// or a new one begun with start. An acknowledged flight's position is remembered (Put) as it
// is forgotten; a failed one is just forgotten, so the next attempt produces again.
func (a *Accepted) Start(id string, start func() (*Flight, error)) (f *Flight, joined bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f, ok := a.flights[id]; ok {
		return f, true, nil
	}
	if f, err = start(); err != nil {
		return nil, false, err
	}
	a.flights[id] = f
	go func() {
		<-f.Done()
		a.mu.Lock()
		defer a.mu.Unlock()
		// Remember an acknowledged flight before forgetting it, so a retry arriving in between
		// is answered and not produced again.
		if f.Err() == nil {
			a.putLocked(id, Position{Partition: f.Partition, Offset: f.Offset})
		}
		delete(a.flights, id)
	}()
	return f, false, nil
}

// Produce produces o through p once per id: a retry of an id still in flight in this process
// joins that flight. It waits up to p's delivery timeout or the end of ctx. record, when not
// nil, stores the position of the acknowledged event where every instance sees it and returns
// the position to answer (the first one recorded for id); it runs on the caller's path, or in
// the background when the caller stopped waiting and the acknowledgement came late. The
// answer is remembered (Put). Errors are Producer.Produce's.
func (a *Accepted) Produce(ctx context.Context, p *Producer, id string, o Out, record func(context.Context, Position) Position) (Position, error) {
	if record == nil {
		record = func(_ context.Context, pos Position) Position { return pos }
	}
	f, joined, err := a.Start(id, func() (*Flight, error) { return p.Start(o) })
	if err != nil {
		return Position{}, err
	}
	done := func(ctx context.Context) Position {
		pos := record(ctx, Position{Partition: f.Partition, Offset: f.Offset})
		a.Put(id, pos)
		return pos
	}
	if err := f.Wait(ctx, p.DeliveryTimeout()); err != nil {
		if !joined {
			go func() {
				<-f.Done()
				if f.Err() == nil {
					done(context.Background())
				}
			}()
		}
		return Position{}, err
	}
	return done(ctx), nil
}
