package txn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
)

const (
	stateLogName = "state.log"
	frameHeader  = 8
	maxFrame     = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is the durable state of one transactional id (see doc.go).
type record struct {
	ID         string              `json:"id"`
	Deleted    bool                `json:"deleted,omitempty"`
	ProducerID int64               `json:"producer_id,omitempty"`
	Epoch      int16               `json:"epoch,omitempty"`
	TimeoutMs  int32               `json:"timeout_ms,omitempty"`
	State      State               `json:"state,omitempty"`
	Partitions map[string][]int32  `json:"partitions,omitempty"`
	Groups     map[string][]Offset `json:"groups,omitempty"` // pending offsets per group
	StartMs    int64               `json:"start_ms,omitempty"`
	UpdateMs   int64               `json:"update_ms,omitempty"`
}

// stateLog is the append-only state file.
type stateLog struct {
	dir    string
	noSync bool
	f      *os.File
	size   int64
	buf    []byte
}

func appendFrame(dst []byte, r record) ([]byte, error) {
	p, err := json.Marshal(r)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(p, castagnoli))
	return append(dst, p...), nil
}

// decodeFrames reads frames from b and returns the newest record per id and
// the length of the valid prefix.
func decodeFrames(b []byte) (map[string]record, int) {
	out := make(map[string]record)
	off := 0
	for len(b)-off >= frameHeader {
		n := binary.BigEndian.Uint32(b[off:])
		if n > maxFrame || uint64(len(b)-off-frameHeader) < uint64(n) {
			break
		}
		p := b[off+frameHeader : off+frameHeader+int(n)]
		if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(b[off+4:]) {
			break
		}
		var r record
		if err := json.Unmarshal(p, &r); err != nil || r.ID == "" {
			break
		}
		if r.Deleted {
			delete(out, r.ID)
		} else {
			out[r.ID] = r
		}
		off += frameHeader + int(n)
	}
	return out, off
}

// openStateLog replays dir/state.log (dropping a torn tail), rewrites it
// compacted and opens it for appending.
func openStateLog(dir string, noSync bool, log *slog.Logger) (*stateLog, []record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("transaction state: %w", err)
	}
	if !noSync {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, nil, err
		}
	}
	path := filepath.Join(dir, stateLogName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("transaction state: read: %w", err)
	}
	m, valid := decodeFrames(data)
	if valid < len(data) {
		log.Warn("transaction state log has a torn or corrupt tail; dropping it", "valid_bytes", valid, "file_bytes", len(data))
	}
	recs := make([]record, 0, len(m))
	for _, r := range m {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	s := &stateLog{dir: dir, noSync: noSync}
	if err := s.compact(recs); err != nil {
		return nil, nil, err
	}
	return s, recs, nil
}

// compact replaces the log with one frame per record, crash-safely.
func (s *stateLog) compact(recs []record) error {
	var b []byte
	for _, r := range recs {
		var err error
		if b, err = appendFrame(b, r); err != nil {
			return err
		}
	}
	path := filepath.Join(s.dir, stateLogName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("transaction state: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && !s.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && !s.noSync {
		err = syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("transaction state: compact: %w", err)
	}
	nf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("transaction state: %w", err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.size = nf, int64(len(b))
	return nil
}

// append writes one record and, if sync (and the log syncs), fsyncs it. A
// failed write is truncated away.
func (s *stateLog) append(r record, sync bool) error {
	if s.f == nil {
		return ErrClosed
	}
	var err error
	if s.buf, err = appendFrame(s.buf[:0], r); err != nil {
		return err
	}
	if _, err := s.f.Write(s.buf); err != nil {
		_ = s.f.Truncate(s.size)
		return fmt.Errorf("transaction state: write: %w", err)
	}
	s.size += int64(len(s.buf))
	if sync && !s.noSync {
		if err := datasync(s.f); err != nil {
			return fmt.Errorf("transaction state: fsync: %w", err)
		}
	}
	return nil
}

func (s *stateLog) close() error {
	if s.f == nil {
		return ErrClosed
	}
	var err error
	if !s.noSync {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}
