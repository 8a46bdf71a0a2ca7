package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TopicInfo is one row of the system page's topics table.
type TopicInfo struct {
	Name       string
	Partitions int
	EndOffset  int64   // sum of the partitions' end offsets: records ever written
	PerSecond  float64 // records written per second over the last sample interval
}

// PartitionLag is one partition's lag in a consumer group.
type PartitionLag struct {
	Topic     string
	Partition int32
	Committed int64
	End       int64
	Lag       int64
	Member    string // client id of the member that owns the partition, if any
}

// GroupInfo is one consumer group.
type GroupInfo struct {
	Name       string
	State      string
	Members    int
	TotalLag   int64
	Partitions []PartitionLag
	Err        string
}

// Health is one process's health as its /healthz answered.
type Health struct {
	Name   string
	URL    string
	OK     bool
	Status string // "up" or what went wrong
}

// SystemView is everything the system page shows.
type SystemView struct {
	At     time.Time
	Topics []TopicInfo
	Groups []GroupInfo
	Health []Health
	Err    string // the broker could not be asked
	// ETLRuns are the analytics ETL's newest runs, newest first; ETLErr says when the
	// analytics service could not be asked.
	ETLRuns []ETLRunRow
	ETLErr  string
}

// system answers the system page from the broker's admin API and the services' health checks.
type system struct {
	adm     *kadm.Client
	client  *http.Client
	targets []Health // Name and URL of each health check
	// runs returns the ETL's newest runs, or why they cannot be shown.
	runs func(context.Context) ([]ETLRunRow, string)

	mu     sync.Mutex
	prev   map[string]int64
	prevAt time.Time
	rates  map[string]float64
}

// sample records the topics' end offsets, so that messages per second can be computed. It runs
// every interval until ctx is done.
func (s *system) sample(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *system) sampleOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := s.adm.ListEndOffsets(ctx)
	if err != nil {
		return
	}
	now := time.Now()
	sums := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			sums[o.Topic] += o.Offset
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prev != nil {
		secs := now.Sub(s.prevAt).Seconds()
		rates := map[string]float64{}
		for t, v := range sums {
			if p, ok := s.prev[t]; ok && secs > 0 && v >= p {
				rates[t] = float64(v-p) / secs
			}
		}
		s.rates = rates
	}
	s.prev, s.prevAt = sums, now
}

// view asks the broker and the services now.
func (s *system) view(ctx context.Context) (v SystemView) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v = SystemView{At: time.Now()}
	var wg sync.WaitGroup
	v.Health = make([]Health, len(s.targets))
	for i, h := range s.targets {
		wg.Go(func() { v.Health[i] = s.probe(ctx, h) })
	}
	if s.runs != nil {
		// v is the result: the deferred Wait lets this finish before view returns.
		wg.Go(func() { v.ETLRuns, v.ETLErr = s.runs(ctx) })
	}
	defer wg.Wait()

	topics, err := s.adm.ListTopics(ctx)
	if err != nil {
		v.Err = fmt.Sprintf("broker: list topics: %v", err)
		return v
	}
	ends, err := s.adm.ListEndOffsets(ctx, topics.Names()...)
	if err != nil {
		v.Err = fmt.Sprintf("broker: list end offsets: %v", err)
	}
	s.mu.Lock()
	rates := s.rates
	s.mu.Unlock()
	for _, t := range topics.Sorted() {
		ti := TopicInfo{Name: t.Topic, Partitions: len(t.Partitions), PerSecond: rates[t.Topic]}
		for _, p := range t.Partitions {
			if o, ok := ends.Lookup(t.Topic, p.Partition); ok && o.Err == nil {
				ti.EndOffset += o.Offset
			}
		}
		v.Topics = append(v.Topics, ti)
	}
	groups, err := s.adm.ListGroups(ctx)
	if err != nil {
		v.Err = fmt.Sprintf("broker: list groups: %v", err)
		return v
	}
	lags, err := s.adm.Lag(ctx, groups.Groups()...)
	if err != nil && len(lags) == 0 {
		v.Err = fmt.Sprintf("broker: group lag: %v", err)
		return v
	}
	for _, l := range lags.Sorted() {
		g := GroupInfo{Name: l.Group, State: l.State, Members: len(l.Members)}
		if l.DescribeErr != nil {
			g.Err = l.DescribeErr.Error()
		} else if l.FetchErr != nil {
			g.Err = l.FetchErr.Error()
		}
		for _, m := range l.Lag.Sorted() {
			pl := PartitionLag{Topic: m.Topic, Partition: m.Partition, Committed: m.Commit.At, End: m.End.Offset, Lag: m.Lag}
			if m.Member != nil {
				pl.Member = m.Member.ClientID
			}
			if m.Lag > 0 {
				g.TotalLag += m.Lag
			}
			g.Partitions = append(g.Partitions, pl)
		}
		v.Groups = append(v.Groups, g)
	}
	slices.SortFunc(v.Groups, func(a, b GroupInfo) int { return strings.Compare(a.Name, b.Name) })
	return v
}

func (s *system) probe(ctx context.Context, h Health) Health {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(h.URL, "/")+"/healthz", nil)
	if err != nil {
		h.Status = err.Error()
		return h
	}
	resp, err := s.client.Do(req)
	if err != nil {
		h.Status = "unreachable"
		return h
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		h.Status = resp.Status
		return h
	}
	h.OK, h.Status = true, "up"
	return h
}
